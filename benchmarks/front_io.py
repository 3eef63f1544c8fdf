"""Throughput of the broker's front half: manifest reading, output writing, answer parsing.

    python benchmarks/front_io.py [--objects 100000]

Prints a table (objects per second). Ground Truth's job limit is 100,000 objects, so the default
size is the largest manifest a job can have.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's `scoring` package, not benchmarks/scoring.py beside this script

from broker.domain.answers import answer_content, class_indices  # noqa: E402
from broker.manifest import read_manifest  # noqa: E402
from broker.output import ObjectResult, OutputWriter  # noqa: E402
from broker.spec import JobSpec  # noqa: E402
from broker.tasks.registry import task_type  # noqa: E402

ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?><QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/'
    'AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"><Answer><QuestionIdentifier>taskAnswers'
    "</QuestionIdentifier><FreeText>[{&quot;crowd-image-classifier&quot;:{&quot;label&quot;:&quot;dog&quot;}}]"
    "</FreeText></Answer></QuestionFormAnswers>"
)


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    count = parser.parse_args().objects
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        manifest = root / "input.manifest"
        manifest.write_text(
            "".join(
                json.dumps({"source-ref": f"s3://bucket/images/{index:06d}.jpg", "id": index, "split": "train"}) + "\n"
                for index in range(count)
            )
        )
        spec = JobSpec.model_validate(
            {
                "job_name": "bench",
                "task_type": "image-classification",
                "labels": ["cat", "dog", "bird"],
                "input_manifest": str(manifest),
                "output": str(root / "out"),
                "reward_cents": 5,
                "title": "t",
                "description": "d",
            }
        )
        read_seconds, (lines, _) = timed(lambda: read_manifest(str(manifest), task_type=spec.task_type))
        inputs = [line.data for line in lines]
        outcomes = {index: ObjectResult(label=index % 3, confidence=0.9) for index in range(count)}
        writer = OutputWriter(spec)
        write_seconds, _ = timed(lambda: writer.write_outputs(inputs, outcomes, datetime.now(UTC)))
        answers = min(count, 20_000)
        task = task_type(spec.task_type)
        parse_seconds, _ = timed(
            lambda: [
                class_indices(answer_content(ANSWER), task.element, task.multilabel, spec.labels)
                for _ in range(answers)
            ]
        )
    rows = [
        ("read + check input manifest", count, read_seconds),
        ("build + write output.manifest", count, write_seconds),
        ("parse QuestionFormAnswers -> label index", answers, parse_seconds),
    ]
    print(f"{'step':<44}{'items':>10}{'seconds':>10}{'items/s':>12}")
    for name, items, seconds in rows:
        print(f"{name:<44}{items:>10,}{seconds:>10.2f}{items / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
