"""The default's worker-accuracy intervals: parameter, item-label and model uncertainty, checked on simulated crowds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import betaincinv

import scoring
from scoring._answers import prepare_answers, prepare_gold
from scoring.selection import (
    EQUAL_WORKERS,
    MODEL_UNCERTAINTY,
    accuracy_posterior,
    beta_moments,
    equal_workers_fit,
    model_averaged_beta,
)

CLASS_PRIOR = np.array([0.5, 0.3, 0.2])


def simulated_crowd(kind: str, seed: int, n_items: int = 1200, n_workers: int = 50, per_item: int = 5):
    """Answers from one worker model; returns items, workers, labels and each worker's true accuracy.

    ``one-coin``, ``class-conditional`` and ``full`` draw from that family (accuracies Beta(5, 2),
    uneven activity, 3 classes with a skewed prior). ``misspecified`` is a full-confusion crowd where
    a third of the items are hard for everyone alike (a shared lure class), which no family models.
    The true accuracy is the expected share right over the worker's answers; ``truth`` the items' classes.
    """
    rng = np.random.default_rng(seed)
    k = CLASS_PRIOR.size
    truth = rng.choice(k, n_items, p=CLASS_PRIOR)
    activity = rng.lognormal(0.0, 0.7, n_workers)
    workers = np.concatenate(
        [rng.choice(n_workers, per_item, replace=False, p=activity / activity.sum()) for _ in range(n_items)]
    )
    items = np.repeat(np.arange(n_items), per_item)
    accuracy = rng.beta(5, 2, n_workers)
    off = np.ones((n_workers, k, k))
    if kind == "one-coin":
        diagonal = np.repeat(accuracy[:, None], k, axis=1)
    elif kind == "class-conditional":
        diagonal = np.clip(accuracy[:, None] + rng.normal(0.0, 0.12, (n_workers, k)), 0.2, 0.99)
    else:
        diagonal = np.clip(accuracy[:, None] + rng.normal(0.0, 0.08, (n_workers, k)), 0.2, 0.99)
        off[:, ~np.eye(k, dtype=bool)] = rng.dirichlet(np.full(k - 1, 0.5), size=(n_workers, k)).reshape(n_workers, -1)
    off *= 1.0 - np.eye(k)
    off /= off.sum(axis=2, keepdims=True)
    confusion = diagonal[:, :, None] * np.eye(k) + (1.0 - diagonal)[:, :, None] * off
    answer_p = confusion[workers, truth[items]]
    if kind == "misspecified":
        hard = rng.random(n_items) < 0.3
        lure = 0.4 * np.eye(k)[truth] + 0.6 * np.eye(k)[(truth + 1) % k]
        answer_p = np.where(hard[items, None], 0.5 * answer_p + 0.5 * lure[items], answer_p)
    labels = np.minimum((rng.random(items.size)[:, None] > answer_p.cumsum(axis=1)).sum(axis=1), k - 1)
    right_p = answer_p[np.arange(items.size), truth[items]]
    n_answers = np.bincount(workers, minlength=n_workers)
    true_accuracy = np.bincount(workers, weights=right_p, minlength=n_workers) / np.maximum(n_answers, 1)
    return items, workers, labels, true_accuracy, truth


def credible_covers(beta: np.ndarray, value: np.ndarray) -> np.ndarray:
    return (value >= betaincinv(beta[:, 0], beta[:, 1], 0.025)) & (value <= betaincinv(beta[:, 0], beta[:, 1], 0.975))


@pytest.mark.parametrize("kind", ["one-coin", "class-conditional", "full", "misspecified"])
def test_intervals_cover_the_true_accuracy_and_a_fresh_gold_check_at_the_claimed_rate(kind):
    credible, predictive, errors = [], [], []
    for seed in range(3):
        items, workers, labels, true_accuracy, _ = simulated_crowd(kind, seed)
        est = scoring.estimator("default").fit(items, workers, labels, n_classes=3)
        stats = scoring.worker_stats(items, workers, labels, est)
        seen = stats.n_answers > 0
        inside = (true_accuracy >= stats.accuracy_ci_low) & (true_accuracy <= stats.accuracy_ci_high)
        credible.append(inside[seen])
        # a gold check of 30 items the worker answers next: Beta-binomial predictive for 30 answers
        check = np.full(true_accuracy.size, 30)
        share = np.random.default_rng(100 + seed).binomial(check, true_accuracy) / check
        low, high = scoring.accuracy_predictive_interval(stats.accuracy_a, stats.accuracy_b, check)
        predictive.append(((share >= low - 1e-9) & (share <= high + 1e-9))[seen])
        errors.append(np.abs(est.worker_accuracy_ - true_accuracy)[seen].mean())
    # at least the claimed 95%, a little above it when the model is right: the interval also carries the
    # families' disagreement, which a real crowd needs (benchmarks/scoring.py --workers-only) and a crowd
    # drawn from one family does not
    assert 0.93 <= np.concatenate(credible).mean() <= 0.99
    assert 0.93 <= np.concatenate(predictive).mean() <= 0.99
    assert np.mean(errors) < 0.07


def test_model_uncertainty_raises_coverage_on_the_misspecified_crowd():
    inside = {"none": [], "mixture": []}
    for seed in range(3):
        items, workers, labels, true_accuracy, _ = simulated_crowd("misspecified", seed)
        est = scoring.estimator("default").fit(items, workers, labels, n_classes=3)
        chosen = accuracy_posterior(prepare_answers(items, workers, labels, 3), est.proba_)
        seen = np.bincount(workers, minlength=true_accuracy.size) > 0
        for rule in inside:
            beta = model_averaged_beta(chosen, est.worker_accuracy_family_beta_, est.model_, rule)
            inside[rule].append(credible_covers(beta, true_accuracy)[seen])
    assert np.concatenate(inside["mixture"]).mean() > np.concatenate(inside["none"]).mean()
    averaged = model_averaged_beta(chosen, est.worker_accuracy_family_beta_, est.model_)
    np.testing.assert_allclose(est.worker_accuracy_beta_, averaged)


def test_model_averaged_beta_by_hand():
    chosen = np.array([[8.0, 2.0], [30.0, 10.0]])
    families = {"class-conditional": chosen, "one-coin": np.array([[6.0, 4.0], [30.0, 10.0]])}
    mean, variance = beta_moments(chosen)
    other_mean, other_variance = beta_moments(families["one-coin"])
    mixed = beta_moments(model_averaged_beta(chosen, families, "class-conditional"))
    np.testing.assert_allclose(mixed[0], mean)  # the point estimate stays the chosen model's
    expected = variance + ((other_mean - mean) ** 2 + np.maximum(other_variance - variance, 0.0)) / 2
    np.testing.assert_allclose(mixed[1], expected)
    np.testing.assert_allclose(mixed[1][1], variance[1])  # families that agree add nothing
    widest = beta_moments(model_averaged_beta(chosen, families, "class-conditional", "widest"))
    np.testing.assert_allclose(widest[1], variance + (other_mean - mean) ** 2)
    assert model_averaged_beta(chosen, families, "class-conditional", "none") is chosen
    assert model_averaged_beta(chosen, {"one-coin": chosen}, "one-coin") is chosen
    with pytest.raises(ValueError, match="unknown model_uncertainty 'bma'; known: mixture, families, widest, none"):
        model_averaged_beta(chosen, families, "class-conditional", "bma")
    with pytest.raises(ValueError, match="unknown model_uncertainty"):
        scoring.estimator("default", model_uncertainty="bma")


def test_a_fixed_family_and_a_choice_on_a_sample_keep_their_accuracy_betas():
    items, workers, labels, _, _ = simulated_crowd("full", 0)
    data = prepare_answers(items, workers, labels, 3)
    fixed = scoring.estimator("default", family="one-coin").fit(items, workers, labels, n_classes=3)
    assert list(fixed.worker_accuracy_family_beta_) == ["one-coin"]
    np.testing.assert_allclose(fixed.worker_accuracy_beta_, accuracy_posterior(data, fixed.proba_))
    # above choice_answers the families are fitted on a sample of the items; the chosen model then on all
    sampled = scoring.estimator("default", choice_answers=4000).fit(items, workers, labels, n_classes=3)
    assert sampled.choice_items_ < data.n_items
    assert set(sampled.worker_accuracy_family_beta_) == {"one-coin", "class-conditional", "full", EQUAL_WORKERS}
    assert all(beta.shape == (50, 2) for beta in sampled.worker_accuracy_family_beta_.values())
    chosen = accuracy_posterior(data, sampled.proba_)
    mean, variance = beta_moments(sampled.worker_accuracy_beta_)
    np.testing.assert_allclose(mean, beta_moments(chosen)[0])
    np.testing.assert_allclose(sampled.worker_accuracy_, mean)
    assert np.all(variance >= beta_moments(chosen)[1] * (1 - 1e-9))


def test_equal_workers_fit_recovers_a_shared_accuracy_and_keeps_gold():
    rng = np.random.default_rng(3)
    n_items, k = 2000, 3
    truth = rng.integers(0, k, n_items)
    items = np.repeat(np.arange(n_items), 5)
    workers = rng.integers(0, 40, items.size)
    right = rng.random(items.size) < 0.75
    labels = np.where(right, truth[items], (truth[items] + rng.integers(1, k, items.size)) % k)
    data = prepare_answers(items, workers, labels, k, n_workers=40)
    gold = prepare_gold([0, 1], [(truth[0] + 1) % k, truth[1]], n_items, k)
    fit = equal_workers_fit(data, gold)
    assert fit.confusion[0, 0, 0] == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(fit.confusion[:, 0, 0], fit.confusion[0, 0, 0])  # one accuracy for all
    assert fit.posterior[0, (truth[0] + 1) % k] == 1.0 and fit.posterior[1, truth[1]] == 1.0
    assert np.mean(fit.posterior.argmax(axis=1)[2:] == truth[2:]) > 0.85
    np.testing.assert_allclose(fit.class_prior.sum(), 1.0)


def test_benchmark_worker_check_runs_on_a_datasets_folder(tmp_path):
    pd = pytest.importorskip("pandas")
    root = tmp_path / "datasets"
    root.mkdir()
    names = []
    for seed, kind in enumerate(["one-coin", "misspecified"]):
        items, workers, labels, _, truth = simulated_crowd(kind, seed, n_items=600)
        folder = root / f"sim_{kind}"
        folder.mkdir()
        answers = pd.DataFrame({"worker": [f"w{w}" for w in workers], "task": items, "label": labels})
        answers.to_csv(folder / "answers.csv", index=False)
        pd.DataFrame({"task": np.arange(truth.size), "label": truth}).to_csv(folder / "gold.csv", index=False)
        names.append(folder.name)
    pd.DataFrame({"name": names, "kind": "categorical"}).to_csv(root / "index.csv", index=False)
    repo = Path(__file__).resolve().parents[2]
    command = [sys.executable, str(repo / "benchmarks" / "scoring.py"), "--workers-only", "--no-crowdkit"]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    out = subprocess.run([*command, "--datasets", str(root)], capture_output=True, text=True, check=True, env=env)
    lines = out.stdout.splitlines()
    assert sum(line.startswith("| sim_") for line in lines) == 4  # each dataset in both tables
    pooled = next(line for line in lines if line.startswith("| **pooled**"))
    cells = [cell.strip() for cell in pooled.strip("|").split("|")]
    coverage = {rule: [float(x) for x in cell.split(" / ")] for rule, cell in zip(MODEL_UNCERTAINTY, cells[2:6])}
    # a model term only adds variance: never a narrower interval than the chosen model's own
    assert min(coverage["mixture"][0], coverage["families"][0], coverage["widest"][0]) >= coverage["none"][0]
    assert 0.9 <= coverage["mixture"][1] <= 1.0
    assert any("chosen leave-one-dataset-out" in line for line in lines)
