"""Pricing experiments on simulated crowds: does the recommendation pick the truly best arm, do the
95% intervals cover, and how well does the completion-time model predict an untried reward?

    python benchmarks/pricing.py                       # 50 seeds, 3 arms x 200 objects (resumes a stopped run)
    python benchmarks/pricing.py --seeds 10 --objects 100 --workdir /tmp/pricing-small
    python benchmarks/pricing.py --seeds 30 --allocation thompson      # adaptive allocation against fixed

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

`--allocation thompson` runs the same seeds with adaptive allocation (the spec's defaults: a warm-up
of 20 objects per arm, rounds of 60, each arm at least 5% of a round; the same 600 objects in all,
no untried arm) into <workdir>/results-thompson.jsonl, and compares it with the fixed runs of the
same seeds in <workdir>/results.jsonl (run those first): each seed's truth is the fixed runs of the
other seeds pooled, whichever allocation is judged. Reported: how often the recommendation picks
the truly best arm, the objects and money spent on the other arms, and the coverage of the plain
and the weighted (inverse-propensity) accuracy intervals.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
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
        "propensity",
        "round_index",
        "answer_round",
    }
    dtypes = {
        "finished": bool,
        "correct": np.int64,
        "object_workers": np.int64,
        "round_index": np.int64,
        "answer_round": np.int64,
    }
    return ArmData(**{k: (np.asarray(v, dtype=dtypes.get(k, float)) if k in arrays else v) for k, v in row.items()})


def run_seed(seed: int, objects: int, workdir: Path, allocation: str = "fixed") -> dict:
    """One simulated experiment and (fixed allocation) one untried arm alone; the figures the summary needs."""
    spec = load_experiment_spec(EXAMPLE)
    arms = [arm.model_copy(update={"budget_cents": None}) for arm in spec.arms]
    spec = spec.model_copy(update={"arms": arms, "objects_per_arm": objects, "allocation": allocation})
    started = time.perf_counter(), time.process_time()
    folder = workdir / (f"seed{seed}" if allocation == "fixed" else f"seed{seed}-{allocation}")
    run = simulate_experiment_data(spec, folder, seed=seed)
    analysis = analyse_experiment(run.spec, run.data)
    experiment_wall, experiment_cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    record = {
        "seed": seed,
        "objects": objects,
        "allocation": allocation,
        "analysis": analysis.as_json(),
        "data": [arm_data_json(d) for d in run.data],
        "spec": run.spec.model_dump(mode="json"),
        "experiment_wall_seconds": round(experiment_wall, 1),
        "experiment_cpu_seconds": round(experiment_cpu, 1),
    }
    if allocation != "fixed":
        return record

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
        **record,
        "untried": {
            "reward_cents": UNTRIED_CENTS,
            "observed_seconds": observed,
            "predicted_seconds": prediction.median_seconds if prediction else None,
            "predicted_seconds_ci": prediction.seconds_ci if prediction else None,
        },
    }


def compare_allocations(fixed: list[dict], adaptive: list[dict]) -> dict:
    """Adaptive against fixed allocation on the same seeds, each seed judged against the fixed runs of the
    other seeds pooled (leave-one-seed-out)."""
    arms = [a["arm"] for a in fixed[0]["analysis"]["arms"]]
    target = fixed[0]["analysis"]["quality_target"]
    by_seed = {r["seed"]: r for r in fixed}
    rows: dict[str, dict[str, list]] = {name: {} for name in ("fixed", "thompson")}
    for record in adaptive:
        others = [r for s, r in by_seed.items() if s != record["seed"]]
        truth = _truth(others, arms)
        best = _best(truth["accuracy"], truth["on_time"], truth["cost_per_object"], target)
        for name, run in (("fixed", by_seed[record["seed"]]), ("thompson", record)):
            result = {a["arm"]: a for a in run["analysis"]["arms"]}
            row = rows[name]
            row.setdefault("picks", []).append(run["analysis"]["recommendation"]["arm"] == best)
            row.setdefault("confidence", []).append(run["analysis"]["recommendation"]["confidence"])
            row.setdefault("worse_objects", []).append(sum(result[a]["objects"] for a in arms if a != best))
            row.setdefault("worse_cents", []).append(sum(result[a]["spent_cents"] for a in arms if a != best))
            row.setdefault("cents", []).append(sum(result[a]["spent_cents"] for a in arms))
            for a in arms:
                row.setdefault(f"objects {a}", []).append(result[a]["objects"])
                row.setdefault("cover", []).append(_covers(result[a]["accuracy_ci"], truth["accuracy"][a]))
                if result[a].get("accuracy_weighted_ci"):
                    weighted = _covers(result[a]["accuracy_weighted_ci"], truth["accuracy"][a])
                    row.setdefault("cover_weighted", []).append(weighted)
                    row.setdefault("error_plain", []).append(result[a]["accuracy"] - truth["accuracy"][a])
                    row.setdefault("error_weighted", []).append(result[a]["accuracy_weighted"] - truth["accuracy"][a])

    def mean(values: list, digits: int = 3) -> float | None:
        return round(float(np.mean(values)), digits) if values else None

    return {
        "seeds": len(adaptive),
        "truly_best_arm (leave-one-seed-out, fixed runs)": dict(
            Counter(str(_best_of(by_seed, r["seed"], arms, target)) for r in adaptive)
        ),
        **{
            name: {
                "recommendation_picks_truly_best": mean(row["picks"]),
                "mean_stated_confidence": mean(row["confidence"]),
                "mean_objects_per_arm": {a: mean(row[f"objects {a}"], 1) for a in arms},
                "objects_on_other_arms (mean)": mean(row["worse_objects"], 1),
                "dollars_on_other_arms (mean)": round(float(np.mean(row["worse_cents"])) / 100, 2),
                "dollars_in_all (mean)": round(float(np.mean(row["cents"])) / 100, 2),
                "accuracy_interval_coverage_95": mean(row["cover"]),
                "weighted_accuracy_interval_coverage_95": mean(row.get("cover_weighted", [])),
                "plain_accuracy_mean_error": mean(row.get("error_plain", []), 4),
                "weighted_accuracy_mean_error": mean(row.get("error_weighted", []), 4),
            }
            for name, row in rows.items()
        },
        "accuracy_by_share_of_round (thompson; warm-up, then after it by the arm's share)": share_accuracy(adaptive),
        "experiment_wall_seconds (median, thompson)": float(
            np.median([r["experiment_wall_seconds"] for r in adaptive])
        ),
    }


SHARE_BINS = ((0.0, 0.2), (0.2, 0.5), (0.5, 0.8), (0.8, 1.01))


def share_accuracy(adaptive: list[dict]) -> dict:
    """Per arm, the accuracy of its objects in the warm-up and in the later rounds binned by the arm's share
    of the round (pooled over seeds): whether an arm's accuracy depends on how much of the work it has."""
    table: dict[str, dict[str, str]] = {}
    for record in adaptive:
        for row in record["data"]:
            correct, share = np.asarray(row["correct"]), np.asarray(row["propensity"])
            rounds = np.asarray(row["round_index"])
            masks = {"warm-up": rounds == 0}
            masks.update(
                {
                    f"share {lo:.1f}-{min(hi, 1.0):.1f}": (rounds > 0) & (share >= lo) & (share < hi)
                    for lo, hi in SHARE_BINS
                }
            )
            for name, mask in masks.items():
                judged = mask & (correct >= 0)
                cell = table.setdefault(row["arm"], {}).setdefault(name, [0, 0])
                cell[0] += int((correct[judged] == 1).sum())
                cell[1] += int(judged.sum())
    return {
        arm: {name: f"{right / judged:.3f} of {judged}" for name, (right, judged) in cells.items() if judged}
        for arm, cells in table.items()
    }


def _best_of(by_seed: dict, seed: int, arms: list[str], target: float) -> str | None:
    truth = _truth([r for s, r in by_seed.items() if s != seed], arms)
    return _best(truth["accuracy"], truth["on_time"], truth["cost_per_object"], target)


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
    parser.add_argument(
        "--allocation",
        choices=("fixed", "thompson"),
        default="fixed",
        help="thompson: run the seeds with adaptive allocation and compare them with the fixed runs of the same seeds",
    )
    args = parser.parse_args()
    method = IntervalMethod(*args.intervals.split(":")) if args.intervals else INTERVALS
    args.workdir.mkdir(parents=True, exist_ok=True)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    fixed_results = args.workdir / "results.jsonl"
    results = fixed_results if args.allocation == "fixed" else args.workdir / f"results-{args.allocation}.jsonl"
    done = _stored(results, args.objects)
    missing = [seed for seed in seeds if seed not in done]
    if args.reanalyse and missing:
        parser.error(f"--reanalyse: seeds {missing} have no stored run in {results}; run them first")
    for seed in missing:
        record = run_seed(seed, args.objects, args.workdir, args.allocation)
        done[seed] = record
        with results.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        rec = record["analysis"]["recommendation"]
        print(
            f"seed {seed}: recommended {rec['arm']} ({rec['confidence']:.0%}), "
            f"{record['experiment_wall_seconds']} s wall, untried {record.get('untried')}",
            file=sys.stderr,
            flush=True,
        )
    records = [reanalyse(done[s], method) if args.reanalyse else done[s] for s in seeds]
    if args.allocation != "fixed":
        fixed = _stored(fixed_results, args.objects)
        missing = [seed for seed in seeds if seed not in fixed]
        if missing:
            parser.error(f"--allocation {args.allocation}: seeds {missing} have no fixed run in {fixed_results}")
        fixed_records = [reanalyse(fixed[s], method) if args.reanalyse else fixed[s] for s in seeds]
        print(yaml.safe_dump(compare_allocations(fixed_records, records), sort_keys=False))
        return
    summary = summarise(records)
    print(yaml.safe_dump(summary, sort_keys=False))


def _stored(path: Path, objects: int) -> dict[int, dict]:
    """The runs stored in `path` with this many objects per arm, by seed."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record["objects"] == objects and "data" in record:
                done[record["seed"]] = record
    return done


if __name__ == "__main__":
    main()
