"""The simulated demo: wall and CPU time of `broker demo` on the simulated clock, and that it repeats.

    python benchmarks/simulation.py                 # the full demo (1,797 digits x 3), twice
    python benchmarks/simulation.py --objects 300 --runs 3

Each run is a fresh demo in the same folder with the same seed; the summaries (all but wall
time) must be identical. CPU time is the process's (broker, marketplace server thread and crowd
share it), which depends much less than wall time on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's `scoring` package, not benchmarks/scoring.py beside this script

from broker.demo import DemoOptions, run_demo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=None, help="digits to label (default: all 1,797)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    summaries = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            wall, cpu = time.perf_counter(), time.process_time()
            summary = run_demo(
                DemoOptions(output=Path(folder) / "demo", objects=args.objects, seed=args.seed, show_progress=False)
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            data = summary.as_dict()
            data.pop("wall_seconds")
            summaries.append(data)
            print(
                f"run {run + 1}: {data['objects']} objects, {data['assignments']} assignments, "
                f"accuracy {data.get('accuracy')}, majority vote {data.get('majority_vote_accuracy')}: "
                f"wall {wall:.1f} s, CPU {cpu:.1f} s"
            )
    identical = all(s == summaries[0] for s in summaries)
    print(f"identical summaries over {args.runs} runs: {identical}")
    print(json.dumps(summaries[0]))


if __name__ == "__main__":
    main()
