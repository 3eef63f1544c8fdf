"""Simulated answers of crowd-entity-annotation: labelled spans of the page's text.

Truth: {"source": text, "entities": [{label, startOffset, endOffset}]}, offsets in Unicode
code points with endOffset exclusive (Python str indices), as the element reports them.
Workers select whole tokens, so a boundary error moves a span's edge by one token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from broker.marketplace.crowd.models import WorkerModelSpec, confuse_labels, rng_for

TOKEN = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


def tokens(text: str) -> np.ndarray:
    """(n, 2) [start, end) code-point offsets of the text's tokens (words and punctuation)."""
    return np.array([m.span() for m in TOKEN.finditer(text)], dtype=int).reshape(-1, 2)


def true_entities(truth: Any, text: str) -> list[dict[str, Any]] | None:
    """The truth record's entities that fit the text (sorted), or None without span truth."""
    raw = truth.get("entities") if isinstance(truth, Mapping) else truth if isinstance(truth, list) else None
    if not isinstance(raw, list):
        return None
    out = [
        {"label": str(e["label"]), "startOffset": int(e["startOffset"]), "endOffset": int(e["endOffset"])}
        for e in raw
        if isinstance(e, Mapping) and 0 <= int(e["startOffset"]) < int(e["endOffset"]) <= len(text)
    ]
    return sorted(out, key=lambda e: e["startOffset"])


def latent_entities(text: str, labels: Sequence[str], seed: int, object_key: str) -> list[dict[str, Any]]:
    """Without truth, the text's 'true' entities: a few word spans fixed by (seed, object)."""
    spans = tokens(text)
    if not len(spans) or not labels:
        return []
    rng = rng_for("latent-spans", seed, object_key)
    starts = np.sort(rng.choice(len(spans), size=min(len(spans), int(rng.integers(1, 4))), replace=False))
    return [
        {
            "label": labels[int(rng.integers(0, len(labels)))],
            "startOffset": int(spans[s, 0]),
            "endOffset": int(spans[s, 1]),
        }
        for s in starts
    ]


def _shift_edge(span: tuple[int, int], spans: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """The span with one edge moved by a token: grown over a neighbour or shrunk off a word."""
    start, end = span
    inside = np.flatnonzero((spans[:, 0] >= start) & (spans[:, 1] <= end))
    before = np.flatnonzero(spans[:, 1] <= start)
    after = np.flatnonzero(spans[:, 0] >= end)
    moves = []
    if len(before):
        moves.append((int(spans[before[-1], 0]), end))
    if len(after):
        moves.append((start, int(spans[after[0], 1])))
    if len(inside) > 1:
        moves += [(int(spans[inside[1], 0]), end), (start, int(spans[inside[-2], 1]))]
    return moves[int(rng.integers(0, len(moves)))] if moves else span


def _random_spans(labels: list[str], spans: np.ndarray, rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
    if not len(spans):
        return []
    starts = rng.choice(len(spans), size=min(count, len(spans)), replace=False)
    out = []
    for s in starts:
        last = min(len(spans) - 1, s + int(rng.integers(0, 3)))
        out.append(
            {
                "label": labels[int(rng.integers(0, len(labels)))],
                "startOffset": int(spans[s, 0]),
                "endOffset": int(spans[last, 1]),
            }
        )
    return out


def _without_overlaps(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sorted spans, each overlapping an earlier one dropped (the element refuses overlaps)."""
    out: list[dict[str, Any]] = []
    for entity in sorted(entities, key=lambda e: (e["startOffset"], e["endOffset"])):
        if not out or entity["startOffset"] >= out[-1]["endOffset"]:
            out.append(entity)
    return out


def answer_entities(
    spec: WorkerModelSpec,
    labels: Sequence[str],
    text: str,
    truth: Any,
    seed: int,
    worker: int,
    object_key: str,
    initial: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """crowd-entity-annotation output {"entities": [{label, startOffset, endOffset}]}.

    good/sloppy: each true span missed with the miss rate, one edge off by a token with
    probability 1.5 x (1 - accuracy), label drawn from the confusion matrix; adversary: spans
    moved to the next token and mislabelled; spammer: 0-4 random spans; constant: one label on
    the first few tokens. With an initial value, initialValueModified says whether it changed.
    """
    labels = list(labels) or ["entity"]
    rng = rng_for("answer-spans", seed, worker, object_key)
    spans = tokens(text)
    true = true_entities(truth, text)
    if true is None:
        true = latent_entities(text, labels, seed, object_key)
    if spec.kind == "spammer":
        entities = _random_spans(labels, spans, rng, int(rng.integers(0, 5)))
    elif spec.kind == "constant":
        label = labels[int(rng_for("constant-span", seed, worker).integers(0, len(labels)))]
        entities = [{"label": label, "startOffset": int(s), "endOffset": int(e)} for s, e in spans[:2]]
    else:
        kept = rng.random(len(true)) >= spec.miss_rate
        off = rng.random(len(true)) < min(1.0, 1.5 * (1.0 - spec.accuracy))
        given = confuse_labels(spec, labels, [e["label"] for e in true], rng, seed, worker)
        entities = []
        for i in np.flatnonzero(kept):
            span = (true[i]["startOffset"], true[i]["endOffset"])
            if spec.kind == "adversary":
                later = np.flatnonzero(spans[:, 0] >= span[1])
                span = (int(spans[later[0], 0]), int(spans[later[0], 1])) if len(later) else span
            elif off[i]:
                span = _shift_edge(span, spans, rng)
            entities.append({"label": given[i], "startOffset": int(span[0]), "endOffset": int(span[1])})
    answer: dict[str, Any] = {"entities": _without_overlaps(entities)}
    if initial is not None:
        answer["initialValueModified"] = answer["entities"] != _without_overlaps(initial)
    return answer


def span_f1(answer: Sequence[Mapping[str, Any]], truth: Sequence[Mapping[str, Any]]) -> float:
    """Exact-match span F1 (label and both offsets), the usual NER score."""
    given = {(e["label"], e["startOffset"], e["endOffset"]) for e in answer}
    true = {(e["label"], e["startOffset"], e["endOffset"]) for e in truth}
    if not given and not true:
        return 1.0
    hits = len(given & true)
    return 2 * hits / (len(given) + len(true))
