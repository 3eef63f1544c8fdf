"""The default: pick the worker model the answers support best, by the variational evidence (no gold needed).

Three conjugate worker models of the Dawid-Skene family, each fitted by variational EM
(IBCC-style: the E-step uses E[log p] under each worker's Dirichlet/Beta posterior):

* ``one-coin``: one accuracy per worker, errors spread evenly over the other classes;
* ``class-conditional``: one accuracy per worker and true class, errors spread evenly;
* ``full``: a full confusion matrix per worker (skipped for two classes, where it is
  the class-conditional model).

Every prior is centred on the crowd's pooled estimate (re-estimated each iteration) with a
strength chosen by type-II maximum likelihood: the Dirichlet-multinomial evidence of the
soft counts over a grid. After each fit, the evidence lower bound (ELBO) of the answers is
computed exactly for the fitted item posteriors; the model with the highest ELBO is kept.
Nothing is chosen by accuracy on any benchmark: more parameters must pay for themselves in
the likelihood of the answers at hand. The choice costs one fit per candidate.

Worker accuracy (``worker_accuracy_``) is the chosen model's posterior mean of the share of a
worker's answers that are right. Its Beta (``worker_accuracy_beta_``) carries three uncertainties:
the worker's own parameter (empirical-Bayes Beta posterior, prior fitted on the crowd), the item
labels (Poisson-binomial variance of the soft correct count), and the model itself: the chosen
model may be wrong, so the variance is taken over an equal-weight mixture of every family fitted
and the family's simplest member, one accuracy for every worker (``worker_accuracy_family_beta_``),
about the chosen mean. The ELBO picks one model decisively (gaps of hundreds of nats), but real
crowds fit none of them: where the models disagree on a worker, their disagreement is the best
gold-free sign of how far off the chosen one may be.
``scoring.worker_stats`` turns it into intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from scoring._answers import Answers, prepare_answers
from scoring._base import clamp_gold, diagonal_confusion, normalise_log, row_sum, soft_majority
from scoring.dawid_skene import FLOOR, EMResult, _diagonal_dominant, _EMClassifier, answered_class_counts, run_em
from scoring.majority import row_normalise

FAMILIES = ("one-coin", "class-conditional", "full")
# how the fitted families' disagreement on a worker's accuracy enters its interval (model_averaged_beta)
MODEL_UNCERTAINTY = ("mixture", "families", "widest", "none")
# the family's simplest member, fitted only for the intervals: one accuracy shared by every worker
EQUAL_WORKERS = "equal-workers"
# above this many answers the model is chosen on a seeded random share of the items holding about this many,
# and only the chosen model is fitted on all of them (~1.3 fits instead of 3): ELBO gaps between the families
# grow with the data (on 1M answers they are thousands of nats), so a million answers decide as well as ten
CHOICE_ANSWERS = 1_000_000
# prior strengths (pseudo-answers per row) the evidence chooses from: a log grid wide enough for 1 to 1000s of answers
STRENGTHS = 2.0 ** np.arange(0, 13)


@dataclass(frozen=True)
class RowStats:
    """A family's sufficient statistics: soft counts (W, R, C) of its multinomial rows and their prior centre.

    ``spread`` is log(K-1) for the families that spread errors evenly: each wrong answer
    has probability (1 - accuracy) / (K - 1), a constant the evidence must include.
    """

    counts: np.ndarray
    centre: np.ndarray  # (1, R, C), rows sum to 1
    spread: float


def family_stats(family: str, confusion_counts: np.ndarray, n_classes: int | None = None) -> RowStats:
    """Reduce (W, K, K) soft counts (true, answered) to ``family``'s rows, with the pooled prior centre.

    One-coin also accepts (W, 1, 2) right/wrong counts (``Answers.correct_counts``) with ``n_classes``.
    """
    k = n_classes or confusion_counts.shape[1]
    spread = float(np.log(k - 1)) if k > 2 else 0.0
    diagonal = np.diagonal(confusion_counts, axis1=1, axis2=2)
    if family == "one-coin":
        correct = diagonal.sum(axis=1)
        counts = np.stack([correct, confusion_counts.sum(axis=(1, 2)) - correct], axis=1)[:, None, :]
    elif family == "class-conditional":
        counts = np.stack([diagonal, confusion_counts.sum(axis=2) - diagonal], axis=2)
    elif family == "full":
        counts, spread = confusion_counts, 0.0
    else:
        raise ValueError(f"unknown worker model {family!r}; known: {', '.join(FAMILIES)}")
    counts = np.maximum(counts, 0.0)
    pooled = counts.sum(axis=0, keepdims=True)
    # a light symmetric pseudo-count keeps every cell of the centre positive (a never-seen answer stays possible)
    centre = row_normalise(pooled + 1.0 / counts.shape[2])
    return RowStats(counts, centre, spread)


def log_evidence(stats: RowStats, strengths: np.ndarray) -> np.ndarray:
    """log p(soft counts | prior ``strength * centre``) for each strength: Dirichlet-multinomial rows.

    Exact for integer counts; for soft counts it is the worker part of the ELBO at those
    item posteriors (the optimal Dirichlet q(p) given q(z) turns it into this ratio of Beta
    functions). Wrong answers of the evenly-spreading families pay their log(K-1).
    """
    counts, centre = stats.counts, np.broadcast_to(stats.centre, stats.counts.shape)
    seen = counts > 0
    cell_counts, cell_centre = counts[seen], centre[seen]
    answers = counts.sum(axis=2)
    row_answers = answers[answers > 0]
    wrong = counts[..., 1:].sum() if stats.spread else 0.0
    values = np.empty(len(strengths))
    for index, strength in enumerate(strengths):
        alpha = strength * cell_centre
        values[index] = (
            (gammaln(strength) - gammaln(strength + row_answers)).sum()
            + (gammaln(cell_counts + alpha) - gammaln(alpha)).sum()
            - wrong * stats.spread
        )
    return values


def local_best_strength(stats: RowStats, index: int) -> int:
    """The grid index of the best strength among ``index`` and its two neighbours (one coordinate-ascent step)."""
    lo, hi = max(index - 1, 0), min(index + 2, len(STRENGTHS))
    return lo + int(np.argmax(log_evidence(stats, STRENGTHS[lo:hi])))


def expected_log_confusion(family: str, stats: RowStats, strength: float, k: int) -> np.ndarray:
    """(W, K, K) E[log P(answer | true)] under each worker's Dirichlet posterior (the VB E-step's weights)."""
    alpha = stats.counts + strength * stats.centre
    expected = digamma(alpha) - digamma(alpha.sum(axis=2, keepdims=True))
    return _expand(family, expected, stats.spread, k)


def mean_confusion(family: str, stats: RowStats, strength: float, k: int) -> np.ndarray:
    """(W, K, K) posterior-mean confusion matrices."""
    alpha = stats.counts + strength * stats.centre
    return np.exp(_expand(family, np.log(alpha / alpha.sum(axis=2, keepdims=True)), stats.spread, k))


def _expand(family: str, log_rows: np.ndarray, spread: float, k: int) -> np.ndarray:
    """A family's (W, R, C) log row probabilities as (W, K, K) log confusion matrices."""
    if family == "full":
        return log_rows
    n_workers = log_rows.shape[0]
    right = np.broadcast_to(log_rows[:, :, 0], (n_workers, k))  # one-coin: R = 1, the same for every class
    wrong = np.broadcast_to(log_rows[:, :, 1], (n_workers, k)) - spread
    out = np.repeat(wrong[:, :, None], k, axis=2)
    idx = np.arange(k)
    out[:, idx, idx] = right
    return out


def class_log_evidence(class_counts: np.ndarray) -> float:
    """log p(class counts) under a uniform Dirichlet prior on the class proportions."""
    k = class_counts.size
    return float(gammaln(k) - gammaln(k + class_counts.sum()) + gammaln(1.0 + class_counts).sum())


def entropy(posterior: np.ndarray, weight: np.ndarray) -> float:
    """Summed entropy of the item posteriors of answered items (``weight`` 0/1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(posterior > 0, posterior * np.log(np.maximum(posterior, 1e-300)), 0.0)
    return float(-(row_sum(terms) * weight).sum())


@dataclass
class FamilyFit:
    family: str
    result: EMResult
    strength: float
    elbo: float
    label_consistent: bool


class ModelSelection(_EMClassifier):
    """Variational EM for each worker model in ``families``; keeps the one with the highest ELBO.

    After ``fit``: ``model_`` (the chosen family), ``elbo_`` (family -> ELBO, nats),
    ``prior_strength_`` (family -> evidence-chosen pseudo-answers per row),
    ``worker_accuracy_`` and ``worker_accuracy_beta_`` (W, 2) Beta posterior of each
    worker's accuracy, ``fallback_`` ("none", or "majority" when every candidate shows
    label switching). ``family`` fixes one model instead of choosing.
    ``model_uncertainty`` says how the families' disagreement widens ``worker_accuracy_beta_``
    (``model_averaged_beta``); ``worker_accuracy_family_beta_`` holds each family's own Beta,
    and the equal-workers model's (``equal_workers_fit``) when the choice had more than one family.
    """

    def __init__(
        self,
        families: tuple[str, ...] = FAMILIES,
        family: str | None = None,
        max_iter: int = 100,
        tol: float = 1e-6,
        posterior_tol: float = 1e-3,
        accelerate: bool = True,
        dtype: str = "float64",
        warm_start: bool = False,
        choice_answers: int | None = CHOICE_ANSWERS,
        model_uncertainty: str = "mixture",
    ) -> None:
        if model_uncertainty not in MODEL_UNCERTAINTY:
            known = ", ".join(MODEL_UNCERTAINTY)
            raise ValueError(f"unknown model_uncertainty {model_uncertainty!r}; known: {known}")
        self.model_uncertainty = model_uncertainty
        self.choice_answers = choice_answers
        self.families = families
        self.family = family
        self.max_iter = max_iter
        self.tol = tol
        self.posterior_tol = posterior_tol
        self.accelerate = accelerate
        self.dtype = dtype
        self.warm_start = warm_start

    def _candidates(self, k: int) -> list[str]:
        chosen = [self.family] if self.family else list(self.families)
        for name in chosen:
            if name not in FAMILIES:
                raise ValueError(f"unknown worker model {name!r}; known: {', '.join(FAMILIES)}")
        if k <= 2 and "class-conditional" in chosen and "full" in chosen:
            chosen.remove("full")  # two classes: the same model as class-conditional
        return chosen

    def _fit_family(
        self, family: str, data: Answers, gold: tuple, start: np.ndarray, start_counts: np.ndarray
    ) -> FamilyFit:
        k = data.n_classes
        # type-II ML: the strength is re-chosen by the evidence at every M-step, among its grid neighbours
        chosen = {"index": int(np.argmax(log_evidence(family_stats(family, start_counts), STRENGTHS)))}

        def m_step(counts: np.ndarray, posterior: np.ndarray, answered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            stats = family_stats(family, counts, k)
            chosen["index"] = local_best_strength(stats, chosen["index"])
            confusion = np.exp(expected_log_confusion(family, stats, float(STRENGTHS[chosen["index"]]), k))
            class_counts = answered_class_counts(posterior, answered) + 1.0
            return confusion, np.exp(digamma(class_counts) - digamma(class_counts.sum()))

        result = run_em(
            data,
            gold,
            start.astype(self.dtype),
            m_step,
            self.max_iter,
            self.tol,
            self.posterior_tol,
            self.accelerate,
            counts_of=data.correct_counts if family == "one-coin" else None,
        )
        posterior = result.posterior.astype(np.float64)
        posterior /= row_sum(posterior)[:, None]
        result.posterior = posterior
        counts = data.confusion_counts(posterior)
        stats = family_stats(family, counts)
        strength = float(STRENGTHS[local_best_strength(stats, chosen["index"])])
        elbo = (
            float(log_evidence(stats, np.array([strength]))[0])
            + class_log_evidence(answered_class_counts(posterior, data.answered_weight))
            + entropy(posterior, data.answered_weight)
        )
        result.confusion = mean_confusion(family, stats, strength, k)
        class_counts = answered_class_counts(posterior, data.answered_weight) + 1.0
        result.class_prior = class_counts / class_counts.sum()
        return FamilyFit(family, result, strength, elbo, _diagonal_dominant(counts.sum(axis=0)))

    def _fit_families(self, data: Answers, gold: tuple, families: list[str]) -> list[FamilyFit]:
        votes = soft_majority(data)
        start = clamp_gold(self._initial_posterior(data, votes), gold)
        # the first prior strength is read off hard votes: soft vote shares make every worker look alike, and a
        # search started at full pooling stays in the all-workers-equal optimum even where the ELBO is higher
        # with workers told apart (a few answers per worker)
        start_counts = data.confusion_counts(clamp_gold(hard_votes(votes), gold))
        return [self._fit_family(family, data, gold, start.copy(), start_counts) for family in families]

    def _fit(self, data: Answers, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        candidates = self._candidates(data.n_classes)
        choice_data, choice_gold = data, gold
        if len(candidates) > 1 and self.choice_answers and data.n_answers > self.choice_answers:
            choice_data, choice_gold = item_sample(data, gold, self.choice_answers / data.n_answers)
        self.choice_items_ = choice_data.n_items
        fits = self._fit_families(choice_data, choice_gold, candidates)
        family_betas = {f.family: accuracy_posterior(choice_data, f.result.posterior) for f in fits}
        self.elbo_ = {f.family: f.elbo for f in fits}
        self.prior_strength_ = {f.family: f.strength for f in fits}
        consistent = [f for f in fits if f.label_consistent]
        if consistent and choice_data is not data:
            chosen = max(consistent, key=lambda f: f.elbo).family
            consistent = [f for f in self._fit_families(data, gold, [chosen]) if f.label_consistent]
        self.fallback_ = "none" if consistent else "majority"
        if consistent:
            best = max(consistent, key=lambda f: f.elbo)
            self.model_ = best.family
            result = best.result
        else:
            self.model_ = "majority"
            votes = soft_majority(data)
            posterior = clamp_gold(votes, gold)
            result = EMResult(posterior, row_normalise(data.confusion_counts(posterior)), votes.mean(axis=0), 0, np.nan)
        self._store(result)
        chosen_beta = accuracy_posterior(data, result.posterior)
        # candidate truths: fits that kept the labels and tell items apart (workers' codes are kept by item_sample)
        self.worker_accuracy_family_beta_ = {
            f.family: family_betas[f.family]
            for f in fits
            if f.family == self.model_ or (f.label_consistent and informative(f.result, choice_data.answered_weight))
        }
        if len(candidates) > 1 and self.model_uncertainty in ("mixture", "widest"):
            equal = equal_workers_fit(choice_data, choice_gold, self.max_iter)
            # a shared accuracy at or below guessing has switched the labels; one at the class prior explains nothing
            if equal.confusion[0, 0, 0] > 1.0 / data.n_classes and informative(equal, choice_data.answered_weight):
                self.worker_accuracy_family_beta_[EQUAL_WORKERS] = accuracy_posterior(choice_data, equal.posterior)
        if self.model_ in self.worker_accuracy_family_beta_:
            self.worker_accuracy_beta_ = model_averaged_beta(
                chosen_beta, self.worker_accuracy_family_beta_, self.model_, self.model_uncertainty
            )
        else:
            self.worker_accuracy_beta_ = chosen_beta
        return result.posterior

    def _finish(self, data: Answers, gold: tuple[np.ndarray, np.ndarray], posterior: np.ndarray) -> None:
        super()._finish(data, gold, posterior)
        a, b = self.worker_accuracy_beta_[:, 0], self.worker_accuracy_beta_[:, 1]
        self.worker_accuracy_ = a / (a + b)


def item_sample(data: Answers, gold: tuple, share: float, seed: int = 0) -> tuple[Answers, tuple]:
    """The answers (and gold) of a seeded random ``share`` of the items, renumbered; workers keep their codes."""
    keep = np.random.default_rng(seed).random(data.n_items) < share
    new_code = np.cumsum(keep) - 1
    rows = keep[data.items]
    sample = prepare_answers(
        new_code[data.items[rows]],
        data.workers[rows],
        data.labels[rows],
        data.n_classes,
        n_items=int(keep.sum()),
        n_workers=data.n_workers,
    )
    gold_items, gold_labels = gold
    kept_gold = keep[gold_items]
    return sample, (new_code[gold_items[kept_gold]], gold_labels[kept_gold])


def hard_votes(votes: np.ndarray) -> np.ndarray:
    """Each item's most-voted classes (ties share the item evenly)."""
    top = (votes == votes.max(axis=1, keepdims=True)).astype(np.float64)
    return top / row_sum(top)[:, None]


def accuracy_posterior(data: Answers, posterior: np.ndarray) -> np.ndarray:
    """(W, 2) Beta(a, b) posterior of each worker's accuracy (share of their answers that are right).

    Empirical Bayes: the prior is Beta centred on the crowd's pooled accuracy with the
    strength the evidence of all workers' soft correct/wrong counts prefers, so a worker
    with two answers is scored near the crowd and one with 500 by their own record. The
    soft correct count is uncertain too (each answer is right with the item posterior's
    probability of its label): that Poisson-binomial variance is added before the result
    is moment-matched to one Beta. Workers without answers get the prior.
    """
    n_workers = data.n_workers
    right = posterior[data.items, data.labels]
    correct = np.bincount(data.workers, weights=right, minlength=n_workers)
    total = np.bincount(data.workers, minlength=n_workers).astype(np.float64)
    label_variance = np.bincount(data.workers, weights=right * (1.0 - right), minlength=n_workers)
    counts = np.stack([correct, total - correct], axis=1)[:, None, :]
    pooled = row_normalise(counts.sum(axis=0, keepdims=True) + 1.0)
    stats = RowStats(counts, pooled, 0.0)
    strength = float(STRENGTHS[int(np.argmax(log_evidence(stats, STRENGTHS)))])
    a = strength * pooled[0, 0, 0] + correct
    b = strength * pooled[0, 0, 1] + total - correct
    n = a + b
    mean = a / n
    variance = mean * (1.0 - mean) / (n + 1.0) + label_variance / n**2
    # moment-matched Beta: a + b = mean (1 - mean) / variance - 1
    size = np.maximum(mean * (1.0 - mean) / np.maximum(variance, FLOOR) - 1.0, 1e-3)
    return np.stack([mean * size, (1.0 - mean) * size], axis=1)


def equal_workers_fit(data: Answers, gold: tuple, max_iter: int = 100, tol: float = 1e-6) -> EMResult:
    """EM for the family's simplest member: one accuracy shared by every worker, errors spread evenly.

    Its item posteriors weigh every answer alike (a majority vote with calibrated odds); it is not
    a candidate for the labels (the evidence never prefers it on real crowds) but it is the
    hypothesis "these workers do not differ", whose accuracy for each worker is the share of their
    answers that the crowd's votes support: where the per-worker models read much more into a
    worker than that, the interval says so. Cheap: every step is on the (items, K) vote counts.
    """
    k = data.n_classes
    votes = data.vote_counts()
    n_votes = votes.sum(axis=1, keepdims=True)
    answered = data.answered_weight
    posterior = clamp_gold(soft_majority(data), gold)
    accuracy, prior = 0.5, np.full(k, 1.0 / k)
    for _ in range(max(max_iter, 1)):
        accuracy = float(np.clip((votes * posterior).sum() / max(float(n_votes.sum()), 1.0), 1e-6, 1.0 - 1e-6))
        prior = (answered_class_counts(posterior, answered) + 1.0) / (answered.sum() + k)
        log_wrong = np.log((1.0 - accuracy) / max(k - 1, 1))
        log_joint = votes * (np.log(accuracy) - log_wrong) + n_votes * log_wrong + np.log(prior)
        new, _ = normalise_log(log_joint)
        clamp_gold(new, gold)
        change = float(np.abs(new - posterior).sum() / max(new.shape[0], 1))
        posterior = new
        if change <= tol:
            break
    confusion = diagonal_confusion(np.full(data.n_workers, accuracy), k)
    return EMResult(posterior, confusion, prior, 0, np.nan)


def informative(result: EMResult, answered: np.ndarray, min_distance: float = 0.01) -> bool:
    """Whether a fit's item posteriors move off its class prior (mean total-variation distance over answered items).

    A fit whose posteriors all sit at the class prior explains every answer as noise: each worker's
    accuracy is then chance by construction, which says nothing about that worker (a few answers
    per worker can leave a family there while another tells the workers apart).
    """
    weight = answered.sum()
    if weight == 0:
        return False
    distance = 0.5 * np.abs(result.posterior - result.class_prior[None, :]).sum(axis=1)
    return float((distance * answered).sum() / weight) >= min_distance


def beta_moments(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of each row's Beta(a, b) of a (W, 2) array."""
    a, b = beta[:, 0], beta[:, 1]
    n = a + b
    return a / n, a * b / (n * n * (n + 1.0))


def beta_from_moments(mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """(W, 2) Beta with the given means and variances (variance capped below mean (1 - mean))."""
    mean = np.clip(mean, FLOOR, 1.0 - FLOOR)
    size = np.maximum(mean * (1.0 - mean) / np.maximum(variance, FLOOR) - 1.0, 1e-3)
    return np.stack([mean * size, (1.0 - mean) * size], axis=1)


def model_averaged_beta(
    chosen_beta: np.ndarray, family_betas: dict[str, np.ndarray], chosen: str, rule: str = "mixture"
) -> np.ndarray:
    """The chosen model's accuracy Beta, widened by how much the other fitted families disagree with it.

    ``family_betas`` are every family's (W, 2) accuracy posteriors fitted on the same answers
    (``chosen``'s among them). ``"mixture"``: the variance about the chosen mean of an equal-weight
    mixture of the families' Betas, i.e. mean over families of (variance + (mean - chosen mean)^2),
    with the chosen family's variance taken from ``chosen_beta`` (the fit on all answers) and
    never below it (a family that is surer of a worker does not narrow the interval).
    ``"families"``: the same without the equal-workers model (``EQUAL_WORKERS``).
    ``"widest"``: the largest squared deviation of any family instead of the mean one.
    ``"none"``: ``chosen_beta`` as it is. The mean is always ``chosen_beta``'s, so the point estimate
    is the chosen model's.
    """
    if rule not in MODEL_UNCERTAINTY:
        raise ValueError(f"unknown model_uncertainty {rule!r}; known: {', '.join(MODEL_UNCERTAINTY)}")
    mean, variance = beta_moments(chosen_beta)
    if rule == "families":
        family_betas = {name: beta for name, beta in family_betas.items() if name != EQUAL_WORKERS}
    if rule == "none" or len(family_betas) < 2:
        return chosen_beta
    reference = beta_moments(family_betas[chosen])[0]
    moments = [beta_moments(beta) for name, beta in family_betas.items() if name != chosen]
    # deviations within the families' common fit (on a sample of the items above CHOICE_ANSWERS)
    squared = np.array([(other - reference) ** 2 for other, _ in moments])
    if rule == "widest":
        extra = squared.max(axis=0)
    else:
        others = np.array([other_variance for _, other_variance in moments])
        extra = (squared + np.maximum(others - variance, 0.0)).sum(axis=0) / (len(moments) + 1)
    return beta_from_moments(mean, variance + extra)
