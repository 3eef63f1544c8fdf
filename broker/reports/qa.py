"""`broker report qa JOB`: bulk-QA analysis of a verification job over model labels.

Per shown class and model-confidence bin: how many objects were verified, how many every worker
confirmed, every worker disconfirmed, or split on, and the share the consolidated verdict says
is correct. Per class, the confidence threshold above which the model's labels are best accepted
without review, when a wrong accepted label (false positive) costs `fp_cost_ratio` times one
human review: the threshold t minimising fp_cost_ratio * wrong(conf >= t) + count(conf < t).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from rich.table import Table

from broker.domain.lifecycle import ObjectStatus
from broker.store.answers import verdict_arrays
from broker.store.jobs import job_spec
from broker.store.views import object_results
from broker.verify.batching import is_verification
from broker.verify.consolidate import fit_votes
from broker.verify.inputs import shown_label

DEFAULT_BINS = (80.0, 85.0, 90.0, 95.0, 100.0)


@dataclass(frozen=True)
class QaRow:
    label: str
    low: float  # confidence bin [low, high) in percent; the last bin includes high
    high: float
    total: int  # verified objects (a consolidated verdict)
    confirmed: int  # every worker said the label fits
    disconfirmed: int  # no worker said it fits
    split: int  # the workers disagreed
    correct: int  # the consolidated verdict says the label fits
    pct_correct: float | None


@dataclass(frozen=True)
class ThresholdAdvice:
    label: str
    threshold: float | None  # accept the model's label at confidence >= threshold; None: review everything
    accepted: int
    false_positives: int  # accepted, but the consolidated verdict says the label is wrong
    reviewed: int
    cost: float  # fp_cost_ratio * false_positives + reviewed, in units of one review


@dataclass(frozen=True)
class QaReport:
    job: str
    bins: tuple[float, ...]
    fp_cost_ratio: float
    rows: list[QaRow]
    thresholds: list[ThresholdAdvice]
    unbinned: int  # verified objects whose confidence is missing or outside the bins

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "bins": list(self.bins),
            "fp_cost_ratio": self.fp_cost_ratio,
            "unbinned": self.unbinned,
            "rows": [asdict(r) for r in self.rows],
            "thresholds": [asdict(t) for t in self.thresholds],
        }


def parse_bins(text: str) -> tuple[float, ...]:
    """ "80,85,90,95,100" -> edges; at least two, strictly increasing, within 0-100."""
    try:
        edges = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"bins must be comma-separated numbers, got {text!r}") from None
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0 or edges[-1] > 100:
        raise ValueError(f"bins need at least two strictly increasing edges within 0-100, got {text!r}")
    return edges


def bin_codes(confidence: np.ndarray, bins: tuple[float, ...]) -> np.ndarray:
    """Bin index per object, -1 outside the bins or without a confidence (the top edge is inside)."""
    edges = np.asarray(bins, dtype=float)
    codes = np.searchsorted(edges, confidence, side="right") - 1
    codes = np.where(confidence == edges[-1], len(edges) - 2, codes)
    return np.where(np.isnan(confidence) | (codes < 0) | (codes > len(edges) - 2), -1, codes)


def qa_tables(
    job: str,
    classes: list[str],
    class_codes: np.ndarray,
    confidence: np.ndarray,
    verdict: np.ndarray,
    fit_votes: np.ndarray,
    votes: np.ndarray,
    bins: tuple[float, ...] = DEFAULT_BINS,
    fp_cost_ratio: float = 1.0,
) -> QaReport:
    """The report from per-object arrays: class code, confidence (%), consolidated verdict
    (0 fits, 1 does not, -1 none), verdicts saying it fits, and all verdicts."""
    if fp_cost_ratio < 0:
        raise ValueError("fp_cost_ratio must not be negative")
    n_bins = len(bins) - 1
    verified = (verdict >= 0) & (votes > 0)
    codes = bin_codes(confidence.astype(float), bins)
    inside = verified & (codes >= 0)
    cell = class_codes[inside] * n_bins + codes[inside]
    size = len(classes) * n_bins

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(cell, weights=mask[inside], minlength=size).astype(np.int64).reshape(len(classes), n_bins)

    ones = np.ones_like(verdict, dtype=bool)
    total, correct = count(ones), count(verdict == 0)
    confirmed, disconfirmed = count(fit_votes == votes), count(fit_votes == 0)
    rows = [
        QaRow(
            classes[c],
            bins[b],
            bins[b + 1],
            int(total[c, b]),
            int(confirmed[c, b]),
            int(disconfirmed[c, b]),
            int(total[c, b] - confirmed[c, b] - disconfirmed[c, b]),
            int(correct[c, b]),
            round(100.0 * correct[c, b] / total[c, b], 1) if total[c, b] else None,
        )
        for c in range(len(classes))
        for b in range(n_bins)
        if total[c, b]
    ]
    wrong = total - correct
    # accept bins j.. (j = n_bins: accept nothing): false positives above, reviews below
    false_positives = np.cumsum(wrong[:, ::-1], axis=1)[:, ::-1]
    false_positives = np.concatenate([false_positives, np.zeros((len(classes), 1), dtype=np.int64)], axis=1)
    reviewed = np.concatenate([np.zeros((len(classes), 1), dtype=np.int64), np.cumsum(total, axis=1)], axis=1)
    cost = fp_cost_ratio * false_positives + reviewed
    best = np.argmin(cost, axis=1)
    thresholds = [
        ThresholdAdvice(
            classes[c],
            bins[j] if j < n_bins else None,
            int(reviewed[c, -1] - reviewed[c, j]),
            int(false_positives[c, j]),
            int(reviewed[c, j]),
            float(cost[c, j]),
        )
        for c, j in enumerate(best)
        if total[c].sum()
    ]
    return QaReport(job, tuple(bins), float(fp_cost_ratio), rows, thresholds, int((verified & (codes < 0)).sum()))


def load_qa_report(
    session: Any, job: Any, bins: tuple[float, ...] = DEFAULT_BINS, fp_cost_ratio: float = 1.0
) -> QaReport:
    """The report of a label-verification job from the broker DB."""
    if not is_verification(job):
        raise ValueError(f"job {job.name} is a {job.task_type} job; the QA report needs a label-verification job")
    spec = job_spec(job)
    objects = [(o.index, o.data_json, o.status, o.label_json) for o in object_results(session, job.id)]
    n = max([job.n_objects, *(o[0] + 1 for o in objects)])
    shown = {index: shown_label(json.loads(data), spec.verification) for index, data, _, _ in objects}
    classes = sorted({s.label for s in shown.values()})
    class_codes = np.zeros(n, dtype=np.int64)
    confidence = np.full(n, np.nan)
    verdict = np.full(n, -1, dtype=np.int64)
    code_of = {label: i for i, label in enumerate(classes)}
    for index, _, status, label_json in objects:
        class_codes[index] = code_of[shown[index].label]
        confidence[index] = np.nan if shown[index].confidence is None else shown[index].confidence
        if status == ObjectStatus.CONSOLIDATED and label_json is not None:
            verdict[index] = int(json.loads(label_json))
    fits, votes = fit_votes(verdict_arrays(session, job.id), n)
    return qa_tables(job.name, classes, class_codes, confidence, verdict, fits, votes, bins, fp_cost_ratio)


# ----------------------------------------------------------------------------------- output

ROW_COLUMNS = ("label", "low", "high", "total", "confirmed", "disconfirmed", "split", "correct", "pct_correct")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def qa_csv(report: QaReport) -> str:
    """One CSV row per class and bin, then the thresholds (section column tells them apart)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", *ROW_COLUMNS])
    for row in report.rows:
        writer.writerow(["bin", *map(_cell, asdict(row).values())])
    writer.writerow(["section", "label", "threshold", "accepted", "false_positives", "reviewed", "cost"])
    for advice in report.thresholds:
        writer.writerow(["threshold", *map(_cell, asdict(advice).values())])
    return out.getvalue()


def qa_rich_tables(report: QaReport) -> list[Any]:
    """The two terminal tables: per class x bin, and the threshold per class."""
    bins = Table(title=f"bulk QA of {report.job} (model confidence bins, %)")
    for name in ("class", "confidence", "total", "confirmed", "disconfirmed", "split", "% correct"):
        bins.add_column(name, justify="left" if name in ("class", "confidence") else "right")
    for row in report.rows:
        bins.add_row(
            row.label,
            f"{row.low:g}-{row.high:g}",
            str(row.total),
            str(row.confirmed),
            str(row.disconfirmed),
            str(row.split),
            "-" if row.pct_correct is None else f"{row.pct_correct:.1f}",
        )
    advice = Table(
        title=f"accept the model's label from this confidence (a false positive costs {report.fp_cost_ratio:g} reviews)"
    )
    for name in ("class", "threshold %", "accepted", "false positives", "reviewed", "cost"):
        advice.add_column(name, justify="left" if name == "class" else "right")
    for item in report.thresholds:
        advice.add_row(
            item.label,
            "review all" if item.threshold is None else f">= {item.threshold:g}",
            str(item.accepted),
            str(item.false_positives),
            str(item.reviewed),
            f"{item.cost:g}",
        )
    return [bins, advice]
