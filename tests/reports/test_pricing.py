"""Pricing experiments: arm planning, completion maths, recommendation, and a run on the embedded
marketplace with a crowd whose price sensitivity is known (broker.marketplace.crowd.pricing)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlmodel import Session
from typer.testing import CliRunner

from broker.experiments.analysis import ArmData, arm_result, recommend
from broker.experiments.pricing import (
    completion_seconds,
    experiment_results,
    load_experiment_spec,
    plan_arms,
    submit_experiment,
)
from broker.spec import SpecError
from broker.store import get_engine


def test_plan_arms_is_a_seeded_disjoint_split():
    plan = plan_arms(10, 3, seed=4)
    assert sorted(i for arm in plan for i in arm) == list(range(10))
    assert [len(arm) for arm in plan] == [4, 3, 3]
    assert plan == plan_arms(10, 3, seed=4) and plan != plan_arms(10, 3, seed=5)
    assert [len(arm) for arm in plan_arms(10, 3, seed=4, per_arm=2)] == [2, 2, 2]
    with pytest.raises(ValueError, match="needs 12 objects"):
        plan_arms(10, 3, seed=4, per_arm=4)


def test_completion_seconds_wait_for_every_answer():
    items = np.array([0, 0, 1, 1, 2])
    submits = np.array([5.0, 3.0, 9.0, 7.0, 1.0])
    done = completion_seconds(items, submits, 3, needed=2)  # object 2 has 1 of 2 answers
    assert done[:2].tolist() == [5.0, 9.0] and np.isnan(done[2])


def _arm(name: str, cost: float, accuracy: float, seconds: float | None, n: int = 200):
    """An arm of n objects costing `cost` cents each, `accuracy` of them right, all done by `seconds`
    (None: one object never finished)."""
    right = round(accuracy * n)
    finished = np.ones(n, dtype=bool)
    if seconds is None:
        finished[-1] = False
    data = ArmData(
        arm=name,
        job=name,
        reward_cents=1,
        workers_per_object=1,
        seconds=np.linspace(1.0, seconds or 1000.0, n),
        finished=finished,
        correct=(np.arange(n) < right).astype(int),
        cost_cents=np.full(n, cost),
        confidence=np.full(n, np.nan),
        assignments=n,
        observed_seconds=seconds or 1000.0,
    )
    return arm_result(data, 1e9, np.random.default_rng(0))


def test_recommend_cheapest_arm_meeting_quality_and_deadline():
    arms = [
        _arm("cheap-slow", 2.0, 0.99, 900.0),
        _arm("cheap-bad", 2.0, 0.7, 100.0),
        _arm("mid", 4.0, 0.99, 300.0),
        _arm("dear", 8.0, 1.0, 100.0),
        _arm("unfinished", 1.0, 1.0, None),
    ]
    assert recommend(arms, 0.9, 1000).arm == "cheap-slow"
    assert recommend(arms, 0.9, 500).arm == "mid"
    assert recommend(arms, 0.995, 500).arm == "dear"
    none = recommend(arms, 0.99, 50)
    assert none.arm is None and "no arm" in none.reason


def test_experiment_spec_errors_name_line_and_field(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text('experiment: e1\njob: job.yaml\narms:\n  - reward: "0.05"\n  - reward: 0.055\n')
    with pytest.raises(SpecError) as error:
        load_experiment_spec(path)
    assert "exp.yaml:5" in str(error.value) and "arms[1]" in str(error.value)
    path.write_text('experiment: e1\njob: job.yaml\narms:\n  - reward: "0.05"\n    budget: 3\n  - reward: "0.1"\n')
    with pytest.raises(SpecError) as error:
        load_experiment_spec(path)
    assert "exp.yaml:5: arms[0].budget: unknown field" in str(error.value)
    assert "see config/examples/pricing-experiment.yaml" in str(error.value)


# ------------------------------------------------------------------------------ on the marketplace

REWARDS = {"low": 1, "mid": 3, "high": 8}  # cents for an ~8 s task
RESERVATION_CENTS_PER_HOUR = 900.0  # every simulated worker's reservation wage
EXPECTED_SECONDS = 8.0
OBJECTS = 90  # 30 per arm
WORKERS = 10


def _write_experiment(tmp_path: Path) -> Path:
    labels = ["positive", "negative"]
    lines = [{"source": f"review number {i}", "truth": labels[i % 2]} for i in range(OBJECTS)]
    (tmp_path / "in.manifest").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "job.yaml").write_text(
        yaml.safe_dump(
            {
                "job_name": "base",
                "task_type": "text-classification",
                "labels": labels,
                "input_manifest": "in.manifest",
                "output": "out",
                "workers_per_object": 1,
                "reward": "0.01",
                "title": "Sentiment",
                "description": "Positive or negative?",
                "lifetime_seconds": 86400,
                "max_concurrent_hits": 100,
            }
        )
    )
    path = tmp_path / "experiment.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "experiment": "price",
                "job": "job.yaml",
                "seed": 3,
                "quality_target": 0.9,
                "deadline_seconds": 3600,
                "truth_attribute": "truth",
                "arms": [{"name": n, "reward_cents": c} for n, c in REWARDS.items()],
            }
        )
    )
    return path


def test_pricing_experiment_ranks_arms_for_a_known_price_sensitivity(tmp_path: Path, market, settings, hit_steps):
    """Each simulated minute, each of 10 workers looks at each arm's HIT group and takes one HIT with the
    crowd's pickup probability for that wage; higher pay must finish sooner, and the recommendation
    must be the cheapest arm that meets the deadline."""
    from broker.daemon import run_cycle
    from broker.marketplace.crowd.pricing import pickup_probability, wage_cents_per_hour

    spec = load_experiment_spec(_write_experiment(tmp_path))
    engine = get_engine(settings.db_url)
    submit_experiment(spec, tmp_path / "arms", engine, settings)
    run_cycle(engine, settings, ticks=("publish",))
    marketplace = market.marketplace
    workers = [marketplace.register_worker(f"APRICEWORKER{i:02d}") for i in range(WORKERS)]
    rng = np.random.default_rng(int(os.environ.get("PRICING_TEST_SEED", "11")))
    truth = {f"review number {i}": ["positive", "negative"][i % 2] for i in range(OBJECTS)}
    for _ in range(120):  # simulated minutes
        groups = sorted(marketplace.list_hit_groups(workers[0]), key=lambda g: g.reward_cents)
        if not groups:
            break
        taken = []
        for worker in workers:
            for group in groups:
                chance = pickup_probability(
                    wage_cents_per_hour(group.reward_cents, EXPECTED_SECONDS), RESERVATION_CENTS_PER_HOUR
                )
                if rng.random() < chance:
                    hit_id = marketplace.next_hit_for_worker(group.hit_type_id, worker)
                    if hit_id is not None:
                        taken.append((worker, *hit_steps.accept(market, hit_id, worker)))
        marketplace.clock.advance(EXPECTED_SECONDS)  # everyone works for 8 s, then submits
        for worker, assignment_id, data in taken:
            hit_steps.submit(market, assignment_id, worker, data, truth[data["dataObject"]["source"]])
        marketplace.clock.advance(60 - EXPECTED_SECONDS)
    for _ in range(3):
        run_cycle(engine, settings, ticks=("collect", "review", "consolidate", "quality", "finalize"))
    with Session(engine) as session:
        results = {r.arm: r for r in experiment_results(session, spec).arms}
    assert all(
        r.completed == OBJECTS // 3 and r.accuracy == 1.0 and r.accuracy_source == "gold" for r in results.values()
    )
    assert results["high"].seconds_to_all < results["low"].seconds_to_all
    assert results["mid"].seconds_to_all < results["low"].seconds_to_all
    assert results["high"].seconds_to_half <= results["mid"].seconds_to_half < results["low"].seconds_to_half
    assert results["high"].seconds_to_all <= results["mid"].seconds_to_all
    assert results["high"].assignments_per_hour > results["low"].assignments_per_hour
    assert [results[a].cost_per_object_cents for a in REWARDS] == [2.0, 4.0, 10.0]  # reward + fee (min 1c, 20%)
    # 8 s of simulated work per assignment (plus the few wall-clock ms the calls take)
    assert results["high"].median_hourly_wage_cents == pytest.approx(8 * 3600 / EXPECTED_SECONDS, rel=0.01)
    # the deadline decides: everything by the low arm's finish -> low; just before it -> the next cheapest
    assert recommend(list(results.values()), 0.9, results["low"].seconds_to_all).arm == "low"
    cutoff = results["low"].seconds_to_all - 1
    expected = "mid" if results["mid"].seconds_to_all <= cutoff else "high"
    assert recommend(list(results.values()), 0.9, cutoff).arm == expected

    # the CLI report: table with the recommendation, CSV and HTML
    from broker.cli import app

    settings_path = tmp_path / "settings.yaml"
    settings_path.write_text(f"db_url: {settings.db_url}\nlocal_endpoint_url: {settings.local_endpoint_url}\n")
    out = CliRunner().invoke(
        app,
        [
            "--settings",
            str(settings_path),
            "experiment",
            "pricing",
            str(tmp_path / "experiment.yaml"),
            "--report",
            "--csv",
            str(tmp_path / "p.csv"),
            "--html",
            str(tmp_path / "p.html"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "recommended:" in out.stdout
    assert 'id="plot-completion"' in (tmp_path / "p.html").read_text()
    assert (tmp_path / "p.csv").read_text().count("\n") == 4


def test_cli_submits_every_arm_as_a_job_with_its_reward(tmp_path: Path, settings):
    from sqlmodel import select

    from broker.cli import app
    from broker.store.tables import Job

    spec = _write_experiment(tmp_path)
    settings_path = tmp_path / "settings.yaml"
    settings_path.write_text(f"db_url: {settings.db_url}\n")
    out = CliRunner().invoke(app, ["--settings", str(settings_path), "experiment", "pricing", str(spec)])
    assert out.exit_code == 0, out.output
    with Session(get_engine(settings.db_url)) as session:
        jobs = {j.name: j for j in session.exec(select(Job))}
    assert {name: (j.reward_cents, j.n_objects) for name, j in jobs.items()} == {
        "price-low": (1, 30),
        "price-mid": (3, 30),
        "price-high": (8, 30),
    }
    sources = [
        json.loads(line)["source"]
        for arm in ("low", "mid", "high")
        for line in (tmp_path / "price-arms" / f"{arm}.manifest").read_text().splitlines()
    ]
    assert len(sources) == len(set(sources)) == OBJECTS  # every object in exactly one arm
    again = CliRunner().invoke(app, ["--settings", str(settings_path), "experiment", "pricing", str(spec)])
    assert again.exit_code == 1 and "price-high, price-low, price-mid already exist" in again.stderr


def test_cli_hint_names_the_spec_and_arm_budgets_are_honoured(tmp_path: Path, settings):
    from sqlmodel import select

    from broker.cli import app
    from broker.store.tables import Job

    spec = _write_experiment(tmp_path)
    data = yaml.safe_load(spec.read_text())
    data["arms"][0]["budget_usd"] = "0.25"
    spec.write_text(yaml.safe_dump(data))
    settings_path = tmp_path / "settings.yaml"
    settings_path.write_text(f"db_url: {settings.db_url}\n")
    out = CliRunner().invoke(app, ["--settings", str(settings_path), "experiment", "pricing", str(spec)])
    assert out.exit_code == 0, out.output
    assert f"broker experiment pricing {spec} --report" in out.stdout
    with Session(get_engine(settings.db_url)) as session:
        budgets = {j.name: j.budget_cents for j in session.exec(select(Job))}
    assert budgets == {"price-low": 25, "price-mid": None, "price-high": None}


def test_a_budget_in_the_base_job_is_refused_with_the_way_out(tmp_path: Path, settings):
    from broker.cli import app

    spec = _write_experiment(tmp_path)
    job = yaml.safe_load((tmp_path / "job.yaml").read_text())
    (tmp_path / "job.yaml").write_text(yaml.safe_dump({**job, "budget_usd": "5"}))
    settings_path = tmp_path / "settings.yaml"
    settings_path.write_text(f"db_url: {settings.db_url}\n")
    out = CliRunner().invoke(app, ["--settings", str(settings_path), "experiment", "pricing", str(spec)])
    assert out.exit_code == 1
    message = " ".join(out.stderr.split())
    assert "job.yaml: budget_usd caps one job" in message and "config/examples/pricing-experiment.yaml" in message
    assert "Traceback" not in out.output


def test_sequential_design_posts_the_next_arm_only_when_the_last_is_done(tmp_path: Path, settings):
    from sqlmodel import select

    from broker.cli import app
    from broker.store.tables import Job

    spec = _write_experiment(tmp_path)
    spec.write_text(spec.read_text() + "design: sequential\n")
    settings_path = tmp_path / "settings.yaml"
    settings_path.write_text(f"db_url: {settings.db_url}\n")
    command = ["--settings", str(settings_path), "experiment", "pricing", str(spec)]
    assert CliRunner().invoke(app, command).exit_code == 0
    again = CliRunner().invoke(app, command)
    assert again.exit_code == 1 and "arm low is still running" in " ".join(again.stderr.split())
    with Session(get_engine(settings.db_url)) as session:
        assert [j.name for j in session.exec(select(Job))] == ["price-low"]
    report = CliRunner().invoke(app, [*command, "--report", "--json"])  # the arms posted so far
    assert report.exit_code == 0, report.output
    assert [a["arm"] for a in json.loads(report.stdout)["arms"]] == ["low"]


def test_example_experiment_spec_loads_and_documents_every_field():
    from broker.experiments.pricing import Arm, PricingExperimentSpec

    path = Path(__file__).parents[2] / "config" / "examples" / "pricing-experiment.yaml"
    spec = load_experiment_spec(path)
    assert [a.reward_cents for a in spec.arms] == [1, 3, 8] and spec.arms[0].budget_cents == 1500
    text = path.read_text()
    fields = set(PricingExperimentSpec.model_fields) | set(Arm.model_fields) - {"reward_cents", "budget_cents"}
    assert all(f"{name}:" in text for name in fields), fields - {f for f in fields if f"{f}:" in text}


def _small_simulated_experiment(tmp_path: Path, design: str = "simultaneous") -> Path:
    base = Path(__file__).parents[2] / "config" / "examples" / "pricing-base.yaml"
    path = tmp_path / "sim.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "experiment": "sim",
                "job": str(base),
                "arms": [{"name": "low", "reward": "0.01"}, {"name": "high", "reward": "0.05"}],
                "objects_per_arm": 15,
                "design": design,
                "quality_target": 0.6,
                "deadline_seconds": "2h",
                "truth_attribute": "truth",
            }
        )
    )
    return path


def test_simulated_experiment_repeats_exactly_for_a_seed(tmp_path: Path):
    from broker.cli import app

    spec = _small_simulated_experiment(tmp_path)
    runs = []
    for folder in ("one", "two"):
        command = ["experiment", "pricing", str(spec), "--simulate", "--seed", "4", "--json"]
        out = CliRunner().invoke(app, [*command, "--workdir", str(tmp_path / folder)])
        assert out.exit_code == 0, out.output
        runs.append(out.stdout)
    assert runs[0] == runs[1]
    result = json.loads(runs[0])
    assert [a["reward_cents"] for a in result["arms"]] == [1, 5]
    for arm in result["arms"]:
        assert arm["objects"] == 15 and arm["accuracy_source"] == "gold"
        assert arm["accuracy_ci"][0] <= arm["accuracy"] <= arm["accuracy_ci"][1]
        low, high = arm["median_completion_seconds_ci"]
        assert low <= arm["median_completion_seconds"] and (high is None or arm["median_completion_seconds"] <= high)
        assert (
            arm["cost_per_correct_cents_ci"][0] <= arm["cost_per_correct_cents"] <= arm["cost_per_correct_cents_ci"][1]
        )
    assert set(result["recommendation"]) == {"arm", "confidence", "reason"}
    assert result["power"]["objects_per_arm_needed"] > 0
    model = result["completion_model"]  # faster work at the higher reward: a positive price elasticity
    assert model["slope"] > 0 and model["reward_needed"]["objects"] == 15
    other = CliRunner().invoke(
        app,
        ["experiment", "pricing", str(spec), "--simulate", "--seed", "5", "--json", "--workdir", str(tmp_path / "3")],
    )
    assert other.exit_code == 0 and other.stdout != runs[0]  # the seed matters


def test_simulated_sequential_experiment_runs_the_arms_in_turn(tmp_path: Path):
    from broker.cli import app

    spec = _small_simulated_experiment(tmp_path, "sequential")
    out = CliRunner().invoke(
        app, ["experiment", "pricing", str(spec), "--simulate", "--json", "--workdir", str(tmp_path)]
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert all(a["completed"] == 15 for a in result["arms"]) and "one after another" in result["notes"][0]


def test_estimate_predicts_completion_with_an_experiments_fitted_model(tmp_path: Path):
    """`broker estimate --timing-from`: the experiment's JSON and its spec (arms read from the DB) give the
    same prediction, which is the model's own arithmetic: assignments / rate at the job's reward."""
    from broker.cli import app

    spec = _small_simulated_experiment(tmp_path)
    work = tmp_path / "run"
    report = CliRunner().invoke(
        app, ["experiment", "pricing", str(spec), "--simulate", "--seed", "4", "--json", "--workdir", str(work)]
    )
    assert report.exit_code == 0, report.output
    saved = tmp_path / "exp.json"
    saved.write_text(report.stdout)
    model = json.loads(report.stdout)["completion_model"]
    base = Path(__file__).parents[2] / "config" / "examples" / "pricing-base.yaml"
    estimates = []
    for source in (saved, spec):
        out = CliRunner().invoke(
            app,
            [
                "--db",
                str(work / "sim-simulated.db"),
                "estimate",
                str(base),
                "--objects",
                "40",
                "--timing-from",
                str(source),
                "--json",
            ],
        )
        assert out.exit_code == 0, out.output
        estimates.append(json.loads(out.stdout)["completion"])
    json_estimate, spec_estimate = estimates
    assert {k: v for k, v in json_estimate.items() if k != "source"} == {
        k: v for k, v in spec_estimate.items() if k != "source"
    }
    rate = np.exp(model["intercept"] + model["slope"] * np.log(1 / model["expected_seconds"]))  # base: 1 cent
    assert json_estimate["assignments"] == 120
    assert json_estimate["median_seconds"] == pytest.approx(120 / rate, rel=0.01)
    low, high = json_estimate["seconds_ci"]
    assert low < json_estimate["median_seconds"] < high
    assert json_estimate["rewards_tried"] == [1, 5] and not json_estimate["extrapolated"]
    table = CliRunner().invoke(app, ["estimate", str(base), "--timing-from", str(saved)])
    assert table.exit_code == 0 and "time to finish" in table.stdout and "95%" in table.stdout


def test_estimate_timing_from_a_file_that_is_not_a_report_fails_in_one_line(tmp_path: Path):
    from broker.cli import app

    base = Path(__file__).parents[2] / "config" / "examples" / "pricing-base.yaml"
    for content, message in (
        ("{}", "not an experiment report"),
        ("{oops", "not JSON (line 1)"),
        ('{"completion_model": null}', "has no completion model"),
        (
            '{"completion_model": {"intercept": 1, "slope": 1, "dispersion": 1, "expected_seconds": 5}}',
            "covariance must be a 2 x 2 matrix",
        ),
    ):
        path = tmp_path / "model.json"
        path.write_text(content)
        out = CliRunner().invoke(app, ["estimate", str(base), "--timing-from", str(path)])
        assert out.exit_code == 1 and message in out.output and "Traceback" not in out.output, out.output
