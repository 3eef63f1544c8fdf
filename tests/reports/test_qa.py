"""The bulk-QA report on hand-computed tables: class x confidence bin counts and thresholds."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from broker.reports.qa import bin_codes, parse_bins, qa_csv, qa_tables

# (class code, confidence %, consolidated verdict (0 fits, 1 not, -1 none), verdicts saying it fits, verdicts)
OBJECTS = [
    (0, 82, 0, 3, 3),
    (0, 84, 1, 0, 3),
    (0, 80, 0, 2, 3),  # cat 80-85: confirmed, disconfirmed, split
    (0, 87, 0, 3, 3),
    (0, 85, 1, 1, 3),  # cat 85-90: confirmed, split (wrong)
    (0, 99, 0, 3, 3),
    (0, 100, 0, 3, 3),  # cat 95-100 (100 is inside the top bin)
    (0, 79, 0, 3, 3),  # below the bins: unbinned
    (0, 92, -1, 0, 0),  # not verified yet: not counted
    (1, 96, 1, 0, 3),
    (1, 91, 0, 3, 3),  # dog
    (1, np.nan, 0, 3, 3),  # no confidence: unbinned
]


def report(ratio: float):
    columns = list(zip(*OBJECTS))
    return qa_tables(
        "verify-pets",
        ["cat", "dog"],
        np.array(columns[0]),
        np.array(columns[1], dtype=float),
        np.array(columns[2]),
        np.array(columns[3]),
        np.array(columns[4]),
        fp_cost_ratio=ratio,
    )


def test_table_counts_each_class_and_bin_by_hand() -> None:
    result = report(2.0)
    rows = [
        (r.label, r.low, r.high, r.total, r.confirmed, r.disconfirmed, r.split, r.correct, r.pct_correct)
        for r in result.rows
    ]
    assert rows == [
        ("cat", 80, 85, 3, 1, 1, 1, 2, 66.7),
        ("cat", 85, 90, 2, 1, 0, 1, 1, 50.0),
        ("cat", 95, 100, 2, 2, 0, 0, 2, 100.0),
        ("dog", 90, 95, 1, 1, 0, 0, 1, 100.0),
        ("dog", 95, 100, 1, 0, 1, 0, 0, 0.0),
    ]
    assert result.unbinned == 2


def test_threshold_minimises_false_positive_cost_plus_reviews() -> None:
    cheap = {t.label: (t.threshold, t.accepted, t.false_positives, t.reviewed, t.cost) for t in report(2.0).thresholds}
    # cat: accepting from 80 costs 2 wrong x 2 = 4, less than any review (>= 85: 1x2 + 3 = 5, none: 7)
    assert cheap["cat"] == (80, 7, 2, 0, 4.0)
    # dog: accept all (1 wrong x 2) ties with reviewing both (2); the lower threshold wins the tie
    assert cheap["dog"] == (80, 2, 1, 0, 2.0)
    dear = {t.label: (t.threshold, t.accepted, t.false_positives, t.reviewed, t.cost) for t in report(4.0).thresholds}
    assert dear["cat"] == (90, 2, 0, 5, 5.0)  # >= 80: 8, >= 85: 7, >= 90: 0 wrong + 5 reviews
    assert dear["dog"] == (None, 0, 0, 2, 2.0)  # the 96% dog is wrong: review everything


def test_bins_are_configurable_and_checked() -> None:
    assert parse_bins("50, 75,100") == (50.0, 75.0, 100.0)
    for bad in ("80", "90,80", "80,80,90", "x,90", "80,101"):
        with pytest.raises(ValueError):
            parse_bins(bad)
    assert list(bin_codes(np.array([49.9, 50, 74.9, 75, 100, np.nan]), (50.0, 75.0, 100.0))) == [-1, 0, 0, 1, 1, -1]
    columns = list(zip(*OBJECTS))
    wide = qa_tables(
        "j",
        ["cat", "dog"],
        np.array(columns[0]),
        np.array(columns[1], dtype=float),
        np.array(columns[2]),
        np.array(columns[3]),
        np.array(columns[4]),
        bins=(0.0, 90.0, 100.0),
    )
    assert [(r.label, r.low, r.total, r.split) for r in wide.rows] == [
        ("cat", 0, 6, 2),
        ("cat", 90, 2, 0),
        ("dog", 90, 2, 0),
    ]
    assert wide.unbinned == 1


def test_csv_and_json_carry_the_same_figures() -> None:
    result = report(2.0)
    data = json.loads(json.dumps(result.as_dict()))
    assert data["rows"][0] == {
        "label": "cat",
        "low": 80,
        "high": 85,
        "total": 3,
        "confirmed": 1,
        "disconfirmed": 1,
        "split": 1,
        "correct": 2,
        "pct_correct": 66.7,
    }
    assert data["thresholds"][1]["label"] == "dog" and data["unbinned"] == 2
    rows = list(csv.reader(io.StringIO(qa_csv(result))))
    bins = [r for r in rows if r[0] == "bin"]
    assert len(bins) == 5 and bins[1][1:] == ["cat", "85", "90", "2", "1", "0", "1", "1", "50"]
    assert [r[1:3] for r in rows if r[0] == "threshold"] == [["cat", "80"], ["dog", "80"]]
