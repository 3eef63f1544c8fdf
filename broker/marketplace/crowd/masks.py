"""Simulated answers of crowd-semantic-segmentation: a painted label PNG with boundary noise.

A label map is an (H, W) uint8 array: 0 = unlabelled, i + 1 = the page's i-th label. Truth is
a record with "mask" (a PNG path, file:// or http(s) URL; colours mapped to labels by its
"labelMappings", else by the element's palette order) or "regions"/"rectangles"/"boundingBoxes"
[{label, left, top, width, height}] painted in order on an image of "width" x "height".
Pillow is imported only when a mask is read or written, so the marketplace starts without it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import numpy as np
from PIL import Image

from broker.marketplace.crowd.models import WorkerModelSpec, confusion_matrix, rng_for

# d3 category10, the order crowd-semantic-segmentation gives labels (annotate.js Crowd.PALETTE)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
UNLABELLED = "#ffffff"
REGION_KEYS = ("regions", "rectangles", "boundingBoxes", "boxes")


class MaskError(ValueError):
    """A truth mask the crowd cannot read; the message names the mask."""


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def label_mappings(labels: Sequence[str]) -> dict[str, dict[str, str]]:
    """The element's labelMappings: label -> {"color": palette colour of its position}."""
    return {label: {"color": PALETTE[i % len(PALETTE)]} for i, label in enumerate(labels)}


@lru_cache(maxsize=64)
def _read_png(ref: str) -> np.ndarray:
    """RGB pixels of a PNG given as a path, file:// URL or http(s) URL (cached: many workers read it)."""
    try:
        parts = urlsplit(ref)
        if parts.scheme in ("http", "https"):
            response = httpx.get(ref, timeout=30.0)
            response.raise_for_status()
            data = response.content
        else:
            data = Path(unquote(parts.path) if parts.scheme == "file" else ref).read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as error:  # any unreadable mask: say which one
        raise MaskError(f"truth mask {ref!r} could not be read: {error}") from error


def map_from_colours(pixels: np.ndarray, colours: Mapping[str, str], labels: Sequence[str]) -> np.ndarray:
    """Label map of an RGB image: pixels of a label's colour get that label, all others 0."""
    packed = (pixels[..., 0].astype(np.int64) << 16) | (pixels[..., 1].astype(np.int64) << 8) | pixels[..., 2]
    out = np.zeros(packed.shape, dtype=np.uint8)
    for index, label in enumerate(labels):  # per label, not per pixel
        colour = colours.get(label)
        if colour is not None:
            r, g, b = rgb(colour)
            out[packed == (r << 16 | g << 8 | b)] = index + 1
    return out


def truth_map(truth: Any, labels: Sequence[str], image_size: tuple[int, int] | None) -> np.ndarray | None:
    """The true label map of a truth record for this page's labels, or None without spatial truth."""
    if not isinstance(truth, Mapping):
        return None
    if truth.get("mask"):
        pixels = _read_png(str(truth["mask"]))
        given = truth.get("labelMappings")
        colours = (
            {k: str(v["color"]) for k, v in given.items()}
            if isinstance(given, Mapping)
            else {label: m["color"] for label, m in label_mappings(labels).items()}
        )
        return map_from_colours(pixels, colours, labels)
    regions = next((truth[k] for k in REGION_KEYS if isinstance(truth.get(k), list)), None)
    if regions is None:
        return None
    size = truth.get("inputImageProperties") if isinstance(truth.get("inputImageProperties"), Mapping) else truth
    width, height = size.get("width"), size.get("height")
    if not (width and height):
        if image_size is None:
            return None
        width, height = image_size
    out = np.zeros((int(height), int(width)), dtype=np.uint8)
    for region in regions:
        if region.get("label") in labels:
            left, top = int(round(float(region["left"]))), int(round(float(region["top"])))
            right, bottom = left + int(round(float(region["width"]))), top + int(round(float(region["height"])))
            out[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)] = list(labels).index(region["label"]) + 1
    return out


def latent_map(seed: int, object_key: str, n_labels: int, size: tuple[int, int]) -> np.ndarray:
    """Without truth, the object's 'true' map: 1-3 rectangles fixed by (seed, object)."""
    width, height = size
    rng = rng_for("latent-mask", seed, object_key)
    out = np.zeros((height, width), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        w, h = int(rng.uniform(0.15, 0.5) * width), int(rng.uniform(0.15, 0.5) * height)
        left, top = int(rng.integers(0, max(width - w, 1))), int(rng.integers(0, max(height - h, 1)))
        out[top : top + h, left : left + w] = int(rng.integers(1, n_labels + 1))
    return out


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int = 6) -> np.ndarray:
    """A smooth random field in about [-1, 1]: coarse Gaussian noise, bilinearly upsampled."""
    height, width = shape
    coarse = rng.normal(0.0, 1.0, size=(cells + 1, cells + 1))
    ys = np.linspace(0, cells, height)
    xs = np.linspace(0, cells, width)
    y0 = np.minimum(ys.astype(int), cells - 1)
    x0 = np.minimum(xs.astype(int), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def paint(
    spec: WorkerModelSpec, true: np.ndarray, n_labels: int, seed: int, worker: int, object_key: str
) -> np.ndarray:
    """The label map this worker paints over the true one.

    good/sloppy: the true regions warped by a smooth displacement of about box_jitter x the
    image's short side (ragged, shifted edges, interiors intact), a region left unpainted with
    the miss rate and relabelled per the confusion matrix; adversary: the regions moved aside;
    spammer: random rectangles of random labels (or nothing); constant: the whole image one label.
    """
    rng = rng_for("answer-mask", seed, worker, object_key)
    height, width = true.shape
    if spec.kind == "constant":
        return np.full(true.shape, stable_label(seed, worker, n_labels), dtype=np.uint8)
    if spec.kind == "spammer":
        out = np.zeros(true.shape, dtype=np.uint8)
        for _ in range(int(rng.integers(0, 4))):
            w, h = int(rng.uniform(0.05, 0.6) * width) + 1, int(rng.uniform(0.05, 0.6) * height) + 1
            left, top = int(rng.integers(0, width)), int(rng.integers(0, height))
            out[top : top + h, left : left + w] = int(rng.integers(1, n_labels + 1))
        return out
    amplitude = spec.box_jitter * min(height, width)
    dy = np.rint(_smooth_field(rng, true.shape) * amplitude).astype(int)
    dx = np.rint(_smooth_field(rng, true.shape) * amplitude).astype(int)
    if spec.kind == "adversary":
        dx += width // 3
    rows = np.clip(np.arange(height)[:, None] + dy, 0, height - 1)
    cols = np.clip(np.arange(width)[None, :] + dx, 0, width - 1)
    warped = true[rows, cols]
    present = np.unique(warped[warped > 0])
    if not len(present):
        return warped
    matrix = confusion_matrix(spec, n_labels, seed, worker, f"mask:{n_labels}")
    cumulative = np.cumsum(matrix[present - 1], axis=1)
    given = (rng.random(len(present))[:, None] > cumulative).sum(axis=1).clip(0, n_labels - 1) + 1
    given[rng.random(len(present)) < spec.miss_rate] = 0  # region left unpainted
    lookup = np.arange(n_labels + 1, dtype=np.uint8)
    lookup[present] = given
    return lookup[warped]


def stable_label(seed: int, worker: int, n_labels: int) -> int:
    return int(rng_for("constant-mask", seed, worker).integers(1, n_labels + 1))


def encode_png(label_map: np.ndarray, labels: Sequence[str]) -> str:
    """Base64 PNG of a label map in the element's colours, unlabelled pixels white."""
    colours = np.array([rgb(UNLABELLED)] + [rgb(PALETTE[i % len(PALETTE)]) for i in range(len(labels))], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(colours[label_map], "RGB").save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(data: str, labels: Sequence[str]) -> np.ndarray:
    """The label map of an answer's pngImageData (inverse of encode_png)."""
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        pixels = np.asarray(image.convert("RGB"))
    return map_from_colours(pixels, {k: v["color"] for k, v in label_mappings(labels).items()}, labels)


def answer_segmentation(
    spec: WorkerModelSpec,
    labels: Sequence[str],
    truth: Any,
    seed: int,
    worker: int,
    object_key: str,
    image_size: tuple[int, int] | None,
    initial: bool = False,
) -> dict[str, Any]:
    """crowd-semantic-segmentation output: {"labeledImage": {"pngImageData"}, "labelMappings",
    "inputImageProperties"} (+ initialValueModified when the page had an initial value)."""
    labels = list(labels) or ["object"]
    true = truth_map(truth, labels, image_size)
    if true is None:
        true = latent_map(seed, object_key, len(labels), image_size or (640, 480))
    painted = paint(spec, true, len(labels), seed, worker, object_key)
    answer: dict[str, Any] = {
        "labeledImage": {"pngImageData": encode_png(painted, labels)},
        "labelMappings": label_mappings(labels),
        "inputImageProperties": {"height": int(true.shape[0]), "width": int(true.shape[1])},
    }
    if initial:
        answer["initialValueModified"] = True
    return answer


def truth_size(truth: Any) -> tuple[int, int] | None:
    """(width, height) a segmentation truth record states (its mask's size or width/height)."""
    if isinstance(truth, Mapping) and truth.get("mask"):
        pixels = _read_png(str(truth["mask"]))
        return int(pixels.shape[1]), int(pixels.shape[0])
    return None
