"""The error budget with and without the test gate: how often does a job whose model is below the target claim it?

    python benchmarks/autolabel_gate.py --jobs 3000

Each simulated job has 10 iterations; every iteration's model is 94% right (target 95%) on 200
evidence objects, its mistakes and confidences drawn afresh (the worst case for repeated looks),
the first 80 of them being the cross-fitted objects the gate reads. The job's tests share one
error budget of 5% (broker.autolabel.threshold.ErrorBudget). Printed: the share of jobs in which
some test claimed 95%, without a gate, with the gate on objects the test also reads (the loop's
`test_gate: predicted-pass`) and with a gate on 80 separate objects.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broker.autolabel.threshold import ErrorBudget, choose_threshold, predicted_pass  # noqa: E402

TARGET = 0.95
EVIDENCE = 200
GATE = 80


def wrong_claim(rng: np.random.Generator, gate: str, accuracy: float, iterations: int = 10) -> bool:
    """Does any test of one job claim the target its models do not reach?"""
    budget = ErrorBudget(0.05)
    for _ in range(iterations):
        confidence, right = rng.random(EVIDENCE), rng.random(EVIDENCE) < accuracy
        alpha = budget.next_alpha()
        if gate == "same" and not predicted_pass(confidence, confidence[:GATE], right[:GATE], TARGET, 1 - alpha):
            continue
        if gate == "separate" and not predicted_pass(
            confidence, rng.random(GATE), rng.random(GATE) < accuracy, TARGET, 1 - alpha
        ):
            continue
        choice = choose_threshold(confidence, right, TARGET, 1 - alpha)
        budget.book(alpha, passed=choice is not None)
        if choice is not None:
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accuracy", type=float, default=0.94, help="every model's true accuracy")
    args = parser.parse_args(argv)
    slack = 2 * np.sqrt(0.05 * 0.95 / args.jobs)
    for gate in ("none", "same", "separate"):
        rng = np.random.default_rng(args.seed)
        share = np.mean([wrong_claim(rng, gate, args.accuracy) for _ in range(args.jobs)])
        print(f"gate {gate}: some test claimed {TARGET:.0%} in {share:.2%} of {args.jobs} jobs (+-{slack:.2%})")


if __name__ == "__main__":
    main()
