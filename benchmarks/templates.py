"""HIT rendering figures: HTMLQuestion size and render time per data object, per task type.

    python benchmarks/templates.py [--objects 300]

Each object goes through build_task_input -> render_task_html -> html_question, as the
publish tick does, with realistic instructions (short + full HTML, a good image example,
a bad text example) and 10 labels; text objects are 600-character reviews.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's `scoring` package, not benchmarks/scoring.py beside this script

from broker.templates import (  # noqa: E402
    BUILTIN_TASK_TYPES,
    MAX_QUESTION_BYTES,
    TASK_TYPES,
    build_task_input,
    builtin_template_source,
    html_question,
    render_task_html,
)

SHORT = (
    "<p>Look at the whole item before you choose. Pick the category of the <b>main subject</b>.</p>"
    "<p>If two categories fit, choose the more specific one; use <b>Other</b> only when none fits.</p>"
)
FULL = (
    "<h3>What we need</h3><ol>"
    + "".join(
        f"<li><strong>Step {i}.</strong> Read the options and the examples; items may be dark, blurry "
        "or cropped, choose the best match anyway.</li>"
        for i in range(1, 9)
    )
    + "</ol>"
)
LABELS = [f"category {i}" for i in range(10)]


def grant(uri: str) -> str:
    return f"https://bucket.s3.amazonaws.com/{uri[5:]}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={'0' * 64}"


def data_object(task_type: str, index: int) -> dict[str, str]:
    if TASK_TYPES[task_type].source_key == "source-ref":
        return {"source-ref": f"s3://bucket/images/{index:06d}.jpg"}
    return {"source": f"Review {index}: " + "the parcel came late but support was helpful. " * 13}


def measure(task_type: str, objects: int) -> tuple[int, float, float]:
    """(HTMLQuestion bytes, median ms per object, objects per second)."""
    source = builtin_template_source(task_type)
    timings: list[float] = []
    size = 0
    for index in range(objects):
        data = data_object(task_type, index)
        start = time.perf_counter()
        task_input = build_task_input(
            task_type,
            data,
            labels=LABELS,
            header="",
            short_instructions=SHORT,
            full_instructions=FULL,
            good_examples=["s3://bucket/examples/good.jpg"],
            bad_examples=["<p>A blurry close-up.</p>"],
        )
        html = render_task_html(source, task_input, task_type=task_type, data_object=data, grant_read_access=grant)
        question = html_question(html)
        timings.append(time.perf_counter() - start)
        size = max(size, len(question.encode("utf-8")))
    median = statistics.median(timings)
    return size, median * 1000, 1 / median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=300)
    args = parser.parse_args()
    print(f"| task type | HTMLQuestion bytes | % of {MAX_QUESTION_BYTES:,} | ms / object (median) | objects / s |")
    print("|---|---:|---:|---:|---:|")
    for task_type in BUILTIN_TASK_TYPES:
        size, ms, rate = measure(task_type, args.objects)
        print(f"| {task_type} | {size:,} | {100 * size / MAX_QUESTION_BYTES:.0f}% | {ms:.2f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
