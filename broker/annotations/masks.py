"""Semantic segmentation in the engine: crowd-semantic-segmentation answers in, Ground Truth's
semantic-segmentation layout out (a PNG per image plus `internal-color-map`), scoring.MaskConsolidator
in between.

A worker's answer is an RGB PNG in the element's colours (unlabelled pixels white) with its
labelMappings. It is read into class ids (0 = BACKGROUND, 1 + i = the job's label i) by nearest
colour and stored as a one-channel PNG of those ids, so a job's answers stay small in the DB.
The consolidated mask is written back in the job's palette under
annotations/consolidated-annotation/output/, named by object index and content hash: re-running
consolidation rewrites nothing that did not change, and a crash between the file write and the DB
commit leaves a file the retry writes again under the same name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from broker.annotations.base import (
    AnnotationKind,
    Consolidation,
    confidence,
    element_value,
    job_answers,
)
from broker.domain.answers import AnswerError
from broker.storage import join_uri
from scoring import MaskConsolidator, label_mask_from_rgb

ELEMENT = "crowd-semantic-segmentation"
# d3 category10: the order crowd-semantic-segmentation gives labels (annotate.js Crowd.PALETTE)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MAX_LABELS = len(PALETTE)  # beyond it the element repeats colours and a mask cannot tell labels apart
BACKGROUND, BACKGROUND_COLOR = "BACKGROUND", "#ffffff"
MAX_PIXELS = 1920 * 1080 * 4  # Ground Truth's segmentation limit is 1080p when auto-labeling; a guard, not a rule
OUTPUT_FOLDER = ("annotations", "consolidated-annotation", "output")


def rgb(hex_color: str) -> tuple[int, int, int]:
    value = int(hex_color.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def job_palette(labels: list[str]) -> np.ndarray:
    """(1 + labels, 3) uint8: white for BACKGROUND, then each label's element colour."""
    return np.array(
        [rgb(BACKGROUND_COLOR)] + [rgb(PALETTE[i % len(PALETTE)]) for i in range(len(labels))], dtype=np.uint8
    )


def _png_pixels(data: Any, where: str) -> np.ndarray:
    if not isinstance(data, str) or not data:
        raise AnswerError(f"{where} is missing (expected a base64 PNG)")
    try:
        raw = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise AnswerError(f"{where}: {image.width}x{image.height} is larger than {MAX_PIXELS:,} pixels")
            return np.asarray(image.convert("RGB"))
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as error:
        if isinstance(error, AnswerError):
            raise
        raise AnswerError(f"{where} is not a readable base64 PNG ({error})") from error


def encode_ids(ids: np.ndarray) -> str:
    """Base64 one-channel PNG of a class-id map (ids < 256)."""
    buffer = io.BytesIO()
    Image.fromarray(ids.astype(np.uint8), "L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_ids(data: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        return np.asarray(image, dtype=np.uint8)


def read_mask(data: Any, labels: list[str], data_object: Mapping[str, Any]) -> dict[str, Any]:
    """{"image": [width, height], "mask": base64 PNG of class ids}, or AnswerError: no PNG, unknown labels or
    colours, a size that disagrees with inputImageProperties, or an empty mask (nothing painted)."""
    value = element_value(data, ELEMENT, "labeledImage")
    image = value.get("labeledImage")
    pixels = _png_pixels(image.get("pngImageData") if isinstance(image, Mapping) else None, "labeledImage.pngImageData")
    height, width = pixels.shape[:2]
    size = value.get("inputImageProperties")
    if isinstance(size, Mapping) and (size.get("width"), size.get("height")) != (width, height):
        raise AnswerError(
            f"the mask is {width}x{height} but inputImageProperties says {size.get('width')}x{size.get('height')}"
        )
    mappings = value.get("labelMappings")
    if not isinstance(mappings, Mapping):
        raise AnswerError('the answer has no "labelMappings" {label: {"color": "#rrggbb"}}')
    colors = {BACKGROUND_COLOR: 0}
    for label, mapping in mappings.items():
        if label not in labels:
            raise AnswerError(f"labelMappings: unknown label {label!r}")
        color = str(mapping.get("color", "")).lower() if isinstance(mapping, Mapping) else ""
        if len(color) != 7 or not color.startswith("#") or any(c not in "0123456789abcdef" for c in color[1:]):
            raise AnswerError(f"labelMappings[{label!r}].color must be #rrggbb, got {color!r}")
        if color in colors:
            raise AnswerError(f"labelMappings: {label!r} shares its colour {color} with another label")
        colors[color] = 1 + labels.index(label)
    palette_ids = np.array(list(colors.values()), dtype=np.uint8)
    ids = palette_ids[label_mask_from_rgb(pixels, [rgb(c) for c in colors])]
    if not ids.any():
        raise AnswerError("the mask is empty: no pixel is labeled")
    return {"image": [int(width), int(height)], "mask": encode_ids(ids)}


def output_uri(spec: Any, index: int, png: bytes) -> str:
    digest = hashlib.sha256(png).hexdigest()[:16]
    return join_uri(spec.output, spec.job_name, *OUTPUT_FOLDER, f"{index}_{digest}.png")


def consolidate_masks(rows: list[tuple[int, str, str]], spec: Any, n_objects: int) -> Consolidation:
    """Per-pixel reliability-weighted vote with neighbourhood smoothing (scoring.MaskConsolidator).

    An object's answers of a size other than its most common one are left out (a worker whose page
    loaded another image cannot be overlaid); the value is the URI of the consolidated PNG, whose
    bytes come back in `files` for the engine to write before it records the URI.
    """
    job = job_answers(rows)
    sizes: dict[int, Counter] = {}
    for index, answer in zip(job.items.tolist(), job.answers):
        sizes.setdefault(index, Counter())[tuple(answer["image"])] += 1
    usual = {index: counter.most_common(1)[0][0] for index, counter in sizes.items()}
    keep = [
        n
        for n, (index, answer) in enumerate(zip(job.items.tolist(), job.answers))
        if tuple(answer["image"]) == usual[index]
    ]
    model = MaskConsolidator().fit(
        job.items[keep],
        job.workers[keep],
        [decode_ids(job.answers[n]["mask"]) for n in keep],
        n_objects=n_objects,
        n_workers=len(job.worker_ids),
        n_classes=1 + len(spec.labels),
    )
    palette = job_palette(list(spec.labels))
    values: dict[int, Any] = {}
    metadata: dict[int, dict[str, Any]] = {}
    files: dict[int, bytes] = {}
    for index in usual:
        mask = model.masks_[index]
        buffer = io.BytesIO()
        Image.fromarray(palette[mask], "RGB").save(buffer, format="PNG", optimize=True)
        files[index] = buffer.getvalue()
        values[index] = output_uri(spec, index, files[index])
        score = confidence(model.confidence_[index], spec.workers_per_object)
        names = [BACKGROUND, *spec.labels]
        metadata[index] = {
            "internal-color-map": {
                str(c): {
                    "class-name": names[c],
                    "confidence": score,
                    "hex-color": "#{:02x}{:02x}{:02x}".format(*palette[c]),
                }
                for c in range(len(names))
            }
        }
    accuracy = {worker: float(model.reliability_[code]) for code, worker in enumerate(job.worker_ids)}
    return Consolidation(values, metadata, accuracy, files)


KIND = AnnotationKind(ELEMENT, read_mask, consolidate_masks)
