"""`broker validate` / `broker preview`: every problem with file, line and field; a page to open."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.cli import app
from broker.validate import preview_job, validate_job

from .helpers import BASE_SPEC, EXAMPLES, NOT_JOB_SPECS, STREAMING_SPECS

EXAMPLE_SPECS = sorted(
    path.name for path in EXAMPLES.glob("*.yaml") if path.name not in NOT_JOB_SPECS + STREAMING_SPECS
)


@pytest.fixture()
def image_job(write_file, write_manifest, image_files):
    """A valid image job over three local images."""
    write_manifest([{"source-ref": f"images/{path.name}", "id": index} for index, path in enumerate(image_files)])
    return write_file("job.yaml", BASE_SPEC)


def issue_tuples(report) -> list[tuple[str, int | None, str]]:
    return [(Path(issue.file).name, issue.line, issue.field) for issue in report.issues]


@pytest.mark.parametrize("name", EXAMPLE_SPECS)
def test_examples_validate(name):
    report = validate_job(EXAMPLES / name)
    assert report.ok, [str(issue) for issue in report.issues]
    assert report.question_sizes and all(0 < size <= 65_535 for size in report.question_sizes.values())
    assert report.max_cost_cents and report.max_cost_cents > 0


def test_valid_job_figures(image_job):
    report = validate_job(image_job)
    assert report.ok and len(report.lines) == 3
    assert report.max_cost_cents == 3 * 3 * 6  # 3 objects x 3 workers x (5c + 1c fee)
    assert set(report.question_sizes) == {1, 2, 3}
    assert report.warnings == []


def test_chained_lines_are_carried_not_priced(write_file, write_manifest, image_files):
    """A line an earlier job labeled under this attribute is carried: no HIT, no cost; a failed one is redone."""
    done = {"animal": 0, "animal-metadata": {"class-name": "cat", "job-name": "labeling-job/earlier"}}
    failed = {"animal-metadata": {"failure-reason": "ClientError: no answers", "job-name": "labeling-job/earlier"}}
    write_manifest(
        [
            {"source-ref": f"images/{image_files[0].name}", **done},
            {"source-ref": f"images/{image_files[1].name}", "animal": 2, **failed},
            {"source-ref": f"images/{image_files[2].name}"},
        ]
    )
    report = validate_job(write_file("job.yaml", BASE_SPEC))
    assert report.ok, [str(issue) for issue in report.issues]
    assert report.max_cost_cents == 2 * 3 * 6  # 2 of 3 objects posted x 3 workers x (5c + 1c fee)
    assert [w.split(":")[0] for w in report.warnings] == [
        "1 manifest line(s) were already labeled under 'animal' by an earlier job",
        "1 manifest line(s) hold 'animal' without a finished label (no metadata, or a failure-reason)",
    ]


def test_spec_errors_stop_validation(write_file):
    path = write_file("job.yaml", BASE_SPEC.replace("workers_per_object: 3", "workers_per_object: 0"))
    report = validate_job(path)
    assert issue_tuples(report) == [("job.yaml", 7, "workers_per_object")]


def test_manifest_errors_name_lines(write_file, write_manifest, image_files):
    write_manifest([{"source-ref": "images/red-circle.png"}, "{bad", {"source": "text"}])
    report = validate_job(write_file("job.yaml", BASE_SPEC))
    assert issue_tuples(report) == [("input.manifest", 2, ""), ("input.manifest", 3, "source")]


def test_missing_image_names_its_line(write_file, write_manifest, image_files):
    write_manifest([{"source-ref": "images/red-circle.png"}, {"source-ref": "images/nope.png"}])
    report = validate_job(write_file("job.yaml", BASE_SPEC))
    assert issue_tuples(report) == [("input.manifest", 2, "source-ref")]
    assert "file not found" in report.issues[0].message


def test_local_images_cannot_go_to_real_mturk(image_job, write_file):
    report = validate_job(write_file("sandbox.yaml", BASE_SPEC + "marketplace: sandbox\n"))
    assert [issue.line for issue in report.issues] == [1, 2, 3]
    assert "upload it to S3" in report.issues[0].message


def test_template_error_names_template_file_and_line(write_file, write_manifest):
    write_manifest([{"source": "hello"}])
    write_file("broken.liquid", "<p>ok</p>\n<p>{% bogus %}</p>\n")
    spec = BASE_SPEC.replace("task_type: image-classification", "task_type: custom") + "template: broken.liquid\n"
    report = validate_job(write_file("job.yaml", spec))
    assert [(Path(issue.file).name, issue.field) for issue in report.issues] == [("broken.liquid", "template")]
    assert report.issues[0].line == 2


def test_oversized_question_names_the_object(write_file, write_manifest):
    write_manifest([{"source": "short text"}, {"source": "€" * 15_000}])
    spec = BASE_SPEC.replace("task_type: image-classification", "task_type: text-classification")
    report = validate_job(write_file("job.yaml", spec))
    assert issue_tuples(report) == [("input.manifest", 2, "source")]
    assert "65,535" in report.issues[0].message


def test_budget_below_cost_warns(image_job, write_file):
    report = validate_job(write_file("budget.yaml", BASE_SPEC + 'budget_usd: "0.20"\n'))
    assert report.ok
    assert any("below the full cost 0.54" in warning for warning in report.warnings)


def test_skip_invalid_reports_rejected_lines(write_file, write_manifest, image_files):
    write_manifest([{"source-ref": "images/red-circle.png"}, "{bad"])
    report = validate_job(write_file("job.yaml", BASE_SPEC), skip_invalid=True)
    assert report.ok and [line.line_number for line in report.rejected] == [2]
    assert "1 manifest line(s) rejected" in report.warnings[0]


def test_cli_validate_prints_every_error_and_fails(write_file, write_manifest):
    write_manifest([{"source-ref": "s3://bucket/a.jpg"}])
    path = write_file("job.yaml", BASE_SPEC.replace("labels: [cat, dog, bird]", "labels: [cat]") + "bogus: 1\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"error: {path}:4: labels: image-classification needs at least 2 labels, got 1" in result.output
    assert f"error: {path}:11: bogus: unknown field" in result.output


def test_cli_validate_ok_and_rejected_out(write_file, write_manifest, image_files, tmp_path):
    write_manifest([{"source-ref": "images/red-circle.png"}, "{bad"])
    path = write_file("job.yaml", BASE_SPEC)
    rejected = tmp_path / "rejected.manifest"
    result = CliRunner().invoke(app, ["validate", str(path), "--skip-invalid", "--rejected-out", str(rejected)])
    assert result.exit_code == 0, result.output
    assert "OK: test-job: 1 objects" in result.output
    assert rejected.read_text() == "{bad\n"


def test_preview_writes_html_with_the_object(image_job, tmp_path):
    out = preview_job(image_job, tmp_path / "preview.html", line_number=2)
    html = out.read_text()
    assert str(tmp_path / "images" / "blue-square.png") in html
    marketplace = preview_job(image_job, tmp_path / "site.html", images="marketplace")
    assert (
        "http://127.0.0.1:8765/local-files/" + str(tmp_path / "images" / "red-circle.png").lstrip("/")
        in marketplace.read_text()
    )


def test_cli_preview(image_job, tmp_path):
    out = tmp_path / "p.html"
    result = CliRunner().invoke(app, ["preview", str(image_job), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "file://" in result.output
    result = CliRunner().invoke(app, ["preview", str(image_job), "--line", "9"])
    assert result.exit_code == 1 and "input.manifest:9" in result.output


@pytest.mark.browser
def test_preview_opens_in_a_browser_with_its_image(image_job, tmp_path, page):
    out = preview_job(image_job, tmp_path / "preview.html")
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    images = page.evaluate("() => Array.from(document.images).map(image => [image.src, image.naturalWidth])")
    assert [src for src, _ in images] == [(tmp_path / "images" / "red-circle.png").as_uri()]
    assert images[0][1] == 96  # the PNG loaded
    assert "preview" in page.inner_text("body").lower()


def test_short_auto_approval_with_a_review_policy_warns(image_job, write_file):
    text = BASE_SPEC + "auto_approval_delay_seconds: 60\nreview_policy: {approve: agreement}\n"
    report = validate_job(write_file("review.yaml", text))
    assert report.ok and any("may approve work before" in warning for warning in report.warnings)


def test_cli_validate_reports_bad_settings_file(image_job, write_file, monkeypatch):
    monkeypatch.delenv("BROKER_SETTINGS", raising=False)
    settings = write_file("settings.yaml", "db_url: sqlite://\nbogus_setting: 1\n")
    result = CliRunner().invoke(app, ["validate", str(image_job), "--settings", str(settings)])
    assert result.exit_code == 2
    assert f"error: {settings}:2: bogus_setting: unknown setting" in result.output
