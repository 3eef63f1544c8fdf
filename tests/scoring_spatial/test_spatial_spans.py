"""NER span consolidation: Jaccard clustering, mode/median boundaries, weighted label vote."""

from __future__ import annotations

import numpy as np
import pytest

from scoring._answers import AnswersError
from scoring.spans import SpanConsolidator, exact_span_matches, f1_from_counts, weighted_mode_or_median


def fit(crowd, **params) -> SpanConsolidator:
    return SpanConsolidator(**params).fit(
        crowd.objects,
        crowd.workers,
        crowd.starts,
        crowd.ends,
        crowd.labels,
        answered_objects=crowd.pair_objects,
        answered_workers=crowd.pair_workers,
        n_objects=crowd.n_objects,
        n_workers=crowd.n_workers,
        text_lengths=crowd.text_lengths,
    )


def exact_f1(est: SpanConsolidator, crowd) -> float:
    counts = np.zeros(3, dtype=np.int64)
    for obj in range(crowd.n_objects):
        starts, ends, labels, _ = est.entities_of(obj)
        truth = crowd.true_objects == obj
        counts += exact_span_matches(
            starts, ends, labels, crowd.true_starts[truth], crowd.true_ends[truth], crowd.true_labels[truth]
        )
    return f1_from_counts(*counts)


def test_learned_weights_beat_plain_mode_and_majority(span_crowd) -> None:
    crowd = span_crowd(n_objects=50, seed=3)
    learned = exact_f1(fit(crowd), crowd)
    plain = exact_f1(fit(crowd, learn_workers=False), crowd)
    assert learned > plain + 0.02
    assert learned > 0.95


def test_reliability_ranks_noisy_workers_below_good_ones(span_crowd) -> None:
    crowd = span_crowd(n_objects=50, seed=4)
    est = fit(crowd)
    noisy = np.isin(np.arange(crowd.n_workers), crowd.noisy_workers)
    assert est.reliability_[noisy].max() < est.reliability_[~noisy].min()


def test_mode_when_clear_else_lower_weighted_median() -> None:
    clusters = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3])
    values = np.array([5, 5, 7, 3, 4, 1, 2, 3, 9, 8, 6])
    weights = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3.0])
    assert weighted_mode_or_median(clusters, values, weights, 4).tolist() == [5, 3, 2, 6]


def test_label_by_vote_and_confidence_by_agreement() -> None:
    est = SpanConsolidator(learn_workers=False).fit(
        objects=[0, 0, 0], workers=[0, 1, 2], starts=[4, 4, 4], ends=[9, 9, 10], labels=[2, 2, 1]
    )
    assert (est.starts_.tolist(), est.ends_.tolist(), est.labels_.tolist()) == ([4], [9], [2])
    assert est.support_.tolist() == [1.0]
    assert est.confidence_[0] == pytest.approx(2 / 3)


def test_entity_ending_at_the_text_end_is_kept() -> None:
    est = SpanConsolidator().fit(
        objects=[0, 0, 0],
        workers=[0, 1, 2],
        starts=[10, 10, 11],
        ends=[20, 20, 20],
        labels=[0, 0, 0],
        text_lengths=[20],
    )
    assert (est.starts_.tolist(), est.ends_.tolist()) == ([10], [20])


def test_span_past_the_text_end_is_rejected() -> None:
    with pytest.raises(AnswersError, match=r"ends\[1\] = 21 is past the end of object 0's text"):
        SpanConsolidator().fit([0, 0], [0, 1], [10, 10], [20, 21], [0, 0], text_lengths=[20])


def test_empty_span_is_rejected() -> None:
    with pytest.raises(AnswersError, match=r"span 0 is empty"):
        SpanConsolidator().fit([0], [0], [5], [5], [0])


def test_no_spans_gives_no_entities() -> None:
    est = SpanConsolidator().fit([], [], [], [], [], answered_objects=[0, 0], answered_workers=[0, 1])
    assert est.starts_.size == 0
    assert est.object_starts_.tolist() == [0, 0]


def test_one_worker_spans_come_back_unchanged() -> None:
    est = SpanConsolidator().fit([0, 0], [3, 3], [0, 8], [4, 12], [1, 0])
    assert (est.starts_.tolist(), est.ends_.tolist(), est.labels_.tolist()) == ([0, 8], [4, 12], [1, 0])
    assert est.answer_entity_.tolist() == [0, 1]


def test_a_span_only_one_of_three_workers_marked_is_dropped() -> None:
    est = SpanConsolidator(learn_workers=False).fit(
        objects=[0, 0, 0, 0], workers=[0, 1, 2, 0], starts=[0, 0, 0, 30], ends=[5, 5, 5, 35], labels=[0, 0, 0, 1]
    )
    assert est.starts_.tolist() == [0]
    assert est.answer_entity_.tolist() == [0, 0, 0, -1]
