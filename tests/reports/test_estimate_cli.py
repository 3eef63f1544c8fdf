"""`broker estimate` and `broker report`: figures computed by hand, CLI outputs and errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.cli import app
from broker.estimate import estimate_cost, hourly_wage_cents
from broker.gold import gold_object_count

runner = CliRunner()


def test_fees_base_large_hit_and_masters():
    # 12 cents, 3 per object: 20% = 2.4 -> 2 cents; 100 objects = 300 assignments at 14 cents
    small = estimate_cost(100, 12, 3)
    assert (small.fee_cents, small.base_fee_cents, small.large_hit_fee_cents, small.masters_fee_cents) == (2, 2, 0, 0)
    assert (small.total_reward_cents, small.total_fee_cents, small.total_cents) == (3600, 600, 4200)
    # $1.00 with 10 assignments and Masters: 20 + 20 + 5 = 45 cents per assignment
    big = estimate_cost(2, 100, 10, masters=True)
    assert (big.fee_percent, big.base_fee_cents, big.large_hit_fee_cents, big.masters_fee_cents) == (45, 20, 20, 5)
    assert big.total_cents == 2 * 10 * 145
    # the $0.01 minimum fee on a 3-cent reward
    assert estimate_cost(1, 3, 1).fee_cents == 1


def test_budget_and_wage():
    e = estimate_cost(100, 12, 3, budget_cents=1000, work_seconds=30)
    assert not e.within_budget and e.objects_within_budget == 1000 // 42
    assert e.hourly_wage_cents == 1440  # 12 cents per 30 s
    assert hourly_wage_cents(5, 7) == 2571  # 2571.43 rounded half up
    with pytest.raises(ValueError):
        hourly_wage_cents(5, 0)


def test_gold_objects_make_the_rate():
    assert gold_object_count(90, 0.1) == 10  # 10 of 100 posted objects are gold
    assert gold_object_count(10, 0.2) == 3  # ceil(2.5)
    assert gold_object_count(10, 0) == 0
    assert estimate_cost(90, 10, 3, gold_objects=10).assignments == 300


def _spec(tmp_path: Path, extra: str = "") -> Path:
    manifest = tmp_path / "in.manifest"
    manifest.write_text("".join(json.dumps({"source": f"text {i}"}) + "\n" for i in range(7)))
    spec = tmp_path / "job.yaml"
    spec.write_text(f"""job_name: estimate-me
task_type: text-classification
labels: [a, b]
input_manifest: in.manifest
output: out
reward: "0.12"
workers_per_object: 3
title: t
description: d
{extra}""")
    return spec


def test_estimate_cli_counts_the_manifest(tmp_path: Path):
    result = runner.invoke(app, ["estimate", str(_spec(tmp_path)), "--work-time", "30s", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["objects"], data["assignments"], data["total_cents"], data["hourly_wage_cents"]) == (7, 21, 294, 1440)
    table = runner.invoke(app, ["estimate", str(_spec(tmp_path)), "--work-time", "30s"])
    assert "$2.94" in table.stdout and "$14.40/h" in table.stdout


def test_estimate_cli_over_budget_exits_2(tmp_path: Path):
    result = runner.invoke(app, ["estimate", str(_spec(tmp_path, 'budget_usd: "1.00"\n'))])
    assert result.exit_code == 2
    assert "OVER budget" in result.stdout


def test_estimate_cli_errors_name_file_and_field(tmp_path: Path):
    spec = _spec(tmp_path, "workers_per_object: 0\n")
    result = runner.invoke(app, ["estimate", str(spec)])
    assert result.exit_code == 1
    assert "job.yaml" in result.stderr and "workers_per_object" in result.stderr
    bad_time = runner.invoke(app, ["estimate", str(_spec(tmp_path)), "--work-time", "soon"])
    assert bad_time.exit_code == 1 and "--work-time" in bad_time.stderr


def test_report_workers_cli(settings_file: Path, tmp_path: Path):
    out_csv, out_html = tmp_path / "w.csv", tmp_path / "w.html"
    result = runner.invoke(
        app,
        [
            "--settings",
            str(settings_file),
            "report",
            "workers",
            "fixed-job",
            "--sort",
            "em_accuracy",
            "--ascending",
            "--csv",
            str(out_csv),
            "--html",
            str(out_html),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.index("ASPAMMER0003") < result.stdout.index("AGOODWORKER1")
    assert [r["worker_id"] for r in csv.DictReader(out_csv.open())][0] == "ASPAMMER0003"
    assert 'id="plot-accuracy-volume"' in out_html.read_text()
    every = runner.invoke(app, ["--settings", str(settings_file), "report", "workers", "--all"])
    assert every.exit_code == 0 and "AGOODWORKER2" in every.stdout
    wrong = runner.invoke(app, ["--settings", str(settings_file), "report", "workers", "fixed-job", "--sort", "x"])
    assert wrong.exit_code == 1 and "--sort" in wrong.stderr
    missing = runner.invoke(app, ["--settings", str(settings_file), "report", "workers", "nope"])
    assert missing.exit_code == 1 and "no job named 'nope'" in missing.stderr


def test_report_job_cli(settings_file: Path, tmp_path: Path):
    out_csv = tmp_path / "j.csv"
    result = runner.invoke(app, ["--settings", str(settings_file), "report", "job", "fixed-job", "--csv", str(out_csv)])
    assert result.exit_code == 0, result.output
    assert "$1.62" in result.stdout and "$0.5400" in result.stdout
    assert {r["figure"]: r["value"] for r in csv.DictReader(out_csv.open())}["spent_cents"] == "162"


def test_estimate_counts_gold_objects_of_the_spec(tmp_path: Path):
    (tmp_path / "gold.manifest").write_text(json.dumps({"source": "g", "gold-label": "a"}) + "\n")
    spec = _spec(tmp_path, "quality:\n  gold: {manifest: gold.manifest, rate: 0.2}\n")
    data = json.loads(runner.invoke(app, ["estimate", str(spec), "--json"]).stdout)
    assert (data["objects"], data["gold_objects"], data["assignments"]) == (7, 2, 27)  # ceil(7 * .2 / .8) = 2
