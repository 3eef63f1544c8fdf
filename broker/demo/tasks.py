"""The demo's data: generated objects with known truth per task, and each task's quality figure.

digits         scikit-learn's 1,797 handwritten digits as PNGs (upscaled, dark on white), labeled as
               image classification with 10 classes (the default `broker demo`; its accuracy
               figures are computed in broker.demo).
bounding-box   scenes of filled shapes (rectangle, ellipse, triangle) on a light background; the
               truth is each shape's bounding rectangle. Quality: mean matched IoU per image
               (scoring.matched_iou: Hungarian-matched same-class boxes, misses and extras count 0).
bounding-box-adjustment  the same scenes, each with an earlier job's boxes to correct (two thirds
               of them shifted by a third of their width and a quarter of their height, a box missing
               in every fourth scene, a spurious one in every fifth). Quality: mean IoU as for boxes, next
               to the earlier boxes' (`initial_mean_iou`).
semantic-segmentation  the same scenes; the truth is each shape's pixels (a mask PNG in the paint
               tool's colours). Quality: mean mask IoU per image over the classes present
               (scoring.mask_iou, background included).
verification   scikit-learn's digits labeled by a small model (logistic regression on 60 of them, so
               about a fifth of its labels are wrong), with the model's confidence; workers uncheck
               the wrong ones in batches of 25. Quality: accuracy of the consolidated verdicts (does
               the model's label fit?) against the true digits.
named-entity   sentences built from names, places and organisations with known offsets. Quality:
               exact-span F1 (start, end and label all right) over the job.

Both also report the same figure for a single worker's answer (the mean over every usable
answer), so the summary shows what consolidation bought.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from broker.annotations.masks import decode_ids, job_palette
from broker.domain.lifecycle import ObjectStatus
from broker.store import reading
from broker.store.answers import answers_for_consolidation, verdict_arrays
from broker.store.views import job_by_id, object_results
from scoring import label_mask_from_rgb, mask_iou, matched_iou

JOB_NAME = "digits"
LABELS = [str(d) for d in range(10)]
IMAGE_SIZE = 96
SHAPES = ["rectangle", "ellipse", "triangle"]
SCENE_W, SCENE_H = 160, 120
ENTITY_LABELS = ["person", "place", "organization"]
PEOPLE = [
    "Ada Lovelace",
    "Alan Turing",
    "Grace Hopper",
    "Katherine Johnson",
    "Tim Berners-Lee",
    "Hedy Lamarr",
    "Claude Shannon",
    "Margaret Hamilton",
    "Linus Torvalds",
    "Barbara Liskov",
]
PLACES = ["London", "Paris", "New York", "Nairobi", "Tokyo", "Buenos Aires", "Oslo", "Lagos", "Sydney", "Lima"]
ORGS = [
    "Acme Corp",
    "the Royal Society",
    "Bell Labs",
    "the United Nations",
    "Globex",
    "the Red Cross",
    "Initech",
    "the World Bank",
]
SENTENCES = [  # {p}: person, {l}: place, {o}: organization
    "{p} flew from {l} to {l} to meet {p}.",
    "Yesterday {p} joined {o} in {l}.",
    "{o} opened an office in {l} last spring.",
    "According to {p}, {o} will move to {l}.",
    "The weather in {l} was mild all week.",
    "{p} and {p} wrote the report for {o}.",
    "Nobody expected the results to be so clear.",
]
TASK_DEFAULTS = {  # objects, workers per object (Ground Truth's console defaults: 5 for boxes, 3 otherwise)
    "bounding-box": (120, 5),
    "bounding-box-adjustment": (120, 3),
    "semantic-segmentation": (100, 3),
    "named-entity": (150, 3),
    "verification": (500, 3),
}
MODEL_TRAINING_DIGITS = 60


@dataclass(frozen=True)
class DemoData:
    spec: dict[str, Any]  # the task-specific part of the job spec
    manifest: Path
    truth: dict[str, Any]  # source-ref / source -> the simulated crowd's truth record


DIGITS_SPEC = {
    "job_name": JOB_NAME,
    "task_type": "image-classification",
    "labels": LABELS,
    "header": "Which digit is this?",
    "instructions": {
        "short": "Pick the digit shown in the image.",
        "full": "Each image is one handwritten digit from 0 to 9. Pick the digit you see.",
    },
    "reward": "0.02",
    "title": "Recognise a handwritten digit",
    "description": "Look at a small image of a handwritten digit and say which digit it is.",
    "keywords": ["image", "digit", "classification"],
}


def load_digits() -> Any:
    """scikit-learn's digits data set."""
    # heavy optional dependency: scikit-learn takes about a second to import; only the demo's digits need it
    from sklearn.datasets import load_digits as sklearn_digits

    return sklearn_digits()


def write_digits(folder: Path, limit: int | None) -> tuple[Path, dict[str, str]]:
    """PNG per digit (8x8 -> IMAGE_SIZE, nearest, dark ink on white) + input manifest; truth by path."""
    digits = load_digits()
    n = len(digits.images) if limit is None else min(limit, len(digits.images))
    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    truth: dict[str, str] = {}
    lines = []
    pixels = (255 - digits.images[:n] * (255 / 16)).clip(0, 255).astype(np.uint8)
    for i in range(n):
        path = (images_dir / f"digit-{i:04d}.png").resolve()
        if not path.exists():
            Image.fromarray(pixels[i], mode="L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.NEAREST).save(path)
        truth[str(path)] = str(int(digits.target[i]))
        lines.append(json.dumps({"source-ref": str(path)}))
    manifest = folder / "input.manifest"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest, truth


def write_scenes(folder: Path, n: int, seed: int, masks: bool = False) -> DemoData:
    """n PNG scenes of 1-3 shapes each, their input manifest, and the true boxes (with `masks`, the
    true label mask of each scene, a PNG in the paint tool's colours, as the truth instead)."""
    rng = np.random.default_rng(seed)
    images = folder / "scenes"
    images.mkdir(parents=True, exist_ok=True)
    palette = [tuple(int(c) for c in color) for color in job_palette(SHAPES)]
    truth: dict[str, Any] = {}
    lines = []
    for i in range(n):
        image = Image.new("RGB", (SCENE_W, SCENE_H), (235, 235, 228))
        draw = ImageDraw.Draw(image)
        mask = Image.new("RGB", (SCENE_W, SCENE_H), palette[0])
        paint = ImageDraw.Draw(mask)
        boxes = []
        for _ in range(int(rng.integers(1, 4))):
            w, h = (int(v) for v in rng.integers(18, 60, size=2))
            left, top = int(rng.integers(0, SCENE_W - w)), int(rng.integers(0, SCENE_H - h))
            shape = SHAPES[int(rng.integers(0, len(SHAPES)))]
            color = tuple(int(c) for c in rng.integers(20, 180, size=3))
            corners = [left, top, left + w - 1, top + h - 1]
            for canvas, fill in ((draw, color), (paint, palette[1 + SHAPES.index(shape)])):
                if shape == "rectangle":
                    canvas.rectangle(corners, fill=fill)
                elif shape == "ellipse":
                    canvas.ellipse(corners, fill=fill)
                else:
                    canvas.polygon([(left, top + h - 1), (left + w - 1, top + h - 1), (left + w // 2, top)], fill=fill)
            boxes.append({"label": shape, "left": left, "top": top, "width": w, "height": h})
        path = (images / f"scene-{i:04d}.png").resolve()
        image.save(path)
        truth[str(path)] = {"boundingBoxes": boxes, "width": SCENE_W, "height": SCENE_H}
        if masks:
            mask_path = path.with_name(f"scene-{i:04d}-mask.png")
            mask.save(mask_path)
            truth[str(path)] = {"mask": str(mask_path)}
        lines.append(json.dumps({"source-ref": str(path)}))
    manifest = folder / "input.manifest"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {
        "job_name": "shapes",
        "task_type": "bounding-box",
        "labels": SHAPES,
        "header": "Draw a box around every shape",
        "instructions": {
            "short": "Box every rectangle, ellipse and triangle; pick its label.",
            "full": "Draw one tight box around each shape in the picture, touching its outermost "
            "pixels, and give it the shape's name. Leave the background alone.",
        },
        "title": "Box the shapes in a picture",
        "description": "Draw a tight box around each shape and label it.",
        "keywords": ["image", "bounding box", "shapes"],
        "reward": "0.04",
    }
    if masks:
        spec |= {
            "job_name": "regions",
            "task_type": "semantic-segmentation",
            "header": "Paint every shape",
            "instructions": {
                "short": "Paint each rectangle, ellipse and triangle with its label.",
                "full": "Paint every pixel of each shape with the shape's label, right up to its "
                "edges, and leave the background unpainted.",
            },
            "title": "Paint the shapes in a picture",
            "description": "Paint each shape with its label.",
            "keywords": ["image", "segmentation", "shapes"],
            "reward": "0.05",
        }
    return DemoData(spec, manifest, truth)


def write_masks(folder: Path, n: int, seed: int) -> DemoData:
    return write_scenes(folder, n, seed, masks=True)


def write_adjustment(folder: Path, n: int, seed: int) -> DemoData:
    """Scenes whose manifest lines carry an earlier job's `boxes` output with known mistakes."""
    data = write_scenes(folder, n, seed)
    rng = np.random.default_rng([seed, 1])
    lines = []
    for path, truth in data.truth.items():
        boxes = [
            [SHAPES.index(b["label"]), b["left"], b["top"], b["width"], b["height"]] for b in truth["boundingBoxes"]
        ]
        for box in boxes:
            if rng.random() < 2 / 3:
                box[1] = int(np.clip(box[1] + rng.choice([-1, 1]) * box[3] // 3, 0, SCENE_W - box[3]))
                box[2] = int(np.clip(box[2] + rng.choice([-1, 1]) * box[4] // 4, 0, SCENE_H - box[4]))
        if len(lines) % 4 == 0 and len(boxes) > 1:
            boxes.pop()
        if len(lines) % 5 == 3:
            boxes.append([int(rng.integers(0, 3)), 5, 5, 20, 16])
        lines.append(
            {
                "source-ref": path,
                "boxes": {
                    "image_size": [{"width": SCENE_W, "height": SCENE_H, "depth": 3}],
                    "annotations": [dict(zip(("class_id", "left", "top", "width", "height"), b)) for b in boxes],
                },
                "boxes-metadata": {
                    "objects": [{"confidence": 0.5}] * len(boxes),
                    "class-map": {str(i): label for i, label in enumerate(SHAPES)},
                    "type": "groundtruth/object-detection",
                    "human-annotated": "no",
                    "job-name": "labeling-job/shapes-model",
                },
            }
        )
    data.manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    spec = data.spec | {
        "job_name": "shapes-adjusted",
        "task_type": "bounding-box-adjustment",
        "adjustment": {"label_attribute": "boxes"},
        "header": "Correct the boxes around the shapes",
        "instructions": {
            "short": "Fix every box: move, resize, relabel, delete or add boxes.",
            "full": "The boxes come from an earlier pass and some are wrong. Make "
            "each box touch its shape's outermost pixels, give it the shape's "
            "name, delete boxes over nothing and add the missing ones.",
        },
        "title": "Correct the boxes around shapes",
        "reward": "0.03",
    }
    return DemoData(spec, data.manifest, data.truth)


def write_sentences(folder: Path, n: int, seed: int) -> DemoData:
    """n sentences with people, places and organisations at known offsets, and their manifest."""
    rng = np.random.default_rng(seed)
    pools = {"p": ("person", PEOPLE), "l": ("place", PLACES), "o": ("organization", ORGS)}
    truth: dict[str, Any] = {}
    lines = []
    for i in range(n):
        template = SENTENCES[int(rng.integers(0, len(SENTENCES)))]
        text, entities, rest = "", [], template
        while "{" in rest:
            before, slot, rest = rest[: rest.index("{")], rest[rest.index("{") + 1], rest[rest.index("}") + 1 :]
            label, pool = pools[slot]
            name = pool[int(rng.integers(0, len(pool)))]
            text += before
            entities.append({"label": label, "startOffset": len(text), "endOffset": len(text) + len(name)})
            text += name
        text = f"{text}{rest} (#{i})"  # every sentence distinct: the crowd's truth is keyed by text
        truth[text] = {"source": text, "entities": entities}
        lines.append(json.dumps({"source": text}, ensure_ascii=False))
    manifest = folder / "input.manifest"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {
        "job_name": "entities",
        "task_type": "named-entity-recognition",
        "labels": ENTITY_LABELS,
        "header": "Highlight every person, place and organization",
        "instructions": {
            "short": "Select each name and give it its type.",
            "full": "Highlight the whole name of every person, place and organization in the "
            "sentence (no surrounding spaces or punctuation) and pick its label.",
        },
        "title": "Find the names in a sentence",
        "description": "Highlight people, places and organizations.",
        "keywords": ["text", "entities", "names"],
        "reward": "0.03",
    }
    return DemoData(spec, manifest, truth)


def write_verification(folder: Path, n: int, seed: int) -> DemoData:
    """Digit PNGs whose manifest lines carry a weak model's label (`model`) and confidence."""
    # heavy optional dependency: scikit-learn takes about a second to import; only this demo task trains a model
    from sklearn.linear_model import LogisticRegression

    manifest, digit_truth = write_digits(folder, n)
    digits = load_digits()
    rng = np.random.default_rng(seed)
    train = rng.choice(
        np.arange(n, len(digits.target))
        if n < len(digits.target) - MODEL_TRAINING_DIGITS
        else np.arange(len(digits.target)),
        MODEL_TRAINING_DIGITS,
        replace=False,
    )
    model = LogisticRegression(max_iter=2000).fit(digits.data[train], digits.target[train])
    proba = model.predict_proba(digits.data[:n])
    predicted = model.classes_[proba.argmax(axis=1)]
    lines = []
    for i, path in enumerate(digit_truth):
        lines.append(
            {
                "source-ref": path,
                "model": int(predicted[i]),
                "model-metadata": {
                    "class-name": str(predicted[i]),
                    "confidence": round(float(proba[i].max()), 2),
                    "type": "groundtruth/image-classification",
                    "human-annotated": "no",
                    "job-name": "labeling-job/digits-model",
                },
            }
        )
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    spec = {
        "job_name": "digits-verify",
        "task_type": "label-verification",
        "labels": ["good", "bad"],
        "verification": {"label_attribute": "model", "batch_size": 25},
        "header": "Is each image the digit shown?",
        "instructions": {
            "short": "Uncheck every image that is not the digit named above the batch.",
            "full": "A model labeled these handwritten digits. Leave an image checked when it "
            "shows the digit named; uncheck it when it shows another digit.",
        },
        "title": "Check a model's digit labels",
        "description": "Uncheck the images a digit label is wrong for.",
        "keywords": ["image", "digit", "verification"],
        "reward": "0.10",
    }
    return DemoData(spec, manifest, {path: {"label": label} for path, label in digit_truth.items()})


WRITERS = {
    "bounding-box": write_scenes,
    "bounding-box-adjustment": write_adjustment,
    "verification": write_verification,
    "semantic-segmentation": write_masks,
    "named-entity": write_sentences,
}


def box_quality(
    values: dict[int, Any], answers: list[tuple[int, dict]], truth: list[dict[str, Any]], labels: list[str]
) -> dict[str, float]:
    """Mean matched IoU of the consolidated boxes, and of single workers' answers, against the truth."""
    index = {label: i for i, label in enumerate(labels)}

    def true_of(i: int) -> tuple[np.ndarray, np.ndarray]:
        boxes = truth[i]["boundingBoxes"]
        return (
            np.array([[b["left"], b["top"], b["width"], b["height"]] for b in boxes], dtype=float).reshape(-1, 4),
            np.array([index[b["label"]] for b in boxes], dtype=np.int64),
        )

    consolidated = [
        matched_iou(
            [[a["left"], a["top"], a["width"], a["height"]] for a in value["annotations"]],
            [a["class_id"] for a in value["annotations"]],
            *true_of(i),
        )
        for i, value in values.items()
    ]
    single = [
        matched_iou([b[1:] for b in answer["boxes"]], [int(b[0]) for b in answer["boxes"]], *true_of(i))
        for i, answer in answers
    ]
    return {
        "mean_iou": round(float(np.mean(consolidated)), 4) if consolidated else 0.0,
        "single_worker_mean_iou": round(float(np.mean(single)), 4) if single else 0.0,
    }


def span_quality(
    values: dict[int, Any], answers: list[tuple[int, dict]], truth: list[dict[str, Any]], labels: list[str]
) -> dict[str, float]:
    """Exact-span F1 of the consolidated entities, and of single workers' answers, against the truth."""

    def true_set(i: int) -> set[tuple[int, int, str]]:
        return {(e["startOffset"], e["endOffset"], e["label"]) for e in truth[i]["entities"]}

    def f1(pairs: list[tuple[set, set]]) -> float:
        hits = sum(len(predicted & true) for predicted, true in pairs)
        predicted, true = sum(len(p) for p, _ in pairs), sum(len(t) for _, t in pairs)
        return round(2 * hits / (predicted + true), 4) if predicted + true else 1.0

    consolidated = [
        ({(e["startOffset"], e["endOffset"], e["label"]) for e in value["annotations"]["entities"]}, true_set(i))
        for i, value in values.items()
    ]
    single = [({(s, e, labels[c]) for c, s, e in answer["entities"]}, true_set(i)) for i, answer in answers]
    return {"span_f1": f1(consolidated), "single_worker_span_f1": f1(single)}


def mask_quality(
    values: dict[int, Any], answers: list[tuple[int, dict]], truth: list[dict[str, Any]], labels: list[str]
) -> dict[str, float]:
    """Mean mask IoU of the consolidated masks (the PNGs the job wrote), and of single workers'."""
    palette = job_palette(labels)

    def ids_of(path: str) -> np.ndarray:
        with Image.open(path) as image:
            return label_mask_from_rgb(np.asarray(image.convert("RGB")), palette)

    k = 1 + len(labels)
    consolidated = [mask_iou(ids_of(uri), ids_of(truth[i]["mask"]), k) for i, uri in values.items()]
    true = {i: ids_of(truth[i]["mask"]) for i, _ in answers}
    single = [mask_iou(decode_ids(answer["mask"]), true[i], k) for i, answer in answers]
    return {
        "mask_iou": round(float(np.mean(consolidated)), 4) if consolidated else 0.0,
        "single_worker_mask_iou": round(float(np.mean(single)), 4) if single else 0.0,
    }


def adjustment_quality(
    values: dict[int, Any],
    answers: list[tuple[int, dict]],
    truth: list[dict[str, Any]],
    labels: list[str],
    lines: list[dict[str, Any]],
) -> dict[str, float]:
    """box_quality, plus the earlier boxes' mean IoU (what the adjustment started from)."""
    initial = {i: {"annotations": line["boxes"]["annotations"]} for i, line in enumerate(lines)}
    return {
        **box_quality(values, answers, truth, labels),
        "initial_mean_iou": box_quality(initial, [], truth, labels)["mean_iou"],
    }


QUALITY = {"bounding-box": box_quality, "semantic-segmentation": mask_quality, "named-entity": span_quality}


def verification_quality(
    engine: Any, job_id: int, lines: list[dict[str, Any]], truth: list[dict[str, Any]], values: dict[int, Any]
) -> dict[str, float]:
    """Consolidated verdicts (and single workers' verdicts) against "the model's label is right"."""
    fits = np.array([str(line["model"]) == record["label"] for line, record in zip(lines, truth)])
    with reading(engine) as session:
        arrays = verdict_arrays(session, job_id)
    decided = np.array(sorted(values))
    said_fits = np.array([int(values[i]) == 0 for i in decided], dtype=bool)
    single = (arrays.verdicts == 0) == fits[arrays.objects]
    return {
        "verification_accuracy": round(float((said_fits == fits[decided]).mean()), 4) if decided.size else 0.0,
        "single_worker_verification_accuracy": round(float(single.mean()), 4) if single.size else 0.0,
        "model_label_accuracy": round(float(fits.mean()), 4),
    }


def task_summary(task: str, engine: Any, job_id: int, truth: dict[str, Any]) -> dict[str, float]:
    """The task's quality figures from the job's consolidated objects and usable answers."""
    with reading(engine) as session:
        labels = job_by_id(session, job_id).labels
        objects = object_results(session, job_id)
        rows = answers_for_consolidation(session, job_id)
    lines = [json.loads(o.data_json) for o in objects]
    records = [truth[line.get("source-ref") or line["source"]] for line in lines]
    values = {
        o.index: json.loads(o.label_json)
        for o in objects
        if o.status == ObjectStatus.CONSOLIDATED and o.label_json is not None
    }
    answers = [(index, json.loads(chosen)) for index, _, chosen in rows]
    if task == "bounding-box-adjustment":
        return adjustment_quality(values, answers, records, labels, lines)
    if task == "verification":
        return verification_quality(engine, job_id, lines, records, values)
    return QUALITY[task](values, answers, records, labels)
