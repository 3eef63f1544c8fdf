"""Automated data labeling benchmark: what the loop saves, and how right its machine labels are.

    python benchmarks/autolabel.py                    # both datasets, default and one-coin consolidation
    python benchmarks/autolabel.py --only digits --validation-fraction 0.12
    python benchmarks/autolabel.py --only digits-20k --validation-fraction 0.05 --human-batch 500
    python benchmarks/autolabel.py --accuracy-against crowd-labels   # Ground Truth's definition
    python benchmarks/autolabel.py --seeds 3 --json   # several crowds, plus one JSON object per run

The whole loop runs offline (broker.autolabel.simulation): each human-labeled object gets 3
answers from distinct simulated workers (60 workers: 15% spammers answering at random, 25% sloppy
~0.70, the rest good ~0.93; a wrong answer is uniform over the other classes), validation objects
get --validation-workers answers (default 5), and all answers are consolidated with scoring; the
all-human baseline labels every object with the same crowd and consolidation.
Cost is MTurk's (broker.domain.money): reward x 3 + 20% fee per object (min 1 cent per assignment);
model compute is local and counted as 0. Accuracies are against the true labels.

Datasets: scikit-learn's digits (1,797 8x8 images, 10 classes; pixels as features) and a
20,000-object set made from digits by random 1-pixel shifts and pixel noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broker.autolabel import AutoLabelConfig  # noqa: E402
from broker.autolabel.simulation import Crowd, SimulationResult, simulate, simulate_all_human  # noqa: E402

REWARD_CENTS = 2
WORKERS_PER_OBJECT = 3


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data / 16.0, data.target


def augmented_digits(n_objects: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Digits resampled to `n_objects` with a random shift of up to one pixel and Gaussian noise."""
    from sklearn.datasets import load_digits

    data = load_digits()
    rng = np.random.default_rng([seed, 20_000])
    base = rng.integers(0, data.target.size, n_objects)
    images = data.images[base].astype(np.float64)
    shifts = rng.integers(-1, 2, size=(n_objects, 2))
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    rows = (np.arange(8)[None, :] + 1 - shifts[:, :1])[:, :, None]
    cols = (np.arange(8)[None, :] + 1 - shifts[:, 1:])[:, None, :]
    shifted = padded[np.arange(n_objects)[:, None, None], rows, cols]
    noisy = np.clip(shifted + rng.normal(0.0, 1.5, shifted.shape), 0.0, 16.0)
    return noisy.reshape(n_objects, 64) / 16.0, data.target[base]


DATASETS = {"digits": digits, "digits-20k": augmented_digits}
# label spreading uses the unlabeled images too: on both sets it beats every supervised model we tried
AUTO_MODEL = {"digits": "label-spreading", "digits-20k": "label-spreading"}


def run(
    name: str, consolidation: str, seed: int, config: AutoLabelConfig
) -> tuple[SimulationResult, SimulationResult, float]:
    features, truth = DATASETS[name]()
    crowd = Crowd.mix(60, seed=seed)
    started = time.perf_counter()
    result = simulate(
        features,
        truth,
        config,
        crowd,
        per_object=WORKERS_PER_OBJECT,
        reward_cents=REWARD_CENTS,
        seed=seed,
        consolidation=consolidation,
    )
    seconds = time.perf_counter() - started
    baseline = simulate_all_human(
        truth, crowd, per_object=WORKERS_PER_OBJECT, reward_cents=REWARD_CENTS, seed=seed, consolidation=consolidation
    )
    return result, baseline, seconds


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="digits,digits-20k", help="datasets: digits, digits-20k")
    parser.add_argument("--consolidation", default="default,one-coin", help="scoring estimators, comma-separated")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument(
        "--model",
        default="auto",
        help="logistic-regression, random-forest, mlp, label-spreading, or auto (label-spreading)",
    )
    parser.add_argument(
        "--validation-workers",
        type=int,
        default=5,
        help="answers per validation object (3 = same as every other object)",
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=None,
        help="default: Ground Truth's 20%% below 5,000 objects, 10%% above",
    )
    parser.add_argument(
        "--human-batch",
        type=int,
        default=None,
        help="objects sent to the crowd per iteration (default: 5%% of the job, 100 to 1,000)",
    )
    parser.add_argument("--accuracy-against", default="crowd-posterior", choices=["crowd-posterior", "crowd-labels"])
    parser.add_argument("--accuracy-scope", default="cumulative", choices=["cumulative", "batch"])
    parser.add_argument(
        "--cross-fit-folds",
        type=int,
        default=5,
        help="also judge the first batch's training objects out-of-fold (0: the validation set alone)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    config = AutoLabelConfig(
        target_accuracy=args.target,
        accuracy_against=args.accuracy_against,
        accuracy_scope=args.accuracy_scope,
        validation_workers_per_object=args.validation_workers,
        validation_fraction=args.validation_fraction,
        human_batch_size=args.human_batch,
        cross_fit_folds=args.cross_fit_folds,
    )
    print(
        f"target accuracy {args.target}, lower bound: {config.bound} at {config.confidence_level}, "
        f"accuracy against: {config.accuracy_against} ({config.accuracy_scope}), reward {REWARD_CENTS}c x "
        f"{WORKERS_PER_OBJECT} workers ({config.validation_workers_per_object} per validation object), "
        f"validation fraction: {config.validation_fraction or 'Ground Truth rule'}, "
        f"human batch: {config.human_batch_size or 'default'}, cross-fit folds: {config.cross_fit_folds}\n"
    )
    print(
        "| dataset | model | consolidation | seed | objects | human | machine | machine-labeled | machine acc "
        "| human acc | output acc | all-human acc | cost | all-human cost | saved | iterations | seconds |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.only.split(","):
        for consolidation in args.consolidation.split(","):
            model = AUTO_MODEL[name] if args.model == "auto" else args.model
            for seed in range(args.seeds):
                result, baseline, seconds = run(name, consolidation, seed, config.model_copy(update={"model": model}))
                cost = result.cost
                print(
                    f"| {name} | {model} | {consolidation} | {seed} | {result.n_objects} | {result.human_objects} "
                    f"| {result.machine_objects} | {_pct(result.machine_objects / result.n_objects)} "
                    f"| {_pct(result.machine_accuracy)} | {_pct(result.human_accuracy)} "
                    f"| {_pct(result.overall_accuracy)} | {_pct(baseline.overall_accuracy)} "
                    f"| ${cost.cost_cents / 100:,.2f} | ${cost.all_human_cost_cents / 100:,.2f} "
                    f"| {_pct(cost.saved_fraction)} | {len(result.iterations)} | {seconds:.1f} |",
                    flush=True,
                )
                if args.json:
                    print(
                        json.dumps(
                            {
                                "dataset": name,
                                "model": model,
                                "consolidation": consolidation,
                                "seed": seed,
                                "all_human_accuracy": baseline.overall_accuracy,
                                **result.to_dict(),
                            }
                        )
                    )


if __name__ == "__main__":
    main()
