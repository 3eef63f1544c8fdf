"""EBCC: Bayesian classifier combination with class subtypes, which captures correlation between workers.

Li, Yu & Zhou, "Exploiting Worker Correlation for Label Aggregation in Crowdsourcing", ICML 2019.
Each true class k splits into ``n_subtypes`` latent subtypes m (weights pi_k ~ Dirichlet(a/M));
each worker has a confusion row per (class, subtype), v_wkm ~ Dirichlet(diagonal on the true
class, off_diagonal elsewhere); classes tau ~ Dirichlet(class_pseudo). Workers are independent
given the subtype, not given the class, so items of one subtype that fool several workers the
same way (correlated errors) are explained by a subtype rather than counted as agreeing evidence.

Fitted by mean-field variational Bayes, q(z, g) q(tau) q(pi) q(v), started from the soft
majority vote split randomly over subtypes (``seed``). Each iteration is one sparse product for
the E-step and one for the M-step over the (items, K * M) subtype posteriors, as in
``scoring.dawid_skene``. ``elbo_`` is the complete evidence lower bound of the answers, with every
prior's normaliser and the entropy of the joint (class, subtype) posteriors, so it bounds the same
log p(answers) the ELBOs of ``scoring.selection`` bound (theirs with priors fitted to the answers, these
fixed). Mean-field q settles on one labelling of each class's subtypes, so the bound is looser than
it could be by up to log(M!) nats per class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from scoring._answers import Answers
from scoring._base import Classifier, clamp_gold, soft_majority


@dataclass
class SubtypeFit:
    """One variational run: joint (class, subtype) posteriors and the Dirichlet posteriors' parameters."""

    joint: np.ndarray  # (N, K, M) q(z_i = k, g_i = m)
    class_counts: np.ndarray  # (K,) nu: Dirichlet posterior of the class proportions
    subtype_counts: np.ndarray  # (K, M) eta: Dirichlet posterior of each class's subtype weights
    worker_counts: np.ndarray  # (W, K, M, K) mu: Dirichlet posterior of each worker's (class, subtype) row
    log_likelihood: float  # sum over answered items of the E-step's log normaliser
    n_iter: int
    elbo: float = float("nan")


def log_beta(alpha: np.ndarray) -> np.ndarray:
    """log of the multivariate Beta function over the last axis."""
    return gammaln(alpha).sum(axis=-1) - gammaln(alpha.sum(axis=-1))


def expected_log(alpha: np.ndarray) -> np.ndarray:
    """E[log p] under Dirichlet(alpha) over the last axis."""
    return digamma(alpha) - digamma(alpha.sum(axis=-1, keepdims=True))


class EBCC(Classifier):
    """Enhanced Bayesian Classifier Combination: worker confusion per latent class subtype (see module doc).

    Defaults follow the authors' reference implementation: 10 subtypes, subtype prior 0.1
    (spread over the subtypes, so most stay empty), confusion prior 4 on the diagonal and 1
    off it, a uniform class prior, at most 500 iterations, stopping once no item's class
    posterior moves by more than ``tol``. ``n_restarts`` > 1 runs that many seeds and keeps the
    highest ELBO (chosen without gold). A seed gives the same result every time; the random split is
    drawn in item and class order, so unlike the EM estimators the result is not exactly invariant
    to relabelling items or classes.

    After ``fit``: ``elbo_`` (nats), ``subtype_weights_`` (K, M) posterior-mean subtype weights,
    ``worker_subtype_confusion_`` (W, K, M, K) posterior-mean rows, ``worker_confusion_`` their
    subtype-weighted mixture, ``restart_elbos_`` and ``restart_n_iter_`` the ELBO and iterations of each seed.
    """

    def __init__(
        self,
        n_subtypes: int = 10,
        subtype_pseudo: float = 0.1,
        class_pseudo: float = 1.0,
        diagonal: float = 4.0,
        off_diagonal: float = 1.0,
        max_iter: int = 500,
        tol: float = 1e-3,
        seed: int = 1234,
        n_restarts: int = 1,
    ) -> None:
        self.n_subtypes = n_subtypes
        self.subtype_pseudo = subtype_pseudo
        self.class_pseudo = class_pseudo
        self.diagonal = diagonal
        self.off_diagonal = off_diagonal
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.n_restarts = n_restarts

    def _check_params(self) -> None:
        if int(self.n_subtypes) < 1:
            raise ValueError(f"n_subtypes must be >= 1, got {self.n_subtypes}")
        if int(self.n_restarts) < 1:
            raise ValueError(f"n_restarts must be >= 1, got {self.n_restarts}")
        for name in ("subtype_pseudo", "class_pseudo", "diagonal", "off_diagonal"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def _confusion_prior(self, k: int) -> np.ndarray:
        """(K, K) Dirichlet parameters of every worker's row for true class k (row k)."""
        return np.full((k, k), float(self.off_diagonal)) + np.eye(k) * (self.diagonal - self.off_diagonal)

    def _fit(self, data: Answers, gold: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        self._check_params()
        votes = clamp_gold(soft_majority(data), gold)
        fits = [self._run(data, gold, votes, int(self.seed) + r) for r in range(int(self.n_restarts))]
        for fit in fits:
            fit.elbo = self._elbo(data, fit)
        best = max(fits, key=lambda f: f.elbo)
        self.restart_elbos_ = [f.elbo for f in fits]
        self.restart_n_iter_ = [f.n_iter for f in fits]
        self.elbo_ = best.elbo
        self.n_iter_ = best.n_iter
        self.log_likelihood_ = best.log_likelihood
        self.subtype_weights_ = best.subtype_counts / best.subtype_counts.sum(axis=1, keepdims=True)
        self.worker_subtype_confusion_ = best.worker_counts / best.worker_counts.sum(axis=3, keepdims=True)
        self.worker_confusion_ = np.einsum("km,wkml->wkl", self.subtype_weights_, self.worker_subtype_confusion_)
        self.class_prior_ = best.class_counts / best.class_counts.sum()
        posterior = best.joint.sum(axis=2)
        return clamp_gold(posterior, gold)

    def _m_step(self, data: Answers, joint: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Dirichlet posteriors (nu, eta, mu) from the joint posteriors of the answered items."""
        n, k, m = joint.shape
        flat = joint.reshape(n, k * m)
        # [w*K + answered, class*M + subtype] soft counts, one sparse product
        counts = (data.by_worker_label @ flat).reshape(data.n_workers, k, k, m).transpose(0, 2, 3, 1)
        worker_counts = counts + self._confusion_prior(k)[None, :, None, :]
        occupancy = data.sum_answered(flat).reshape(k, m)
        subtype_counts = occupancy + self.subtype_pseudo / m
        class_counts = occupancy.sum(axis=1) + self.class_pseudo
        return class_counts, subtype_counts, worker_counts

    def _e_step(
        self,
        data: Answers,
        gold: tuple[np.ndarray, np.ndarray],
        class_counts: np.ndarray,
        subtype_counts: np.ndarray,
        worker_counts: np.ndarray,
    ) -> tuple[np.ndarray, float]:
        """Joint (class, subtype) posteriors and the summed log normaliser of the answered items."""
        n_workers, k, m, _ = worker_counts.shape
        # [w*K + answered, class*M + subtype] = E[log v_w,class,subtype,answered]
        weights = expected_log(worker_counts).transpose(0, 3, 1, 2).reshape(n_workers * k, k * m)
        log_joint = data.by_item @ weights
        log_joint += (expected_log(subtype_counts) + expected_log(class_counts)[:, None]).ravel()
        g_items, g_labels = gold
        if g_items.size:
            wrong_class = np.ones((g_items.size, k), dtype=bool)
            wrong_class[np.arange(g_items.size), g_labels] = False
            view = log_joint.reshape(-1, k, m)
            rows = view[g_items]
            rows[wrong_class] = -np.inf
            view[g_items] = rows
        top = log_joint.max(axis=1, keepdims=True)
        log_joint -= top
        np.exp(log_joint, out=log_joint)
        total = log_joint.sum(axis=1, keepdims=True)
        log_joint /= total
        log_norm = np.log(total[:, 0]) + top[:, 0]
        return log_joint.reshape(-1, k, m), float(data.sum_answered(log_norm))

    def _run(self, data: Answers, gold: tuple, votes: np.ndarray, seed: int) -> SubtypeFit:
        """Variational updates from the vote shares split over subtypes by Dirichlet(1) draws."""
        m = int(self.n_subtypes)
        split = np.random.default_rng(seed).exponential(size=(*votes.shape, m))
        split /= split.sum(axis=2, keepdims=True)
        joint = split * votes[:, :, None]
        posterior = votes
        log_likelihood, n_iter = float("nan"), 0
        for n_iter in range(1, max(int(self.max_iter), 1) + 1):  # noqa: B007 - read after the loop
            params = self._m_step(data, joint)
            joint, log_likelihood = self._e_step(data, gold, *params)
            previous, posterior = posterior, joint.sum(axis=2)
            change = np.abs(posterior - previous)
            if float((change.max(axis=1) * data.answered_weight).max(initial=0.0)) <= self.tol:
                break
        return SubtypeFit(joint, *self._m_step(data, joint), log_likelihood, n_iter)

    def _elbo(self, data: Answers, fit: SubtypeFit) -> float:
        """The evidence lower bound at q(z, g) = ``fit.joint`` with each Dirichlet q optimal given it.

        With conjugate Dirichlet factors the bound collapses to sum(log B(posterior) - log B(prior))
        over every Dirichlet (class proportions, each class's subtype weights, each worker's
        (class, subtype) row) plus the entropy of q(z, g) over the answered items. ``fit``'s Dirichlet
        parameters are computed from ``fit.joint``, which this identity needs.
        """
        n, k, m = fit.joint.shape
        n_workers = fit.worker_counts.shape[0]
        confusion_prior = self._confusion_prior(k)
        workers = log_beta(fit.worker_counts).sum() - n_workers * m * log_beta(confusion_prior).sum()
        subtypes = log_beta(fit.subtype_counts).sum() - k * log_beta(np.full(m, self.subtype_pseudo / m))
        classes = log_beta(fit.class_counts) - log_beta(np.full(k, float(self.class_pseudo)))
        flat = fit.joint.reshape(n, k * m)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(flat > 0, flat * np.log(np.maximum(flat, 1e-300)), 0.0)
        entropy = -float(data.sum_answered(terms.sum(axis=1)))
        return float(workers + subtypes + classes + entropy)
