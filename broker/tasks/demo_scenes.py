"""The demo's scenes: filled shapes (rectangle, ellipse, triangle) on a light background, with
their true boxes or masks. The bounding-box, bounding-box-adjustment and semantic-segmentation
demos (their task modules' recipes) label them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from broker.annotations.masks import job_palette

SHAPES = ["rectangle", "ellipse", "triangle"]
SCENE_W, SCENE_H = 160, 120


def draw_scenes(folder: Path, n: int, seed: int, masks: bool = False) -> tuple[Path, dict[str, Any]]:
    """n PNG scenes of 1-3 shapes each, their input manifest, and the true boxes by path (with
    `masks`, the true label mask of each scene, a PNG in the paint tool's colours, as the truth instead)."""
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
    return manifest, truth
