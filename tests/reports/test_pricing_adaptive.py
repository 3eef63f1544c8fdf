"""Adaptive allocation of a pricing experiment (`allocation: thompson`): the spec's rules, Thompson
sampling's shares, the inverse-propensity estimate, rounds posted one after another, and a whole
simulated experiment that moves objects to the better arm and repeats exactly for a seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlmodel import Session, select
from typer.testing import CliRunner

from broker.experiments.allocation import ArmEvidence, draw_arms, floored, weighted_accuracy, win_shares
from broker.experiments.pricing import allocation_round, load_experiment_spec, warmup_round
from broker.spec import SpecError
from broker.store import get_engine

BASE = Path(__file__).parents[2] / "config" / "examples" / "pricing-base.yaml"


def _spec(tmp_path: Path, **fields) -> Path:
    data = {
        "experiment": "ad",
        "job": str(BASE),
        "arms": [{"name": "low", "reward": "0.01"}, {"name": "high", "reward": "0.05"}],
        "objects_per_arm": 15,
        "quality_target": 0.6,
        "deadline_seconds": "2h",
        "truth_attribute": "truth",
        "allocation": "thompson",
        "warmup_objects": 5,
        "batch_objects": 10,
        **fields,
    }
    path = tmp_path / "adaptive.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"allocation": "bandit"}, "allocation: Input should be 'fixed' or 'thompson'"),
        ({"allocation": None, "batch_objects": None}, "warmup_objects: only with allocation: thompson"),
        ({"design": "sequential"}, "design: allocation: thompson posts each round's arms at once"),
        ({"warmup_objects": 0}, "warmup_objects: Input should be greater than or equal to 1"),
        ({"min_share": 0.7}, "min_share: Input should be less than 0.5"),
        (
            {"arms": [{"name": "low", "reward": "0.01", "budget_usd": "2"}, {"name": "high", "reward": "0.05"}]},
            "arms[0].budget_usd: an arm's budget caps one job",
        ),
        (
            {"arms": [{"name": "low-r2", "reward": "0.01"}, {"name": "high", "reward": "0.05"}]},
            "arms[0].name: a name ending in -r<number> would clash",
        ),
    ],
)
def test_bad_allocation_fields_fail_in_one_line_naming_the_field(tmp_path: Path, fields: dict, expected: str):
    path = _spec(tmp_path, **fields)
    with pytest.raises(SpecError) as error:
        load_experiment_spec(path)
    [line] = str(error.value).splitlines()
    assert line.startswith(f"{path}:") and expected in line


def test_defaults_size_the_rounds_from_the_warmup():
    spec = load_experiment_spec(Path(__file__).parents[2] / "config" / "examples" / "pricing-experiment.yaml")
    spec = spec.model_copy(update={"allocation": "thompson"})
    assert (spec.warmup, spec.batch, spec.floor) == (20, 60, 0.05)  # a round is the size of the warm-up


def test_shares_go_to_the_cheapest_arm_that_meets_the_target():
    rng = np.random.default_rng(0)
    # the cheap arm is clearly below the 80% target, the dear one clearly above: the dear one wins
    shares = win_shares([ArmEvidence(8, 20, 3.0, True), ArmEvidence(19, 20, 9.0, True)], 0.8, rng)
    assert shares[1] > 0.95
    # both clearly above it: the cheaper one wins
    shares = win_shares([ArmEvidence(19, 20, 3.0, True), ArmEvidence(19, 20, 9.0, True)], 0.8, rng)
    assert shares[0] > 0.9
    # the cheap arm missed the deadline: it qualifies in no draw
    shares = win_shares([ArmEvidence(20, 20, 3.0, False), ArmEvidence(19, 20, 9.0, True)], 0.8, rng)
    assert shares[0] == 0.0
    # uncertain: both arms keep a real share; the floor keeps a loser observed
    shares = win_shares([ArmEvidence(9, 11, 3.0, True), ArmEvidence(10, 11, 9.0, True)], 0.8, rng)
    assert 0.3 < shares[0] < 0.9 and shares.sum() == pytest.approx(1.0)
    assert floored(np.array([1.0, 0.0, 0.0]), 0.05).tolist() == pytest.approx([0.9, 0.05, 0.05])
    arms = draw_arms(np.array([0.9, 0.1]), 1000, np.random.default_rng(1))
    assert 850 < int((arms == 0).sum()) < 950


def test_rounds_deal_every_object_once_and_repeat_for_a_seed(tmp_path: Path):
    spec = load_experiment_spec(_spec(tmp_path))
    evidence = [ArmEvidence(5, 5, 6.0, True), ArmEvidence(2, 5, 18.0, True)]
    first = warmup_round(spec, 600)
    rounds = [first] + [allocation_round(spec, 600, i, evidence) for i in (1, 2)]
    assert allocation_round(spec, 600, 3, evidence) is None  # 2 x 15 objects: 10 warm-up + 2 rounds of 10
    assert [len(lines) for lines in first.objects] == [5, 5] and first.shares == [0.5, 0.5]
    lines = [line for r in rounds for arm in r.objects for line in arm]
    assert len(lines) == len(set(lines)) == 30
    assert rounds[1].shares[0] > 0.9 and len(rounds[1].objects[0]) > len(rounds[1].objects[1])
    assert allocation_round(spec, 600, 1, evidence) == rounds[1]  # the seed fixes the draw
    other = load_experiment_spec(_spec(tmp_path, seed=9))
    assert allocation_round(other, 600, 1, evidence).objects != rounds[1].objects


def test_weighted_accuracy_undoes_the_bias_of_adaptive_allocation():
    """Two arms, both truly 80% accurate, the cheap one preferred whenever it looks good enough: the arm that
    looked bad early gets fewer objects, so its plain accuracy leans low; the weighted one does not, and its
    interval covers about 95% of the time."""
    truth, plain, weighted, covered = 0.8, [], [], []
    for rep in range(1000):
        rng = np.random.default_rng(rep)
        arms, propensity = np.repeat([0, 1], 20), np.full(40, 0.5)
        correct = (rng.random(40) < truth).astype(int)
        for _ in range(5):
            evidence = [ArmEvidence(correct[arms == a].sum(), (arms == a).sum(), [3.0, 6.0][a], True) for a in (0, 1)]
            shares = floored(win_shares(evidence, 0.8, rng), 0.05)
            new = draw_arms(shares, 40, rng)
            arms, propensity = np.concatenate([arms, new]), np.concatenate([propensity, shares[new]])
            correct = np.concatenate([correct, (rng.random(40) < truth).astype(int)])
        mine = arms == 0
        estimate = weighted_accuracy(correct[mine], propensity[mine])
        plain.append(correct[mine].mean())
        weighted.append(estimate.estimate)
        covered.append(estimate.low <= truth <= estimate.high)
    assert np.mean(plain) < truth - 0.008  # biased low (by 1.2 points here)
    assert abs(np.mean(weighted) - truth) < 0.004
    assert 0.92 <= np.mean(covered) <= 0.98


def test_weighted_accuracy_with_equal_weights_is_the_plain_share():
    correct = np.array([1] * 17 + [0] * 3 + [-1] * 2)  # two objects without a known answer are left out
    estimate = weighted_accuracy(correct, np.full(22, 1 / 3))
    assert estimate.estimate == pytest.approx(0.85) and 0.6 < estimate.low < 0.7 and 0.93 < estimate.high < 0.96
    # an object assigned with probability 1/4 counts 4 times as much as one assigned surely
    assert weighted_accuracy(np.array([1, 0]), np.array([0.25, 1.0])).estimate == pytest.approx(0.8)
    assert weighted_accuracy(np.array([-1]), np.array([0.5])).estimate is None


def test_rounds_are_posted_one_after_another(tmp_path: Path, settings):
    from broker.cli import app
    from broker.store.tables import Job

    spec = _spec(tmp_path)
    settings_path = tmp_path / "settings.yaml"
    settings_path.write_text(f"db_url: {settings.db_url}\n")
    command = ["--settings", str(settings_path), "experiment", "pricing", str(spec)]
    out = CliRunner().invoke(app, command)
    assert out.exit_code == 0, out.output
    assert "next round" in out.stdout
    with Session(get_engine(settings.db_url)) as session:
        assert {j.name: j.n_objects for j in session.exec(select(Job))} == {"ad-low": 5, "ad-high": 5}
    again = CliRunner().invoke(app, command)
    assert again.exit_code == 1 and "round 0 is still running" in " ".join(again.stderr.split())


def _simulate(tmp_path: Path, spec: Path, folder: str, seed: int, *extra: str) -> str:
    from broker.cli import app

    command = ["experiment", "pricing", str(spec), "--simulate", "--seed", str(seed), "--json", *extra]
    out = CliRunner().invoke(app, [*command, "--workdir", str(tmp_path / folder)])
    assert out.exit_code == 0, out.output
    return out.stdout


@pytest.mark.slow
def test_simulated_adaptive_experiment_moves_objects_to_the_better_arm_and_repeats(tmp_path: Path):
    """Both arms are well above the 60% target, so the cheaper one is better: after the warm-up it gets
    most of each round. The same seed gives the same JSON."""
    spec = _spec(tmp_path)
    first = _simulate(tmp_path, spec, "one", 4)
    second = _simulate(tmp_path, spec, "two", 4, "--html", str(tmp_path / "report.html"))
    assert first == second
    result = json.loads(first)
    record = result["allocation"]
    assert record["method"] == "thompson" and [r["round"] for r in record["rounds"]] == [0, 1, 2]
    assert record["rounds"][0]["objects"] == {"low": 5, "high": 5}
    assert all(r["shares"]["low"] > 0.8 for r in record["rounds"][1:])
    arms = {a["arm"]: a for a in result["arms"]}
    assert arms["low"]["objects"] + arms["high"]["objects"] == 30 and arms["low"]["objects"] >= 18
    assert record["objects"] == {"low": arms["low"]["objects"], "high": arms["high"]["objects"]}
    for arm in arms.values():
        assert arm["completed"] == arm["objects"]
        low, high = arm["accuracy_weighted_ci"]
        assert low <= arm["accuracy_weighted"] <= high
    assert result["recommendation"]["arm"] == "low"
    assert any("allocated adaptively" in note for note in result["notes"])
    html = (tmp_path / "report.html").read_text()
    assert "<h2>Allocation</h2>" in html and "0 (warm-up)" in html
    assert "allocation: thompson (warm-up 5 per arm, then 2 rounds of up to 10" in html
    assert f"low {arms['low']['objects']}, high {arms['high']['objects']}" in html
