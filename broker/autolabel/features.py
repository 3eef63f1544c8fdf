"""Features for the auto-labeling model, computed once per job from the input manifest.

- pixels: each `source-ref` image, grey, resized to size x size, scaled to [0, 1] (small images);
- tfidf: word and bigram TF-IDF of each `source` text (fitted on the whole job: no labels used);
- embedding: a list of numbers the requester put in each manifest line under a named attribute.

Errors name the manifest line at fault.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import sparse

from broker.autolabel.config import AutoLabelConfig
from broker.storage import StorageError, read_bytes

Features = np.ndarray | sparse.csr_matrix


class FeatureError(ValueError):
    """A manifest line whose features cannot be computed; names the line."""


def _where(line_numbers: Sequence[int] | None, position: int) -> str:
    number = line_numbers[position] if line_numbers is not None else position + 1
    return f"manifest line {number}"


def image_pixels(data: bytes, size: int) -> np.ndarray:
    """One image's grey pixels, resized to size x size, flattened to floats in [0, 1]."""
    with Image.open(io.BytesIO(data)) as image:
        grey = image.convert("L").resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(grey, dtype=np.float32).reshape(-1) / 255.0


def pixel_features(
    uris: Sequence[str],
    size: int = 16,
    *,
    settings: Any = None,
    line_numbers: Sequence[int] | None = None,
    reader: Callable[[str, Any], bytes] = read_bytes,
) -> np.ndarray:
    """(n, size*size) pixels of the images at `uris` (local paths or s3://)."""
    rows = np.empty((len(uris), size * size), dtype=np.float32)
    for position, uri in enumerate(uris):
        try:
            rows[position] = image_pixels(reader(uri, settings), size)
        except StorageError as error:
            raise FeatureError(f"{_where(line_numbers, position)}: source-ref: {error}") from error
        except (UnidentifiedImageError, OSError) as error:
            raise FeatureError(
                f"{_where(line_numbers, position)}: source-ref: {uri} is not a readable image"
            ) from error
    return rows


def tfidf_features(texts: Sequence[str]) -> sparse.csr_matrix:
    """Word unigram + bigram TF-IDF, sublinear term frequency."""
    # heavy optional dependency: scikit-learn takes about a second to import; only text auto-labeling needs it
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(text.strip() for text in texts):
        raise FeatureError("features: tfidf: every `source` text is empty")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=50_000)
    return vectorizer.fit_transform(list(texts)).tocsr()


def embedding_features(
    lines: Sequence[dict[str, Any]], field: str, *, line_numbers: Sequence[int] | None = None
) -> np.ndarray:
    """(n, d) vectors from `field` of each manifest line; every line needs one of the same length."""
    first_length: int | None = None
    rows: list[np.ndarray] = []
    for position, line in enumerate(lines):
        value = line.get(field)
        where = _where(line_numbers, position)
        if not isinstance(value, list) or not value:
            raise FeatureError(f"{where}: {field}: expected a non-empty list of numbers for features: embedding")
        try:
            row = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise FeatureError(f"{where}: {field}: not a list of numbers") from error
        if row.ndim != 1 or not np.all(np.isfinite(row)):
            raise FeatureError(f"{where}: {field}: not a flat list of finite numbers")
        if first_length is None:
            first_length = row.size
        elif row.size != first_length:
            raise FeatureError(f"{where}: {field}: has {row.size} numbers, earlier lines have {first_length}")
        rows.append(row)
    return np.vstack(rows)


def manifest_features(
    config: AutoLabelConfig,
    lines: Sequence[dict[str, Any]],
    *,
    settings: Any = None,
    line_numbers: Sequence[int] | None = None,
) -> Features:
    """The feature matrix the config asks for, one row per manifest line (in order)."""
    if config.features == "embedding":
        assert config.embedding_field is not None  # guaranteed by AutoLabelConfig
        return embedding_features(lines, config.embedding_field, line_numbers=line_numbers)
    if config.features == "tfidf":
        texts = []
        for position, line in enumerate(lines):
            if not isinstance(line.get("source"), str):
                raise FeatureError(f"{_where(line_numbers, position)}: source: features: tfidf needs a text `source`")
            texts.append(line["source"])
        return tfidf_features(texts)
    uris = []
    for position, line in enumerate(lines):
        if not isinstance(line.get("source-ref"), str):
            raise FeatureError(
                f"{_where(line_numbers, position)}: source-ref: features: pixels needs an image `source-ref`"
            )
        uris.append(line["source-ref"])
    return pixel_features(uris, config.image_size, settings=settings, line_numbers=line_numbers)
