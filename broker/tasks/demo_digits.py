"""The demo's digits: scikit-learn's 1,797 handwritten digits as PNGs (upscaled, dark on white).

The default `broker demo` labels them as image classification with 10 classes (DIGITS_SPEC; its
accuracy figures are computed in broker.demo); the label-verification demo checks a weak model's
labels of them (broker.tasks.label_verification).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

JOB_NAME = "digits"
LABELS = [str(d) for d in range(10)]
IMAGE_SIZE = 96

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
