"""`input:`, `output_queue:` and `notifications:` in a job spec: one-line errors naming the field."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from broker.cli import app
from broker.spec import SpecError, load_job_spec
from broker.validate import validate_job

from .helpers import BASE_SPEC, EXAMPLES, STREAMING_SPECS

STREAM_SPEC = BASE_SPEC.replace("input_manifest: input.manifest\n", "input: sqs://incoming\n")


def issues_of(path) -> list[tuple[int | None, str, str]]:
    with pytest.raises(SpecError) as caught:
        load_job_spec(path)
    return [(issue.line, issue.field, issue.message) for issue in caught.value.issues]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (BASE_SPEC + "input: sqs://incoming\n", 5, "input_manifest", "one of them"),
        (BASE_SPEC.replace("input_manifest: input.manifest\n", ""), 1, "input_manifest", "one of them"),
        (BASE_SPEC + "output_queue: sqs://out\n", 11, "output_queue", "only a streaming job"),
        (STREAM_SPEC + "output_queue: s3://bucket/out\n", 11, "output_queue", "is not a queue"),
        (
            STREAM_SPEC + "notifications: {queue: sqs://events, events: [HITReviewed]}\n",
            11,
            "notifications.events",
            "unknown event type 'HITReviewed'",
        ),
        (STREAM_SPEC + "notifications: {queue: my-queue}\n", 11, "notifications.queue", "is not a queue"),
        (STREAM_SPEC + "notifications: {queue: sqs://e, events: []}\n", 11, "notifications.events", "at least 1"),
        (
            STREAM_SPEC + "notifications: {queue: sqs://e, fallback: 60}\n",
            11,
            "notifications.fallback",
            "unknown field",
        ),
        (STREAM_SPEC + "auto_label: {enabled: true}\n", 11, "auto_label", "never complete"),
    ],
)
def test_bad_streaming_and_notification_fields(write_file, text, line, field, words):
    ((got_line, got_field, message),) = issues_of(write_file("job.yaml", text))
    assert (got_line, got_field) == (line, field) and words in message, message


def test_a_streaming_spec_loads_and_validates_without_a_manifest(write_file):
    path = write_file(
        "job.yaml",
        STREAM_SPEC + "output_queue: http://127.0.0.1:9324/000000000000/out\n"
        "notifications: {queue: sqs://events, events: [HITReviewable, AssignmentSubmitted], fallback_seconds: 5m}\n",
    )
    spec = load_job_spec(path)
    assert spec.streaming and spec.input == "sqs://incoming" and spec.input_manifest == ""
    assert spec.notifications.events == ["HITReviewable", "AssignmentSubmitted"]
    assert spec.notifications.fallback_seconds == 300
    report = validate_job(path)
    assert report.ok and report.warnings == [
        "a streaming job: objects are taken from sqs://incoming as they come, checked one by one"
    ]
    assert not load_job_spec(write_file("batch.yaml", BASE_SPEC)).streaming


def test_a_watched_manifest_is_resolved_against_the_spec(write_file, tmp_path):
    spec = load_job_spec(
        write_file("job.yaml", BASE_SPEC.replace("input_manifest: input.manifest", "input: in.manifest"))
    )
    assert spec.input == str((tmp_path / "in.manifest").resolve())


@pytest.mark.parametrize("name", STREAMING_SPECS)
def test_streaming_examples_validate(name):
    report = validate_job(EXAMPLES / name)
    assert report.ok, [str(issue) for issue in report.issues]
    assert report.spec.streaming and report.spec.notifications is not None and report.spec.output_queue


def test_broker_validate_prints_a_streaming_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["validate", str(EXAMPLES / "streaming.yaml")])
    assert result.exit_code == 0, result.output
    assert "OK: review-stream: a streaming job from sqs://review-stream-in, 3 workers each" in result.output


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("estimate", "input: a streaming job has no manifest to count: give --objects N"),
        ("preview", "input: a streaming job has no manifest to preview a line of"),
    ],
)
def test_manifest_commands_refuse_a_streaming_job_in_one_line(tmp_path, monkeypatch, command, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [command, str(EXAMPLES / "streaming.yaml")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: {EXAMPLES / 'streaming.yaml'}: {message}"]
