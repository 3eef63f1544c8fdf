"""Output tree: lines match Ground Truth's layout field for field, for each task type."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from broker.output import (
    REASON_EXPIRED,
    FailedObject,
    ObjectResult,
    OutputWriter,
    build_output_manifest,
    consolidation_entry,
    output_line,
    worker_answer,
)
from broker.spec import JobSpec
from broker.storage import list_uris, read_text


def make_spec(tmp_path, **fields) -> JobSpec:
    base = {
        "job_name": "job",
        "task_type": "image-classification",
        "labels": ["a", "b"],
        "input_manifest": str(tmp_path / "in.manifest"),
        "output": str(tmp_path / "out"),
        "reward_cents": 5,
        "title": "t",
        "description": "d",
    }
    return JobSpec.model_validate({**base, **fields})


def parse_reference(text: str) -> dict:
    return json.loads(text)


# The examples of /work/shared/reference/ground-truth-formats.md section 1 and sms-data-output.md.
IMAGE_SINGLE = '{"source-ref":"s3://bkt/img.jpg","species":0,"species-metadata":{"class-name":"dog","confidence":0.93,"type":"groundtruth/image-classification","job-name":"labeling-job/identify-species","human-annotated":"yes","creation-date":"2018-10-18T22:18:13.527256"}}'
IMAGE_MULTI = '{"source-ref":"s3://bkt/img.jpg","tags":[1,0,8],"tags-metadata":{"job-name":"labeling-job/tags","class-map":{"1":"bicycle","0":"person","8":"clothing"},"human-annotated":"yes","creation-date":"2020-02-27T21:36:25.000201","confidence-map":{"1":0.95,"0":0.77,"8":0.2},"type":"groundtruth/image-classification-multilabel"}}'
TEXT_SINGLE = (
    '{"source":"The food was delicious","mood":1,"mood-metadata":{"class-name":"positive","confidence":0.8,'
    '"type":"groundtruth/text-classification","job-name":"labeling-job/label-sentiment","human-annotated":"yes",'
    '"creation-date":"2020-10-18T22:18:13.527256"}}'
)
TEXT_MULTI = (
    '{"source-ref":"AWSDOC-EXAMPLE-BUCKET/text_file.txt","text-label-attribute-name":[1,0,4],'
    '"text-label-attribute-name-metadata":{"job-name":"labeling-job/text-label-attribute-name",'
    '"class-map":{"1":"approving","0":"sad","4":"critical"},"human-annotated":"yes",'
    '"creation-date":"2020-02-20T21:36:25.000201","confidence-map":{"1":0.95,"0":0.77,"4":0.2},'
    '"type":"groundtruth/text-classification-multilabel"}}'
)


def assert_same_layout(produced: dict, reference: dict) -> None:
    """Equal values, and the same keys in the same order at both levels."""
    assert produced == reference
    assert list(produced) == list(reference)
    for key, value in reference.items():
        if isinstance(value, dict):
            assert list(produced[key]) == list(value), key


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_image_classification_matches_ground_truth(tmp_path):
    reference = parse_reference(IMAGE_SINGLE)
    spec = make_spec(tmp_path, job_name="identify-species", label_attribute_name="species", labels=["dog", "cat"])
    line = output_line(
        spec,
        {"source-ref": "s3://bkt/img.jpg"},
        ObjectResult(label=0, confidence=0.9312),
        at("2018-10-18T22:18:13.527256"),
    )
    assert_same_layout(line, reference)


def test_image_multilabel_matches_ground_truth(tmp_path):
    reference = parse_reference(IMAGE_MULTI)
    labels = ["person", "bicycle", "c2", "c3", "c4", "c5", "c6", "c7", "clothing"]
    spec = make_spec(
        tmp_path,
        job_name="tags",
        label_attribute_name="tags",
        labels=labels,
        task_type="image-classification-multilabel",
    )
    result = ObjectResult(labels=[1, 0, 8], confidence_map={1: 0.951, 0: 0.7749, 8: 0.2})
    line = output_line(spec, {"source-ref": "s3://bkt/img.jpg"}, result, at("2020-02-27T21:36:25.000201"))
    assert_same_layout(line, reference)


def test_text_classification_matches_ground_truth(tmp_path):
    reference = parse_reference(TEXT_SINGLE)
    spec = make_spec(
        tmp_path,
        job_name="label-sentiment",
        label_attribute_name="mood",
        labels=["negative", "positive"],
        task_type="text-classification",
    )
    line = output_line(
        spec,
        {"source": "The food was delicious"},
        ObjectResult(label=1, confidence=0.8),
        at("2020-10-18T22:18:13.527256"),
    )
    assert_same_layout(line, reference)


def test_text_multilabel_matches_ground_truth(tmp_path):
    reference = parse_reference(TEXT_MULTI)
    spec = make_spec(
        tmp_path,
        job_name="text-label-attribute-name",
        label_attribute_name="text-label-attribute-name",
        labels=["sad", "approving", "x", "y", "critical"],
        task_type="text-classification-multilabel",
    )
    result = ObjectResult(labels=[1, 0, 4], confidence_map={1: 0.95, 0: 0.77, 4: 0.2})
    line = output_line(
        spec, {"source-ref": "AWSDOC-EXAMPLE-BUCKET/text_file.txt"}, result, at("2020-02-20T21:36:25.000201")
    )
    assert_same_layout(line, reference)


def test_one_worker_means_confidence_zero(tmp_path):
    spec = make_spec(tmp_path, workers_per_object=1)
    line = output_line(spec, {"source-ref": "s3://b/k"}, ObjectResult(label=1, confidence=1.0), datetime.now(UTC))
    assert line["job-metadata"]["confidence"] == 0.0
    multi = make_spec(tmp_path, workers_per_object=1, task_type="text-classification-multilabel")
    line = output_line(multi, {"source": "x"}, ObjectResult(labels=[0], confidence_map={0: 1.0}), datetime.now(UTC))
    assert line["job-metadata"]["confidence-map"] == {"0": 0.0}


def test_other_keys_pass_through_and_existing_label_is_replaced(tmp_path):
    spec = make_spec(tmp_path)
    source = {"source-ref": "s3://b/k", "id": 7, "job": 1, "job-metadata": {"old": True}}
    line = output_line(spec, source, ObjectResult(label=1, confidence=0.5), datetime.now(UTC))
    assert line["id"] == 7 and line["job"] == 1 and "old" not in line["job-metadata"]
    assert source["job"] == 1 and source["job-metadata"] == {"old": True}  # the input is not modified


def test_custom_content_is_stored_verbatim(tmp_path):
    spec = make_spec(tmp_path, task_type="custom", template=str(tmp_path / "t.liquid"), labels=[])
    line = output_line(spec, {"source": "x"}, ObjectResult(content={"summary": ["ok"]}), at("2020-01-01T00:00:00"))
    assert line["job"] == {"summary": ["ok"]}
    assert line["job-metadata"] == {
        "job_name": "labeling-job/job",
        "type": "groundTruth/custom",
        "human-annotated": "yes",
        "creation_date": "2020-01-01T00:00:00.000000",
    }


def test_invalid_results_are_refused(tmp_path):
    spec = make_spec(tmp_path)
    with pytest.raises(ValueError):
        output_line(spec, {"source-ref": "s3://b/k"}, ObjectResult(label=2), datetime.now(UTC))
    multi = make_spec(tmp_path, task_type="image-classification-multilabel")
    with pytest.raises(ValueError):
        output_line(multi, {"source-ref": "s3://b/k"}, ObjectResult(labels=[0, 0]), datetime.now(UTC))
    with pytest.raises(ValueError, match="naive"):
        output_line(spec, {"source-ref": "s3://b/k"}, ObjectResult(label=0), datetime(2020, 1, 1))


def test_manifest_keeps_unlabeled_lines_and_lists_failures(tmp_path):
    spec = make_spec(tmp_path)
    inputs = [{"source-ref": f"s3://b/{index}.jpg"} for index in range(4)]
    now = at("2024-05-01T12:00:00")
    outcomes = {0: ObjectResult(label=1, confidence=0.7), 2: FailedObject(REASON_EXPIRED)}
    output, failed = build_output_manifest(spec, inputs, outcomes, now)
    assert output[1] == inputs[1] and output[3] == inputs[3]
    assert output[0]["job"] == 1
    assert output[2] == {
        "source-ref": "s3://b/2.jpg",
        "job-metadata": {
            "failure-reason": REASON_EXPIRED,
            "type": "groundtruth/image-classification",
            "job-name": "labeling-job/job",
            "creation-date": "2024-05-01T12:00:00.000000",
        },
    }
    assert failed == [output[2]]


def test_writer_lays_out_the_tree(tmp_path):
    spec = make_spec(tmp_path)
    writer = OutputWriter(spec)
    now = at("2024-05-01T12:00:00.123456")
    inputs = [{"source-ref": "s3://b/0.jpg"}, {"source-ref": "s3://b/1.jpg"}]
    writer.write_outputs(inputs, {0: ObjectResult(label=0, confidence=0.9)}, now)
    answers = [
        worker_answer("A1WORKER", now - timedelta(seconds=10.3666), now, {"crowd-image-classifier": {"label": "a"}})
    ]
    writer.write_worker_response(1, "0", answers, now)
    labeled = build_output_manifest(spec, inputs, {0: ObjectResult(label=0, confidence=0.9)}, now)[0][0]
    writer.write_consolidation_response(1, [consolidation_entry(spec, "0", labeled)], now)
    root = tmp_path / "out" / "job"
    assert sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()) == [
        "annotations/consolidated-annotation/consolidation-response/iteration-1/2024-05-01_12:00:00.json",
        "annotations/worker-response/iteration-1/0/2024-05-01_12:00:00.json",
        "manifests/output/failed.manifest",
        "manifests/output/output.manifest",
    ]
    lines = [json.loads(text) for text in (root / "manifests/output/output.manifest").read_text().splitlines()]
    assert lines[0]["job"] == 0 and lines[1] == inputs[1]
    assert (root / "manifests/output/failed.manifest").read_text() == ""
    response = json.loads((root / "annotations/worker-response/iteration-1/0/2024-05-01_12:00:00.json").read_text())
    assert response == {
        "answers": [
            {
                "acceptanceTime": "2024-05-01T11:59:49.756Z",
                "answerContent": {"crowd-image-classifier": {"label": "a"}},
                "submissionTime": "2024-05-01T12:00:00.123Z",
                "timeSpentInSeconds": 10.367,
                "workerId": "A1WORKER",
            }
        ]
    }
    consolidation = json.loads(
        (
            root / "annotations/consolidated-annotation/consolidation-response/iteration-1/2024-05-01_12:00:00.json"
        ).read_text()
    )
    assert consolidation == [
        {
            "datasetObjectId": "0",
            "consolidatedAnnotation": {"content": {"job": 0, "job-metadata": labeled["job-metadata"]}},
        }
    ]


def test_writer_to_s3(s3_settings, bucket, tmp_path):
    spec = make_spec(tmp_path, output=f"s3://{bucket}/results")
    writer = OutputWriter(spec, s3_settings)
    assert writer.output_manifest_uri == f"s3://{bucket}/results/job/manifests/output/output.manifest"
    writer.write_outputs([{"source-ref": "s3://b/0.jpg"}], {0: FailedObject("Budget exhausted")}, datetime.now(UTC))
    assert list_uris(f"s3://{bucket}/results/job/", s3_settings) == [
        f"s3://{bucket}/results/job/manifests/output/failed.manifest",
        f"s3://{bucket}/results/job/manifests/output/output.manifest",
    ]
    line = json.loads(read_text(writer.output_manifest_uri, s3_settings))
    assert line["job-metadata"]["failure-reason"] == "Budget exhausted"
