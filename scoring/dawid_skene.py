"""Dawid-Skene family EM: full confusion matrices, one-coin, and the pooled-prior Bayesian variant.

All three share one EM loop (``run_em``); they differ only in the M-step that turns
soft counts into confusion matrices. Each E-step and M-step is one sparse product
(see ``scoring._answers``), so an iteration over 10M answers costs two passes over
the answers and no (answers x K) temporaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import digamma, gammaln

from scoring._answers import Answers
from scoring._base import (
    Classifier,
    clamp_gold,
    diagonal_confusion,
    normalise_log,
    row_max,
    soft_majority,
    weighted_column_sums,
)
from scoring.majority import row_normalise

# M-step: (soft counts (W,K,K), posterior (N,K), answered weight (N,) 0/1) -> (confusion, class prior)
MStep = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

FLOOR = 1e-10


@dataclass
class EMResult:
    posterior: np.ndarray
    confusion: np.ndarray
    class_prior: np.ndarray
    n_iter: int
    log_likelihood: float


def answered_class_counts(posterior: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Expected number of answered items per class (``answered`` is a 0/1 weight per item)."""
    return weighted_column_sums(posterior, np.asarray(answered, dtype=np.float64))


def class_prior(posterior: np.ndarray, answered: np.ndarray, pseudo: float = 1.0) -> np.ndarray:
    """Class frequencies of answered items, with a symmetric Dirichlet pseudo-count."""
    counts = answered_class_counts(posterior, answered) + pseudo
    return counts / counts.sum()


def log_likelihood(data: Answers, confusion: np.ndarray, prior: np.ndarray, gold: tuple) -> tuple[np.ndarray, float]:
    """E-step: posteriors (gold clamped) and the observed-data log-likelihood of answered items."""
    log_joint = data.log_joint(np.log(np.maximum(confusion, FLOOR)), np.log(np.maximum(prior, FLOOR)))
    posterior, log_norm = normalise_log(log_joint)
    clamp_gold(posterior, gold)
    return posterior, float(data.sum_answered(log_norm))


def run_em(
    data: Answers,
    gold: tuple[np.ndarray, np.ndarray],
    initial_posterior: np.ndarray,
    m_step: MStep,
    max_iter: int,
    tol: float,
    posterior_tol: float = 0.0,
) -> EMResult:
    """EM from item posteriors until the log-likelihood's relative change is below ``tol``.

    With ``posterior_tol`` > 0, EM also stops once the items' posteriors moved by less
    than that on average (mean over items of the summed absolute change): labels and
    confidences are then settled, while the log-likelihood may still creep for tens
    of iterations as a few contested items drift on large, noisy crowds.
    """
    posterior = clamp_gold(initial_posterior, gold)
    answered = data.answered_weight
    previous = None
    confusion, prior, ll, n_iter = None, None, float("nan"), 0
    for n_iter in range(1, max(max_iter, 1) + 1):
        confusion, prior = m_step(data.confusion_counts(posterior), posterior, answered)
        old = posterior
        posterior, ll = log_likelihood(data, confusion, prior, gold)
        if previous is not None and abs(ll - previous) <= tol * max(abs(previous), 1e-12):
            break
        if posterior_tol > 0 and _mean_abs_change(old, posterior) <= posterior_tol:
            break
        previous = ll
    return EMResult(posterior, confusion, prior, n_iter, ll)


def _mean_abs_change(old: np.ndarray, new: np.ndarray) -> float:
    """Mean over items of the summed absolute change of their posterior between two iterations."""
    return float(np.abs(new - old).sum() / new.shape[0]) if new.size else 0.0


class _EMClassifier(Classifier):
    max_iter: int
    tol: float
    posterior_tol: float = 0.0
    warm_start: bool = False

    def _m_step(self, counts: np.ndarray, posterior: np.ndarray, answered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _initial_posterior(self, data: Answers) -> np.ndarray:
        """Soft majority vote; with ``warm_start``, the previous fit's posteriors for items it had answers for.

        The daemon re-fits a job each time answers arrive: starting from the last
        fit (item codes must be stable, new items appended) needs a few EM
        iterations instead of tens.
        """
        votes = soft_majority(data)
        previous = getattr(self, "proba_", None) if self.warm_start else None
        if previous is None or previous.shape[1] != data.n_classes:
            return votes
        n = min(previous.shape[0], data.n_items)
        reuse = data.answered[:n] & (self.labels_[:n] >= 0)
        votes[:n][reuse] = previous[:n][reuse]
        return votes

    def _fit(self, data: Answers, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        result = run_em(data, gold, self._initial_posterior(data), self._m_step, self.max_iter, self.tol,
                        self.posterior_tol)
        self._store(result)
        return result.posterior

    def _store(self, result: EMResult) -> None:
        self.worker_confusion_ = result.confusion
        self.class_prior_ = result.class_prior
        self.n_iter_ = result.n_iter
        self.log_likelihood_ = result.log_likelihood


class DawidSkene(_EMClassifier):
    """Dawid & Skene (1979): a full confusion matrix per worker, started from soft majority vote.

    ``smoothing`` is a symmetric Dirichlet pseudo-count added to every cell (MAP EM):
    it keeps a worker's never-seen (true, answered) cells and never-observed classes
    off zero, which plain DS turns into certainty.

    ``warm_start=True`` (here, in ``OneCoin`` and ``BayesianDawidSkene``) starts a
    re-fit from the previous fit's posteriors: the daemon's case, where a job is
    re-consolidated each time answers arrive.
    """

    def __init__(self, max_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.01, warm_start: bool = False) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing
        self.warm_start = warm_start

    def _m_step(self, counts: np.ndarray, posterior: np.ndarray, answered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return row_normalise(counts + self.smoothing), class_prior(posterior, answered)


class OneCoin(_EMClassifier):
    """One accuracy per worker; errors spread evenly over the other classes.

    Accuracy is the Beta(``prior_correct``, ``prior_wrong``) posterior mean, so a
    worker with one answer is not certain to be right or wrong.
    """

    def __init__(
        self,
        max_iter: int = 100,
        tol: float = 1e-5,
        prior_correct: float = 2.0,
        prior_wrong: float = 1.0,
        warm_start: bool = False,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.prior_correct = prior_correct
        self.prior_wrong = prior_wrong
        self.warm_start = warm_start

    def _m_step(self, counts: np.ndarray, posterior: np.ndarray, answered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        correct = np.trace(counts, axis1=1, axis2=2)
        total = counts.sum(axis=(1, 2))
        accuracy = (correct + self.prior_correct) / (total + self.prior_correct + self.prior_wrong)
        return diagonal_confusion(accuracy, counts.shape[1]), class_prior(posterior, answered)


def pooled_confusion(counts: np.ndarray) -> np.ndarray:
    """All workers' soft counts summed and row-normalised: the crowd's average confusion."""
    return row_normalise(counts.sum(axis=0) + 0.01)


class BayesianDawidSkene(_EMClassifier):
    """Dawid-Skene with a Dirichlet prior centred on the crowd's pooled confusion matrix.

    Each worker's row k gets pseudo-counts ``strength * pooled[k] + diagonal * e_k``
    (re-estimated every iteration): a worker with 2 answers is scored like the
    crowd, one with 500 like themselves, so sparse workers stop destroying DS
    (act_cf: DS 0.83, MV 0.88, this 0.89) while dense ones keep their own matrix.

    ``variational=True`` (the default) is the mean-field variational Bayes update
    of IBCC: the E-step uses E[log pi] = digamma(alpha) - digamma(sum alpha)
    instead of the log of the posterior mean, which discounts rare cells further.
    ``worker_confusion_`` is always the posterior mean.

    Guards from truth-inference.md section 4: if the pooled confusion shows label
    switching (matching true to answered classes, identity is not the best match),
    the fit restarts with a 10x stronger diagonal prior; if the result still
    contradicts the vote on more than ``max_unanimous_flips`` of the unanimous
    (>= 2 answers) items, the majority vote posterior is returned instead.
    ``fallback_`` says which happened ("none", "diagonal-prior", "majority").

    Sparse, many-class crowds (10 classes, a dozen answers per worker and class)
    leave most cells of a worker's matrix empty, and the fit turns that into
    certainty. Before EM, the marginal likelihood of the majority-vote counts
    decides whether to also pull every worker toward their own one-coin matrix
    (see ``_choose_one_coin_strength``); ``one_coin_strength_`` is the pseudo-count
    per row chosen (0 = off; ``one_coin_evidence=0`` disables it).
    ``posterior_tol`` stops EM once the posteriors settle (``run_em``).
    """

    def __init__(
        self,
        strength: float = 1.0,
        diagonal: float = 1.0,
        variational: bool = True,
        class_pseudo: float = 1.0,
        max_iter: int = 100,
        tol: float = 1e-6,
        max_unanimous_flips: float = 0.2,
        warm_start: bool = False,
        posterior_tol: float = 1e-3,
        one_coin_evidence: float = 100.0,
    ) -> None:
        self.warm_start = warm_start
        self.posterior_tol = posterior_tol
        self.one_coin_evidence = one_coin_evidence
        self.strength = strength
        self.diagonal = diagonal
        self.variational = variational
        self.class_pseudo = class_pseudo
        self.max_iter = max_iter
        self.tol = tol
        self.max_unanimous_flips = max_unanimous_flips

    def _alpha(self, counts: np.ndarray, diagonal: float) -> np.ndarray:
        k = counts.shape[1]
        alpha = counts + (self.strength * pooled_confusion(counts) + diagonal * np.eye(k))[None]
        if self.one_coin_strength_:
            alpha += self.one_coin_strength_ * one_coin_centre(counts)
        return alpha

    def _choose_one_coin_strength(self, counts: np.ndarray) -> float:
        """Pseudo-counts per row pulling each worker toward their own one-coin matrix, chosen by evidence.

        Many classes and few answers per (worker, class) leave most confusion cells at
        zero or one count; full matrices then make every disagreement look decisive
        (digits-like crowd, 10 classes, 3 answers per item: confidence 0.96 at accuracy
        0.82). The Dirichlet-multinomial marginal likelihood of the majority-vote soft
        counts compares two priors over a grid of strengths: shrinking every worker
        toward their own one-coin matrix, or toward the crowd's pooled matrix (what
        sparse crowds with shared class-specific confusions, like act_cf, prefer). The
        one-coin shrinkage is switched on only when it wins with a decisive strength
        (>= ``one_coin_evidence`` pseudo-counts per row); otherwise workers keep the
        pooled prior alone, so dense crowds keep their own matrices.
        """
        k = counts.shape[1]
        if self.one_coin_evidence <= 0 or k < 2:
            return 0.0
        pooled = pooled_confusion(counts)
        base = (self.strength * pooled + self.diagonal * np.eye(k))[None]
        centre = one_coin_centre(counts)
        answers = counts.sum(axis=2)
        one_coin = [_dirichlet_multinomial_log_evidence(counts, base + s * centre, answers) for s in STRENGTH_GRID]
        crowd = [_dirichlet_multinomial_log_evidence(counts, base + s * pooled[None], answers) for s in STRENGTH_GRID]
        best = float(STRENGTH_GRID[int(np.argmax(one_coin))])
        if max(one_coin) <= max(crowd) or best < self.one_coin_evidence:
            return 0.0
        return best

    def _m_step_with(self, diagonal: float) -> MStep:
        def m_step(counts: np.ndarray, posterior: np.ndarray, answered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            alpha = self._alpha(counts, diagonal)
            class_counts = answered_class_counts(posterior, answered) + self.class_pseudo
            if not self.variational:
                return alpha / alpha.sum(axis=2, keepdims=True), class_counts / class_counts.sum()
            # exp(E[log p]) under the Dirichlet posterior; run_em takes its log
            confusion = np.exp(digamma(alpha) - digamma(alpha.sum(axis=2, keepdims=True)))
            prior = np.exp(digamma(class_counts) - digamma(class_counts.sum()))
            return confusion, prior

        return m_step

    def _fit(self, data: Answers, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        initial = soft_majority(data)
        start = self._initial_posterior(data)
        self.fallback_ = "none"
        vote_counts = data.confusion_counts(clamp_gold(initial.copy(), gold))
        self.one_coin_strength_ = self._choose_one_coin_strength(vote_counts)
        result = run_em(data, gold, start, self._m_step_with(self.diagonal), self.max_iter, self.tol,
                        self.posterior_tol)
        counts = data.confusion_counts(result.posterior)
        if not _diagonal_dominant(counts.sum(axis=0)):
            self.fallback_ = "diagonal-prior"
            strong = self._m_step_with(self.diagonal * 10 + 1)
            result = run_em(data, gold, initial.copy(), strong, self.max_iter, self.tol, self.posterior_tol)
            counts = data.confusion_counts(result.posterior)
        if _unanimous_flip_rate(data, initial, result.posterior) > self.max_unanimous_flips:
            self.fallback_ = "majority"
            result.posterior = clamp_gold(initial, gold)
            counts = data.confusion_counts(result.posterior)
        alpha = self._alpha(counts, self.diagonal)
        result.confusion = alpha / alpha.sum(axis=2, keepdims=True)
        result.class_prior = class_prior(result.posterior, data.answered_weight, self.class_pseudo)
        self._store(result)
        return result.posterior


STRENGTH_GRID = np.array([0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0])


def one_coin_centre(counts: np.ndarray) -> np.ndarray:
    """(W, K, K): each worker's smoothed overall accuracy on the diagonal, errors spread evenly."""
    correct = np.trace(counts, axis1=1, axis2=2)
    accuracy = (correct + 2.0) / (counts.sum(axis=(1, 2)) + 3.0)
    return diagonal_confusion(accuracy, counts.shape[1])


def _dirichlet_multinomial_log_evidence(counts: np.ndarray, alpha: np.ndarray, answers: np.ndarray) -> float:
    """log p(counts | alpha) of every (worker, true class) row, up to the multinomial coefficient."""
    total = alpha.sum(axis=2)
    with np.errstate(all="ignore"):  # a zero prior cell (strength=diagonal=0) makes this prior unusable, not an error
        value = float((gammaln(total) - gammaln(total + answers)).sum() + (gammaln(counts + alpha) - gammaln(alpha)).sum())
    return value if np.isfinite(value) else -np.inf


def _diagonal_dominant(pooled_counts: np.ndarray) -> bool:
    """No label switching: matching true classes to answered classes, identity is the best match.

    A row may legitimately be dominated by another class (adult-content raters
    often call "mild" items "none"); what EM must not do is swap classes, which
    shows as a non-identity best assignment of the row-normalised pooled matrix.
    """
    rates = row_normalise(pooled_counts)
    observed = pooled_counts.sum(axis=1) > 1e-9
    rates = rates[np.ix_(observed, observed)]
    rows, columns = linear_sum_assignment(rates, maximize=True)
    return bool(rates[rows, columns].sum() <= np.trace(rates) + 1e-9)


def _unanimous_flip_rate(data: Answers, vote_share: np.ndarray, posterior: np.ndarray) -> float:
    """Share of unanimous (>= 2 answers, all equal) items whose EM label differs from the vote."""
    votes = np.diff(data.by_item.indptr)
    unanimous = (votes >= 2) & (row_max(vote_share) >= 1.0 - 1e-12)
    if not unanimous.any():
        return 0.0
    return float(np.mean(posterior[unanimous].argmax(axis=1) != vote_share[unanimous].argmax(axis=1)))
