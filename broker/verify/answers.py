"""One assignment's crowd-label-verification answer -> one verdict per object of its batch.

The answer ({"label", "items": [{"id", "correct"}]}) must name every object of the HIT exactly
once with a boolean; anything else is kept verbatim and flagged with the reason, and gives no
verdicts. Verdict 0: the label fits (the item was left checked); 1: it does not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

ELEMENT = "crowd-label-verification"
FITS, DOES_NOT_FIT = 0, 1


def _verification_value(data: Any) -> dict[str, Any] | None:
    for entry in data if isinstance(data, list) else [data]:
        if not isinstance(entry, dict):
            continue
        value = entry.get(ELEMENT)
        if isinstance(value, dict):
            return value
        found = [v for v in entry.values() if isinstance(v, dict) and isinstance(v.get("items"), list)]
        if len(found) == 1:
            return found[0]
    return None


def batch_verdicts(data: Any, ids: Sequence[str]) -> tuple[list[int] | None, str | None]:
    """(verdict per id in `ids` order, None) or (None, why the answer is unusable)."""
    value = _verification_value(data)
    if value is None:
        return None, f"no {ELEMENT} answer (expected an object with 'items')"
    seen: dict[str, bool] = {}
    for position, item in enumerate(value["items"]):
        if not isinstance(item, dict) or not isinstance(item.get("correct"), bool):
            return None, f"items[{position}]: needs 'id' and a boolean 'correct'"
        item_id = str(item.get("id"))
        if item_id in seen:
            return None, f"items[{position}]: id {item_id!r} given twice"
        seen[item_id] = item["correct"]
    unknown = sorted(set(seen) - set(ids))
    missing = [item_id for item_id in ids if item_id not in seen]
    if unknown or missing:
        return None, f"items do not match the HIT's objects (missing {missing[:5]}, unknown {unknown[:5]})"
    return [FITS if seen[item_id] else DOES_NOT_FIT for item_id in ids], None


def apply_verdicts(row: dict[str, Any], ids: Sequence[str]) -> dict[str, Any]:
    """An Assignment row of a batch HIT: chosen_json = one verdict per object (page order), or
    None with the reason in answer_error; the raw and decoded answer stay as they are."""
    if row.get("answer_json") is None:
        return row | {"chosen_json": None}
    verdicts, error = batch_verdicts(json.loads(row["answer_json"]), ids)
    return row | {
        "chosen_json": json.dumps(verdicts) if verdicts is not None else None,
        "answer_error": error or row.get("answer_error"),
    }


def item_answer(content: Any, item_id: str) -> Any:
    """One object's share of a batch answer (worker-response files are per object): the
    verification answer with only that item; any other content as it is."""
    value = _verification_value(content)
    if value is None:
        return content
    items = [item for item in value["items"] if isinstance(item, dict) and str(item.get("id")) == item_id]
    return {ELEMENT: {**value, "items": items}}
