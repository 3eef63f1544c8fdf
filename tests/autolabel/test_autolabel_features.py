"""Features from the input manifest: pixels of small images, TF-IDF of texts, an embedding column."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import sparse

from broker.autolabel import AutoLabelConfig
from broker.autolabel.features import FeatureError, manifest_features


def write_image(path, value: int) -> str:
    Image.new("RGB", (20, 10), (value, value, value)).save(path)
    return str(path)


def test_pixels_are_grey_resized_and_scaled(tmp_path):
    lines = [{"source-ref": write_image(tmp_path / f"{v}.png", v)} for v in (0, 255, 51)]
    features = manifest_features(AutoLabelConfig(image_size=4), lines)
    assert features.shape == (3, 16)
    assert np.allclose(features[0], 0.0) and np.allclose(features[1], 1.0) and np.allclose(features[2], 0.2)


def test_a_missing_or_broken_image_names_its_line(tmp_path):
    good = {"source-ref": write_image(tmp_path / "a.png", 10)}
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(FeatureError, match=r"manifest line 7: source-ref: .*nope.png: not found"):
        manifest_features(AutoLabelConfig(), [good, {"source-ref": str(tmp_path / "nope.png")}], line_numbers=[3, 7])
    with pytest.raises(FeatureError, match=r"manifest line 2: source-ref: .*broken.png is not a readable image"):
        manifest_features(AutoLabelConfig(), [good, {"source-ref": str(tmp_path / "broken.png")}])
    with pytest.raises(FeatureError, match="manifest line 1: source-ref: features: pixels needs an image"):
        manifest_features(AutoLabelConfig(), [{"source": "text"}])


def test_tfidf_of_texts_separates_topics():
    texts = ["great phone, love the battery", "terrible battery, hate it", "love it, great screen", "hate the screen"]
    features = manifest_features(AutoLabelConfig(features="tfidf"), [{"source": t} for t in texts])
    assert sparse.issparse(features) and features.shape[0] == 4
    similarity = (features @ features.T).toarray()
    assert similarity[0, 2] > similarity[0, 3]  # "great ... love" lines are closer to each other
    with pytest.raises(FeatureError, match="manifest line 2: source: features: tfidf needs a text"):
        manifest_features(AutoLabelConfig(features="tfidf"), [{"source": "a"}, {"source-ref": "s3://b/k"}])


def test_embedding_column_is_read_and_checked():
    config = AutoLabelConfig(features="embedding", embedding_field="vec")
    features = manifest_features(config, [{"source": "a", "vec": [1, 2.5]}, {"source": "b", "vec": [0, -1]}])
    assert np.array_equal(features, [[1, 2.5], [0, -1]])
    with pytest.raises(FeatureError, match="manifest line 2: vec: has 3 numbers, earlier lines have 2"):
        manifest_features(config, [{"vec": [1, 2]}, {"vec": [1, 2, 3]}])
    with pytest.raises(FeatureError, match="manifest line 1: vec: expected a non-empty list"):
        manifest_features(config, [{"source": "no vector"}])
    with pytest.raises(FeatureError, match="manifest line 1: vec: not a list of numbers"):
        manifest_features(config, [{"vec": ["x", 1]}])
