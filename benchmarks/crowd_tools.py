"""How close each simulated worker model gets to the truth on the annotation tools.

Renders built-in pages with broker.templates, lets workers of each model answer them through
the crowd's element_answer (no marketplace), and prints one table: box IoU, mask pixel
agreement, entity span F1 and verification accuracy per model (mean over workers and objects).

    python benchmarks/crowd_tools.py [--objects 30] [--workers 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's `scoring` package, not benchmarks/scoring.py beside this script

from broker.marketplace.crowd import masks, spans  # noqa: E402
from broker.marketplace.crowd.answers import element_answer, task_input_from_block  # noqa: E402
from broker.marketplace.crowd.models import draw_spec  # noqa: E402
from broker.marketplace.crowd.pages import parse_page  # noqa: E402
from broker.marketplace.crowd.shapes import box_iou  # noqa: E402
from broker.templates import build_task_input, build_verification_task_input, builtin_template_source, render_task_html  # noqa: E402

LABELS = ["car", "person", "tree"]
BOXES = [
    {"label": "car", "left": 20, "top": 30, "width": 60, "height": 40},
    {"label": "tree", "left": 120, "top": 10, "width": 50, "height": 90},
]
SIZE = {"width": 200, "height": 120}
TEXT = "Ada Lovelace met Charles Babbage in London on 5 June 1833, at the Royal Society."
ENTITIES = [
    {"label": "person", "startOffset": 0, "endOffset": 12},
    {"label": "person", "startOffset": 17, "endOffset": 32},
    {"label": "place", "startOffset": 36, "endOffset": 42},
    {"label": "org", "startOffset": 66, "endOffset": 79},
]
NER_LABELS = ["person", "place", "org", "date"]
KINDS = ("good", "sloppy", "spammer", "constant", "adversary")


def page(task_type: str, data_object: dict[str, Any], labels: list[str]) -> Any:
    task_input = build_task_input(
        task_type,
        data_object,
        labels=labels,
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )
    html = render_task_html(
        builtin_template_source(task_type),
        task_input,
        task_type=task_type,
        data_object=data_object,
        grant_read_access=lambda uri: "https://b.example/" + uri.rsplit("/", 1)[-1],
    )
    return task_input_from_block(parse_page(html).task_input)


def verification_page(index: int, size: int = 10) -> Any:
    objects = [{"source-ref": f"s3://b/pet-{index}-{i}.jpg"} for i in range(size)]
    task_input = build_verification_task_input(
        objects,
        [f"p{index}-{i}" for i in range(size)],
        label="cat",
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )
    html = render_task_html(
        builtin_template_source("label-verification"),
        task_input,
        task_type="label-verification",
        data_object={},
        grant_read_access=lambda uri: "https://b.example/" + uri.rsplit("/", 1)[-1],
    )
    return task_input_from_block(parse_page(html).task_input)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    images = [page("bounding-box", {"source-ref": f"s3://b/img-{i}.png"}, LABELS) for i in range(args.objects)]
    segs = [
        page("semantic-segmentation", {"source-ref": f"s3://b/img-{i}.png"}, LABELS) for i in range(args.objects // 3)
    ]
    texts = [page("named-entity-recognition", {"source": f"{TEXT} #{i}"}, NER_LABELS) for i in range(args.objects)]
    batches = [verification_page(i) for i in range(max(1, args.objects // 10))]
    truth: dict[str, Any] = {p.key: {"boundingBoxes": BOXES, "regions": BOXES, **SIZE} for p in images}
    truth.update({p.key: {"entities": ENTITIES} for p in texts})
    fits = {}
    for batch in batches:
        for i, item in enumerate(batch.data_objects):
            truth[item["source-ref"]] = "cat" if i % 3 else "dog"
            fits[item["id"]] = bool(i % 3)
    true_map = np.zeros((120, 200), dtype=np.uint8)
    for box in BOXES:
        true_map[box["top"] : box["top"] + box["height"], box["left"] : box["left"] + box["width"]] = (
            LABELS.index(box["label"]) + 1
        )
    true_boxes = np.array([[b["left"], b["top"], b["width"], b["height"]] for b in BOXES], dtype=float)
    print(f"{'model':<10} {'box IoU':>8} {'mask agree':>10} {'span F1':>8} {'verify acc':>10}")
    for kind in KINDS:
        iou, agree, f1, acc = [], [], [], []
        for w in range(args.workers):
            spec = draw_spec(kind, args.seed, w)
            for p in images:
                boxes = element_answer(spec, p, truth[p.key], args.seed, w)["boundingBoxes"]
                given = np.array([[b["left"], b["top"], b["width"], b["height"]] for b in boxes], dtype=float)
                iou.extend(box_iou(true_boxes, given).max(axis=1) if len(given) else np.zeros(len(BOXES)))
            for p in segs:
                answer = element_answer(spec, p, truth[p.key], args.seed, w)
                agree.append((masks.decode_png(answer["labeledImage"]["pngImageData"], LABELS) == true_map).mean())
            for p in texts:
                f1.append(spans.span_f1(element_answer(spec, p, truth[p.key], args.seed, w)["entities"], ENTITIES))
            for p in batches:
                items = element_answer(spec, p, None, args.seed, w, truth_table=truth)["items"]
                acc.extend(i["correct"] == fits[i["id"]] for i in items)
        print(f"{kind:<10} {np.mean(iou):>8.3f} {np.mean(agree):>10.3f} {np.mean(f1):>8.3f} {np.mean(acc):>10.3f}")


if __name__ == "__main__":
    main()
