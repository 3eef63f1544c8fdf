"""Gold objects: known-answer lines mixed into a job at submit, left out of its output.

Built-in task types show workers only the object's source, so the answer attribute never
reaches the page; reports measure workers on these objects.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np

from broker.manifest import ManifestError, read_manifest
from broker.spec import Issue


def gold_object_count(objects: int, gold_rate: float) -> int:
    """Gold objects mixed in at `gold_rate` of all posted objects: rate/(1-rate) per real object, rounded up."""
    if gold_rate <= 0:
        return 0
    return math.ceil(objects * gold_rate / (1.0 - gold_rate) - 1e-9)


def gold_positions(n_objects: int, n_gold: int, seed: int) -> np.ndarray:
    """Where gold objects go in the combined order: n_gold distinct slots of n_objects + n_gold,
    spread at random (seeded by the job) so a worker cannot tell gold by its place."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_objects + n_gold, size=n_gold, replace=False))


def mix_gold(spec: Any, lines: list[Any], settings: Any = None) -> list[Any]:
    """The manifest lines with the spec's gold lines interleaved at its rate (unchanged without gold).

    Gold lines must name a known label in the gold attribute; ManifestError names any that do not.
    """
    gold = getattr(getattr(spec, "quality", None), "gold", None)
    if gold is None:
        return lines
    gold_lines, _ = read_manifest(gold.manifest, settings=settings, task_type=spec.task_type)
    issues = [
        Issue(
            gold.manifest,
            line.line_number,
            gold.label_attribute,
            f"must be one of the job's labels, got {line.data.get(gold.label_attribute)!r}",
        )
        for line in gold_lines
        if line.data.get(gold.label_attribute) not in spec.labels
    ]
    if issues:
        raise ManifestError(issues)
    wanted = gold_object_count(len(lines), gold.rate)
    rng_seed = zlib.crc32(spec.job_name.encode())
    chosen = [gold_lines[i % len(gold_lines)] for i in range(wanted)]  # reuse gold when there is too little
    slots = set(gold_positions(len(lines), len(chosen), rng_seed).tolist())
    real = iter(lines)
    golds = iter(chosen)
    return [next(golds) if position in slots else next(real) for position in range(len(lines) + len(chosen))]


def without_gold(spec: Any, input_lines: list[dict], outcomes: dict[int, Any]) -> tuple[list[dict], dict[int, Any]]:
    """The output manifest's lines and outcomes without the gold objects (they are the requester's
    own known answers, not part of the dataset); outcomes are re-keyed by the remaining positions."""
    gold = getattr(getattr(spec, "quality", None), "gold", None)
    if gold is None:
        return input_lines, outcomes
    kept = [position for position, line in enumerate(input_lines) if gold.label_attribute not in line]
    return [input_lines[p] for p in kept], {new: outcomes[old] for new, old in enumerate(kept) if old in outcomes}
