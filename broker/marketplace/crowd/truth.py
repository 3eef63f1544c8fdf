"""Truth tables for the simulated crowd: data object key ("source-ref" or "source") -> true answer."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

KEY_FIELDS = ("source-ref", "source", "task", "key")
VALUE_FIELDS = ("label", "labels", "boundingBoxes", "boxes", "annotations", "truth", "value")


class TruthFileError(ValueError):
    """A truth file the crowd cannot use; the message names the file and line."""


def _value_of(record: dict[str, Any], where: str) -> Any:
    if "boundingBoxes" in record or "boxes" in record or "annotations" in record:
        return record  # spatial truth keeps the image size beside the boxes
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
                truth[_key_of(row, where)] = _value_of(row, where)
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
            truth[_key_of(record, where)] = _value_of(record, where)
    return truth
