"""Simulated answers of crowd-label-verification: which items of a batch the shown label fits.

Truth per item, looked up by the item's "source-ref"/"source" and then by its id: a boolean
or {"correct": bool} (the shown label fits), or the item's true label(s) ({"label": "cat"} /
{"labels": [...]}), which fit when they contain the shown label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from broker.marketplace.crowd.models import WorkerModelSpec, rng_for, stable_hash

TRUE_WORDS = {"true", "yes", "1", "correct", "y"}
FALSE_WORDS = {"false", "no", "0", "incorrect", "wrong", "n"}
LATENT_FIT_RATE = 0.7  # without truth, the share of items whose shown label fits


def item_key(item: Mapping[str, Any]) -> str:
    return str(item.get("source-ref", item.get("source", item.get("id", ""))))


def label_fits(truth: Any, label: str) -> bool | None:
    """Whether the shown label fits an item with this truth; None when the truth does not say."""
    if isinstance(truth, Mapping):
        if "correct" in truth:
            return label_fits(truth["correct"], label)
        truth = truth.get("labels", truth.get("label"))
    if isinstance(truth, bool):
        return truth
    if isinstance(truth, (int, float)) and truth in (0, 1):
        return bool(truth)
    if isinstance(truth, str):
        word = truth.strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS and label.lower() not in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS
        return truth == label
    if isinstance(truth, (list, tuple)):
        return label in truth
    return None


def true_fits(items: Sequence[Mapping[str, Any]], label: str, truth: Mapping[str, Any], seed: int) -> np.ndarray:
    """Per item: does the shown label fit? From the truth table, else fixed by (seed, item, label)."""
    fits = []
    for item in items:
        known = label_fits(truth.get(item_key(item), truth.get(str(item.get("id", "")))), label)
        if known is None:
            known = bool(rng_for("latent-fit", seed, item_key(item), label).random() < LATENT_FIT_RATE)
        fits.append(known)
    return np.array(fits, dtype=bool)


def answer_verification(
    spec: WorkerModelSpec,
    label: str,
    items: Sequence[Mapping[str, Any]],
    truth: Mapping[str, Any],
    seed: int,
    worker: int,
) -> dict[str, Any]:
    """{"label", "items": [{"id", "correct"}]} in the page's item order.

    good/sloppy: a wrong item is unchecked with probability `accuracy`, a fitting one unchecked by
    mistake with (1 - accuracy) / 2; adversary: the reverse; spammer: half of them leave every item
    checked (the element's default), the rest check at random; constant: everything checked.
    Each item's draw is seeded by (seed, worker, item, label), so batches do not change it.
    """
    fits = true_fits(items, label, truth, seed)
    # keyed by the item's datasetObjectId where it has one: a source-ref may be an absolute path
    # that differs between runs of the same job, and the draws should not
    draws = np.array(
        [rng_for("verify", seed, worker, str(item.get("id", item_key(item))), label).random() for item in items]
    )
    if spec.kind == "constant" or (spec.kind == "spammer" and stable_hash("lazy-verifier", seed, worker) % 2 == 0):
        said = np.ones(len(items), dtype=bool)
    elif spec.kind == "spammer":
        said = draws < 0.5
    else:
        catch, false_alarm = spec.accuracy, (1.0 - spec.accuracy) / 2
        if spec.kind == "adversary":
            catch, false_alarm = 1.0 - spec.accuracy, 1.0 - spec.accuracy / 2
        said = np.where(fits, draws >= false_alarm, draws >= catch)
    return {
        "label": label,
        "items": [{"id": str(item.get("id", i)), "correct": bool(s)} for i, (item, s) in enumerate(zip(items, said))],
    }
