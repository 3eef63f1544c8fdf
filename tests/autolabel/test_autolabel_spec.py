"""The `auto_label:` section of the job spec: defaults, and errors with file, line and field."""

from __future__ import annotations

import pytest

from broker.spec import SpecError, parse_job_spec


def issues_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_job_spec(text, "job.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_absent_section_means_no_automated_labeling(spec_text):
    assert parse_job_spec(spec_text, "job.yaml").auto_label is None


def test_defaults_follow_ground_truth(spec_text):
    config = parse_job_spec(spec_text + "auto_label: {}\n", "job.yaml").auto_label
    assert config is not None and config.enabled
    assert config.target_accuracy == 0.95 and config.model == "logistic-regression" and config.features == "pixels"
    assert config.validation_fraction is None and config.validation_size(10_000) == 1000


def test_every_setting_is_read(spec_text):
    text = (
        spec_text
        + """auto_label:
  target_accuracy: 0.97
  confidence_level: 0.99
  validation_fraction: 0.15
  initial_batch_size: 500
  human_batch_size: 200
  model: random-forest
  features: embedding
  embedding_field: clip-vector
  max_human_labeled_objects: 3000
  max_percentage_labeled: 90
  validation_workers_per_object: 5
"""
    )
    config = parse_job_spec(text, "job.yaml").auto_label
    assert (config.target_accuracy, config.confidence_level, config.validation_fraction) == (0.97, 0.99, 0.15)
    assert (config.initial_batch_size, config.human_batch_size, config.model) == (500, 200, "random-forest")
    assert (config.features, config.embedding_field) == ("embedding", "clip-vector")
    assert (config.max_human_labeled_objects, config.max_percentage_labeled) == (3000, 90)
    assert config.validation_workers_per_object == 5


def test_bad_values_name_line_and_field(spec_text):
    text = spec_text + "auto_label:\n  target_accuracy: 1.2\n  model: resnet\n  human_batch_size: 0\n"
    found = issues_of(text)
    assert any(i.startswith("job.yaml:10: auto_label.target_accuracy:") for i in found)
    assert any(i.startswith("job.yaml:11: auto_label.model:") for i in found)
    assert any(i.startswith("job.yaml:12: auto_label.human_batch_size:") for i in found)


def test_unknown_setting_is_refused(spec_text):
    assert issues_of(spec_text + "auto_label:\n  targt_accuracy: 0.9\n") == [
        "job.yaml:10: auto_label.targt_accuracy: unknown field (check the spelling; see config/examples/)"
    ]


def test_features_must_suit_the_task_type(spec_text):
    found = issues_of(spec_text + "auto_label:\n  features: tfidf\n")
    assert found == [
        "job.yaml:10: auto_label.features: image-classification takes features pixels or embedding, not tfidf"
    ]
    text = spec_text.replace("image-classification", "text-classification") + "auto_label:\n  features: tfidf\n"
    assert parse_job_spec(text, "job.yaml").auto_label.features == "tfidf"


def test_only_single_label_classification_is_supported(spec_text):
    text = spec_text.replace("image-classification", "image-classification-multilabel") + "auto_label: {}\n"
    assert issues_of(text) == [
        "job.yaml:9: auto_label: automated labeling supports image-classification and text-classification, "
        "not image-classification-multilabel"
    ]
    disabled = text.replace("auto_label: {}", "auto_label: {enabled: false}")
    assert parse_job_spec(disabled, "job.yaml").auto_label.enabled is False


def test_embedding_needs_its_field(spec_text):
    found = issues_of(spec_text + "auto_label:\n  features: embedding\n")
    assert len(found) == 1 and "embedding_field" in found[0] and found[0].startswith("job.yaml:9: auto_label")
