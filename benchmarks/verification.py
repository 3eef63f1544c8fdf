"""Label-verification benchmark: consolidated verdicts vs the truth, EM against majority vote.

    python benchmarks/verification.py                        # 10,000 objects, batches of 25, 3 workers
    python benchmarks/verification.py --objects 2000 --batch-size 10 --error-rate 0.1 --json

Offline: the simulated crowd's own verification model (broker.marketplace.crowd.verification)
answers each batch, three distinct workers per batch drawn from a pool of 30 (default mix 60%
good ~0.93, 25% sloppy ~0.70, 15% spammers, half of whom leave every item checked). A fraction
`--error-rate` of the shown (model) labels is wrong. Verdicts are consolidated over the whole job
with scoring.VerificationConsolidator (the broker's default estimator) and with majority vote.
Accuracy is the share of objects whose consolidated verdict matches the truth; time is the
consolidation's wall time per 1,000 objects.
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

import scoring  # noqa: E402
from broker.marketplace.crowd.models import DEFAULT_MIX, worker_specs  # noqa: E402
from broker.marketplace.crowd.verification import answer_verification  # noqa: E402


def simulate(
    objects: int, batch_size: int, error_rate: float, workers_per_batch: int, pool: int, mix: str, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(object, worker, verdict) per answered item, and the truth (0 fits, 1 does not) per object."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(objects) < error_rate).astype(np.int64)
    table = {f"obj-{i}": {"correct": not truth[i]} for i in range(objects)}
    specs = worker_specs(pool, seed, mix)
    rows_o, rows_w, rows_v = [], [], []
    for start in range(0, objects, batch_size):
        items = [{"id": str(i), "source-ref": f"obj-{i}"} for i in range(start, min(start + batch_size, objects))]
        for worker in rng.choice(pool, size=workers_per_batch, replace=False):
            answer = answer_verification(specs[worker], "cat", items, table, seed, int(worker))
            rows_o.append([int(item["id"]) for item in answer["items"]])
            rows_v.append([0 if item["correct"] else 1 for item in answer["items"]])
            rows_w.append(np.full(len(items), worker))
    return np.concatenate(rows_o), np.concatenate(rows_w), np.concatenate(rows_v), truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--error-rate", type=float, default=0.25, help="share of shown labels that are wrong")
    parser.add_argument("--workers", type=int, default=3, help="workers per batch")
    parser.add_argument("--pool", type=int, default=30, help="workers in the crowd")
    parser.add_argument("--mix", default=DEFAULT_MIX)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    objects, workers, verdicts, truth = simulate(
        args.objects, args.batch_size, args.error_rate, args.workers, args.pool, args.mix, args.seed
    )
    started = time.perf_counter()
    em = scoring.VerificationConsolidator().fit(objects, workers, verdicts, n_objects=args.objects, n_workers=args.pool)
    seconds = time.perf_counter() - started
    majority = scoring.VerificationConsolidator(method="majority").fit(
        objects, workers, verdicts, n_objects=args.objects, n_workers=args.pool
    )
    result = {
        "objects": args.objects,
        "batch_size": args.batch_size,
        "hits": -(-args.objects // args.batch_size),
        "workers_per_batch": args.workers,
        "error_rate": args.error_rate,
        "mix": args.mix,
        "seed": args.seed,
        "em_accuracy": round(float(np.mean(em.labels_ == truth)), 4),
        "majority_accuracy": round(float(np.mean(majority.labels_ == truth)), 4),
        "all_checked_accuracy": round(float(np.mean(truth == 0)), 4),
        "wrong_labels_caught": round(float(np.mean(em.labels_[truth == 1] == 1)), 4),
        "consolidation_seconds_per_1000": round(seconds / args.objects * 1000, 4),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
