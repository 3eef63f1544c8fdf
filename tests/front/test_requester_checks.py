"""Checks a requester meets before money moves: job names, what pages may show, manifests, templates,
fees, the estimate's exit code, terminal tables, and the defaults that must fit together."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime
from types import SimpleNamespace

from typer.testing import CliRunner

from broker.cli import app
from broker.domain.rules import decide
from broker.estimate import estimate_cost, estimate_rows
from broker.marketplace.cli import serve
from broker.render import render_object_html
from broker.settings import load_settings
from broker.spec import parse_job_spec
from broker.validate import validate_job

from .helpers import BASE_SPEC

runner = CliRunner()
CUSTOM = BASE_SPEC.replace("task_type: image-classification", "task_type: custom") + "template: page.liquid\n"


def _text_job(write_file, write_manifest, rows, spec=CUSTOM, template="<crowd-form>{{ task.input | to_json }}"):
    write_manifest(rows)
    write_file("page.liquid", template + "</crowd-form>\n")
    return write_file("job.yaml", spec)


def test_the_broker_calls_the_marketplace_where_serve_listens():
    port = inspect.signature(serve).parameters["port"].default.default
    assert load_settings().local_endpoint_url == f"http://127.0.0.1:{port}"


def test_a_job_name_ending_in_ref_is_refused_unless_the_attribute_is_named(write_file, write_manifest):
    write_manifest([{"source-ref": "s3://b/a.png"}])
    spec = BASE_SPEC.replace("label_attribute_name: animal\n", "").replace("job_name: test-job", "job_name: cats-ref")
    report = validate_job(write_file("job.yaml", spec))
    assert [issue.field for issue in report.issues] == ["job_name"]
    assert report.issues[0].line == 1 and "-ref" in report.issues[0].message
    named = spec + "label_attribute_name: animal\n"
    assert validate_job(write_file("named.yaml", named)).ok


def test_to_json_of_the_task_input_never_shows_the_gold_answer(write_file, write_manifest):
    spec_path = _text_job(write_file, write_manifest, [{"source": "a cat", "gold-label": "cat", "note": "kept"}])
    spec = parse_job_spec(spec_path.read_text(), str(spec_path), base_dir=spec_path.parent)
    data = {"source": "a cat", "gold-label": "cat", "truth": "dog", "note": "kept"}
    html = render_object_html(spec, spec_path.with_name("page.liquid").read_text(), data, lambda uri: uri)
    assert "gold-label" not in html and "kept" in html
    configured = spec.model_copy(update={"quality": SimpleNamespace(gold=SimpleNamespace(label_attribute="truth"))})
    html = render_object_html(configured, "<crowd-form>{{ task.input | to_json }}</crowd-form>", data, str)
    assert "truth" not in html and "gold-label" not in html and "kept" in html


def test_an_undefined_template_variable_fails_validate_with_its_line(write_file, write_manifest):
    template = "<crowd-form>\n{% if task.input.maybe %}x{% endif %}\n<p>{{ task.input.sorce }}</p>"
    spec_path = _text_job(write_file, write_manifest, [{"source": "a cat"}], template=template)
    report = validate_job(spec_path)
    assert [(issue.field, issue.line) for issue in report.issues] == [("template", 3)]
    assert "task.input.sorce is undefined" in report.issues[0].message


def test_a_lone_surrogate_in_the_manifest_is_one_line_naming_the_line(write_file, write_manifest, tmp_path):
    spec_path = _text_job(write_file, write_manifest, [{"source": "ok"}])
    (tmp_path / "input.manifest").write_text('{"source": "ok"}\n{"source": "a\\ud800b"}\n')
    for command in ("validate", "submit"):
        result = runner.invoke(app, ["--db", str(tmp_path / "b.db"), command, str(spec_path)])
        assert result.exit_code == 1, result.output
        assert "input.manifest:2: source: holds a lone UTF-16 surrogate (\\ud800)" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "b.db").exists()


def test_the_fee_shown_at_the_one_cent_minimum_is_its_real_share():
    rows = dict(estimate_rows(estimate_cost(10, 4, 3)))
    assert rows["MTurk fee per assignment"].startswith("$0.01 (25% of the reward: MTurk's $0.01 minimum")
    assert dict(estimate_rows(estimate_cost(10, 5, 3)))["MTurk fee per assignment"] == "$0.01 (20%)"


def test_estimate_json_says_over_budget_and_exits_2(write_file, write_manifest):
    write_manifest([{"source-ref": f"s3://b/{i}.png"} for i in range(10)])
    spec = write_file("job.yaml", BASE_SPEC + 'budget_usd: "0.20"\n')
    result = runner.invoke(app, ["estimate", str(spec), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output)["within_budget"] is False


def _row(**values):
    base = {"id": 1, "assignment_id": "A1", "worker_id": "W1", "answer_json": "[]", "chosen_json": None}
    return SimpleNamespace(**(base | {"answer_error": None, "auto_approval_time": None, "status": "answered"} | values))


def test_reject_invalid_policy_rejects_answers_failing_their_checks_with_the_reason():
    now = datetime.now(UTC)
    invalid = _row(answer_json='[{"box": {}}]', answer_error="box 1 lies outside the 64x64 image")
    off = SimpleNamespace(approve="all", reject_empty=True, reject_invalid=False)
    assert [d.approve for d in decide(off, [(invalid, invalid)], [], {}, now)] == [True]  # the default
    on = SimpleNamespace(approve="all", reject_empty=True, reject_invalid=True)
    (decision,) = decide(on, [(invalid, invalid)], [], {}, now)
    assert not decision.approve and decision.message.endswith("box 1 lies outside the 64x64 image")
    unreadable = _row(answer_json=None, answer_error="taskAnswers is not JSON: Expecting value at column 1")
    (decision,) = decide(off, [(unreadable, unreadable)], [], {}, now)
    assert not decision.approve and decision.message == (
        "Your answer could not be read: taskAnswers is not JSON: Expecting value at column 1"
    )


def test_the_spec_takes_review_as_the_policy_block(write_file, write_manifest):
    write_manifest([{"source-ref": "s3://b/a.png"}])
    spec_path = write_file("job.yaml", BASE_SPEC + "review:\n  reject_invalid: true\n")
    report = validate_job(spec_path)
    assert report.ok and report.spec.review_policy.reject_invalid is True


def test_validate_prints_every_spec_problem_at_once(write_file, write_manifest):
    write_manifest([{"source-ref": "s3://b/a.png"}])
    spec = (
        "job_name: bad_name\ntask_type: image-classification\nlabels: [a]\ninput_manifest: input.manifest\n"
        'output: out\nworkers_per_object: 12\nreward: "0.045"\ntitle: ""\ndescription: x\nmarketplace: moon\n'
    )
    report = validate_job(write_file("job.yaml", spec))
    fields = [issue.field for issue in report.issues]
    assert fields == ["job_name", "labels", "workers_per_object", "reward", "title", "marketplace"]
