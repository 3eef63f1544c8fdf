"""Pricing experiments on simulated crowds: does the recommendation pick the truly best arm, do the
95% intervals cover, and how well does the completion-time model predict an untried reward?

    python benchmarks/pricing.py                       # 50 seeds, 3 arms x 200 objects (resumes a stopped run)
    python benchmarks/pricing.py --seeds 10 --objects 100 --workdir /tmp/pricing-small

Each seed runs config/examples/pricing-experiment.yaml (3 arms at 1, 3 and 8 cents, 3 answers per
object, posted at once; budgets removed) on the embedded marketplace with a fresh simulated crowd
of 40 workers (broker.simulation: the seed draws the crowd, the split of objects and the
bootstrap), then, on a fresh marketplace with the same crowd, one arm alone at an untried reward
(5 cents) whose time to finish the completion-time model fitted on the three arms predicts.

The truth each seed is judged against comes from the other seeds (leave-one-seed-out), so no
figure is scored against values estimated from the run it scores:
  - an arm's true accuracy is its pooled accuracy over the other seeds (correct / judged), its
    true cost per correct label the pooled cost per object over the pooled accuracy, its true
    median completion time the median of the other seeds' medians, and it truly finishes by the
    deadline when it did in most other seeds;
  - the truly best arm is the recommendation rule applied to those values (the cheapest arm per
    object that meets the quality target and the deadline).
Per-seed results go to <workdir>/results.jsonl (one line per seed; an existing line is reused).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broker import completion as timing  # noqa: E402
from broker.experiments.analysis import (  # noqa: E402
    INTERVALS,
    ArmData,
    ArmResult,
    IntervalMethod,
    rate_observations,
    recommend,
)
from broker.experiments.pricing import (  # noqa: E402
    Arm,
    PricingExperimentSpec,
    analyse_experiment,
    load_experiment_spec,
)
from broker.simulation import simulate_experiment_data  # noqa: E402

EXAMPLE = ROOT / "config" / "examples" / "pricing-experiment.yaml"
UNTRIED_CENTS = 5
TARGETS = (0.7, 0.75, 0.8, 0.85, 0.9)  # quality targets the recommendation is replayed at (all reported)


def arm_data_json(data: ArmData) -> dict:
    """An arm's raw objects as JSON, so a run can be analysed again without simulating it again."""
    return {key: (value.tolist() if isinstance(value, np.ndarray) else value) for key, value in vars(data).items()}


def arm_data_from_json(row: dict) -> ArmData:
    arrays = {
        "seconds",
        "finished",
        "correct",
        "cost_cents",
        "confidence",
        "accept_seconds",
        "object_workers",
        "submit_seconds",
    }
    dtypes = {"finished": bool, "correct": np.int64, "object_workers": np.int64}
    return ArmData(**{k: (np.asarray(v, dtype=dtypes.get(k, float)) if k in arrays else v) for k, v in row.items()})


def run_seed(seed: int, objects: int, workdir: Path) -> dict:
    """One simulated experiment and one untried arm alone; the figures the summary needs."""
    spec = load_experiment_spec(EXAMPLE)
    arms = [arm.model_copy(update={"budget_cents": None}) for arm in spec.arms]
    spec = spec.model_copy(update={"arms": arms, "objects_per_arm": objects})
    started = time.perf_counter(), time.process_time()
    run = simulate_experiment_data(spec, workdir / f"seed{seed}", seed=seed)
    analysis = analyse_experiment(run.spec, run.data)
    experiment_wall, experiment_cpu = time.perf_counter() - started[0], time.process_time() - started[1]

    observations, expected = rate_observations(run.data)
    model = timing.fit_rate_model(observations)
    answers = spec.arms[0].workers_per_object or 3
    untried_spec = spec.model_copy(
        update={"arms": [Arm(name="untried", reward_cents=UNTRIED_CENTS), Arm(name="unused", reward_cents=1)]}
    )
    alone = simulate_experiment_data(untried_spec, workdir / f"seed{seed}-untried", seed=seed, arms=["untried"])
    arm = alone.data[0]
    observed = float(arm.seconds.max() - arm.accept_seconds.min()) if arm.finished.all() else None
    prediction = (
        timing.predict_finish(model, UNTRIED_CENTS, expected, objects, answers, float(spec.deadline_seconds))
        if model is not None
        else None
    )
    return {
        "seed": seed,
        "objects": objects,
        "analysis": analysis.as_json(),
        "data": [arm_data_json(d) for d in run.data],
        "spec": run.spec.model_dump(mode="json"),
        "experiment_wall_seconds": round(experiment_wall, 1),
        "experiment_cpu_seconds": round(experiment_cpu, 1),
        "untried": {
            "reward_cents": UNTRIED_CENTS,
            "observed_seconds": observed,
            "predicted_seconds": prediction.median_seconds if prediction else None,
            "predicted_seconds_ci": prediction.seconds_ci if prediction else None,
        },
    }


def _best(accuracy: dict, on_time: dict, cost: dict, target: float) -> str | None:
    passing = [a for a in accuracy if accuracy[a] >= target and on_time[a]]
    return min(passing, key=lambda a: cost[a]) if passing else None


def _truth(records: list[dict], arms: list[str]) -> dict:
    """Each arm's pooled values over `records` (the other seeds)."""
    rows = {a: [next(r for r in rec["analysis"]["arms"] if r["arm"] == a) for rec in records] for a in arms}
    accuracy = {a: sum(r["correct"] for r in rows[a]) / sum(r["judged"] for r in rows[a]) for a in arms}
    per_object = {a: sum(r["spent_cents"] for r in rows[a]) / sum(r["completed"] for r in rows[a]) for a in arms}
    medians = {a: float(np.median([r["median_completion_seconds"] for r in rows[a]])) for a in arms}
    deadline = records[0]["analysis"]["deadline_seconds"]
    on_time = {
        a: np.mean([r["seconds_to_all"] is not None and r["seconds_to_all"] <= deadline for r in rows[a]]) > 0.5
        for a in arms
    }
    return {
        "accuracy": accuracy,
        "cost_per_object": per_object,
        "cost_per_correct": {a: per_object[a] / accuracy[a] for a in arms},
        "median": medians,
        "on_time": on_time,
    }


def _covers(interval: list | None, value: float) -> bool:
    return (
        bool(interval) and interval[0] is not None and interval[1] is not None and interval[0] <= value <= interval[1]
    )


def summarise(records: list[dict]) -> dict:
    arms = [a["arm"] for a in records[0]["analysis"]["arms"]]
    target = records[0]["analysis"]["quality_target"]
    picks, confidences, cover = [], [], {"accuracy": [], "cost_per_correct": [], "median": []}
    bests = []
    for index, record in enumerate(records):
        truth = _truth(records[:index] + records[index + 1 :], arms)
        best = _best(truth["accuracy"], truth["on_time"], truth["cost_per_object"], target)
        bests.append(best)
        recommendation = record["analysis"]["recommendation"]
        picks.append(recommendation["arm"] == best)
        confidences.append(recommendation["confidence"])
        for row in record["analysis"]["arms"]:
            a = row["arm"]
            cover["accuracy"].append(_covers(row["accuracy_ci"], truth["accuracy"][a]))
            cover["cost_per_correct"].append(_covers(row["cost_per_correct_cents_ci"], truth["cost_per_correct"][a]))
            cover["median"].append(_covers(row["median_completion_seconds_ci"], truth["median"][a]))
    pooled = _truth(records, arms)
    untried = [r["untried"] for r in records if r["untried"]["observed_seconds"] and r["untried"]["predicted_seconds"]]
    errors = np.array([u["predicted_seconds"] / u["observed_seconds"] - 1 for u in untried])
    power = [r["analysis"]["power"] for r in records]
    return {
        "seeds": len(records),
        "objects_per_arm": records[0]["objects"],
        "true_arms (all seeds pooled)": {
            a: {
                "accuracy": round(pooled["accuracy"][a], 4),
                "cost_per_object_cents": round(pooled["cost_per_object"][a], 3),
                "median_completion_seconds": round(pooled["median"][a], 1),
                "finishes_by_deadline": bool(pooled["on_time"][a]),
            }
            for a in arms
        },
        "truly_best_arm (leave-one-seed-out)": {b or "none": bests.count(b) for b in set(bests)},
        "recommendation_picks_truly_best": round(float(np.mean(picks)), 3),
        "mean_stated_confidence": round(float(np.mean(confidences)), 3),
        "recommended": {
            str(arm): sum(r["analysis"]["recommendation"]["arm"] == arm for r in records) for arm in [*arms, None]
        },
        "coverage_95": {k: round(float(np.mean(v)), 3) for k, v in cover.items()},
        "by_quality_target": target_sweep(records),
        "power_objects_per_arm_needed (median)": float(np.median([p["objects_per_arm_needed"] or 0 for p in power])),
        "power_now (median)": float(np.median([p["power_now"] for p in power])),
        "untried_reward_cents": UNTRIED_CENTS,
        "untried_prediction": {
            "runs": int(errors.size),
            "median_absolute_error": round(float(np.median(np.abs(errors))), 3) if errors.size else None,
            "mean_error (bias)": round(float(np.mean(errors)), 3) if errors.size else None,
            "interval_coverage_95": round(
                float(np.mean([_covers(u["predicted_seconds_ci"], u["observed_seconds"]) for u in untried])), 3
            )
            if untried
            else None,
            "median_observed_seconds": round(float(np.median([u["observed_seconds"] for u in untried])), 1)
            if untried
            else None,
        },
        "experiment_wall_seconds (median)": float(np.median([r["experiment_wall_seconds"] for r in records])),
        "experiment_cpu_seconds (median)": float(np.median([r["experiment_cpu_seconds"] for r in records])),
    }


def target_sweep(records: list[dict]) -> dict:
    """The recommendation replayed at each quality target on the same runs: how often it picks the truly
    best arm (leave-one-seed-out), its mean confidence, and how far the true accuracies are from the
    target (the closest arm's distance: below the power analysis's smallest difference, no run of
    this size can be sure which side of the target that arm is on)."""
    arms = [a["arm"] for a in records[0]["analysis"]["arms"]]
    deadline = records[0]["analysis"]["deadline_seconds"]
    sweep = {}
    for target in TARGETS:
        picks, confidences, margins = [], [], []
        for index, record in enumerate(records):
            truth = _truth(records[:index] + records[index + 1 :], arms)
            best = _best(truth["accuracy"], truth["on_time"], truth["cost_per_object"], target)
            results = [ArmResult(**row) for row in record["analysis"]["arms"]]
            recommendation = recommend(results, target, deadline, np.random.default_rng(record["seed"]))
            picks.append(recommendation.arm == best)
            confidences.append(recommendation.confidence)
            margins.append(min(abs(truth["accuracy"][a] - target) for a in arms))
        sweep[target] = {
            "picks_truly_best": round(float(np.mean(picks)), 3),
            "mean_confidence": round(float(np.mean(confidences)), 3),
            "closest_arm_to_target": round(float(np.median(margins)), 3),
        }
    return sweep


def reanalyse(record: dict, method: IntervalMethod = INTERVALS) -> dict:
    """The record with its analysis computed again from its stored raw data (the current statistics)."""
    spec = PricingExperimentSpec.model_validate(record["spec"])
    analysis = analyse_experiment(spec, [arm_data_from_json(row) for row in record["data"]], method)
    return {**record, "analysis": analysis.as_json()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--objects", type=int, default=200, help="objects per arm")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/crowd-broker-pricing-benchmark"))
    parser.add_argument(
        "--reanalyse", action="store_true", help="recompute each stored run's analysis from its raw data first"
    )
    parser.add_argument(
        "--intervals",
        metavar="ACCURACY:COMPLETION",
        help="with --reanalyse, the interval method (broker.experiments.analysis.IntervalMethod), "
        "e.g. objects:objects for object-only intervals",
    )
    args = parser.parse_args()
    method = IntervalMethod(*args.intervals.split(":")) if args.intervals else INTERVALS
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = args.workdir / "results.jsonl"
    done = {}
    if results.exists():
        for line in results.read_text().splitlines():
            record = json.loads(line)
            if record["objects"] == args.objects and "data" in record:
                done[record["seed"]] = record
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    missing = [seed for seed in seeds if seed not in done]
    if args.reanalyse and missing:
        parser.error(f"--reanalyse: seeds {missing} have no stored run in {results}; run them first")
    for seed in missing:
        record = run_seed(seed, args.objects, args.workdir)
        done[seed] = record
        with results.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        rec = record["analysis"]["recommendation"]
        print(
            f"seed {seed}: recommended {rec['arm']} ({rec['confidence']:.0%}), "
            f"{record['experiment_wall_seconds']} s wall, untried {record['untried']}",
            file=sys.stderr,
            flush=True,
        )
    records = [reanalyse(done[s], method) if args.reanalyse else done[s] for s in seeds]
    summary = summarise(records)
    print(yaml.safe_dump(summary, sort_keys=False))


if __name__ == "__main__":
    main()
