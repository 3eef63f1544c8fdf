"""Truth tables for the simulated crowd: data object key ("source-ref" or "source") -> true answer.

One JSON object per line (or a CSV row), keyed by "source-ref" | "source" (| "task" | "key"):
  classification   {"source-ref": ..., "label": "cat"}     multi-label: {"labels": ["cat", "dog"]}
  bounding boxes   {"source-ref": ..., "boundingBoxes": [{"label", "left", "top", "width", "height"}],
                    "width": 640, "height": 480}   (or "inputImageProperties": {"width", "height"})
  polygons         ... + "polygons": [{"label", "vertices": [{"x", "y"}]}]  (default: the boxes' corners)
  keypoints        ... + "keypoints": [{"label", "x", "y"}]                  (default: the boxes' centres)
  segmentation     {"source-ref": ..., "mask": "masks/a.png", "labelMappings": {"cat": {"color": "#ff7f0e"}}}
                   (mask path relative to the truth file; without labelMappings the element's palette
                   order), or {"source-ref": ..., "regions": [{"label", "left", "top", "width", "height"}],
                   "width": 640, "height": 480}
  entities         {"source": "Ada met Bob.", "entities": [{"label", "startOffset", "endOffset"}]}
                   (code points, endOffset exclusive)
  verification     {"source-ref": ..., "correct": false} (does the label shown fit?) or the item's
                   true "label"; a line may be keyed by the item's verification id instead.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

KEY_FIELDS = ("source-ref", "source", "task", "key", "id")
VALUE_FIELDS = ("label", "labels", "boundingBoxes", "boxes", "annotations", "truth", "value", "correct")
RECORD_FIELDS = (
    "boundingBoxes",
    "boxes",
    "annotations",
    "polygons",
    "keypoints",
    "regions",
    "rectangles",
    "mask",
    "entities",
)
URL_SCHEMES = ("http://", "https://", "file://", "s3://")


class TruthFileError(ValueError):
    """A truth file the crowd cannot use; the message names the file and line."""


def _value_of(record: dict[str, Any], where: str, base: Path) -> Any:
    if any(name in record for name in RECORD_FIELDS):
        record = dict(record)  # spatial/span truth keeps the image size, colours, text beside the shapes
        mask = record.get("mask")
        if isinstance(mask, str) and mask and not mask.startswith(URL_SCHEMES):
            resolved = (base / mask) if not Path(mask).is_absolute() else Path(mask)
            if not resolved.is_file():
                raise TruthFileError(f"{where}: mask file {mask!r} not found (looked at {resolved})")
            record["mask"] = str(resolved)
        return record
    for name in VALUE_FIELDS:
        if name in record:
            return record[name]
    raise TruthFileError(f"{where}: no truth field (expected one of {', '.join(VALUE_FIELDS)})")


def _key_of(record: dict[str, Any], where: str) -> str:
    for name in KEY_FIELDS:
        if name in record and record[name] not in (None, ""):
            return str(record[name])
    raise TruthFileError(f"{where}: no key field (expected one of {', '.join(KEY_FIELDS)})")


def load_truth(path: str | Path) -> dict[str, Any]:
    """JSON lines ({"source-ref": ..., "label": ...}) or CSV with a header (source-ref|source|task, label)."""
    path = Path(path)
    if not path.is_file():
        raise TruthFileError(f"{path}: truth file not found")
    truth: dict[str, Any] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            for line, row in enumerate(reader, start=2):
                where = f"{path}:{line}"
                truth[_key_of(row, where)] = _value_of(row, where, path.parent)
            return truth
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            where = f"{path}:{line}"
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TruthFileError(f"{where}: not JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise TruthFileError(f"{where}: each line must be a JSON object")
            truth[_key_of(record, where)] = _value_of(record, where, path.parent)
    return truth
