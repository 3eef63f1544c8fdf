"""Consolidation benchmark: our estimators against crowd-kit on real crowd data with gold.

    python benchmarks/scoring.py                      # every categorical dataset, all methods
    python benchmarks/scoring.py --skip GLAD,MACE     # leave out slow crowd-kit methods
    python benchmarks/scoring.py --synthetic          # also the 10M-answer runs
    python benchmarks/scoring.py --synthetic-only
    python benchmarks/scoring.py --calibration-only   # the digits-like crowd: mean confidence vs accuracy
    python benchmarks/scoring.py --workers-only       # only the worker-accuracy check (a minute)

Prints markdown tables: accuracy on gold items; in-sample against leave-one-dataset-out
means (anything chosen by accuracy, such as "the best single method", is chosen on the
other 11 datasets and scored on the 12th; the default chooses nothing by accuracy, so its
two figures are the same); the half-split noise level (each dataset with >= 1,000 gold
items split by items into two halves, fitted and scored separately); expected calibration
error (ECE) on gold; EBCC against the default (ELBO, accuracy, time per iteration, and the default
with EBCC as a fourth candidate chosen by ELBO); per-worker accuracy against gold-measured accuracy (MAE, Spearman,
interval coverage) next to crowd-kit DawidSkene's; repeated answers (latest vs all); wall
seconds. Every method gets the same answers: each worker's latest answer per item, so
crowd-kit figures can differ slightly from ../shared/datasets/crowdkit_results.csv, which
kept repeated pairs. Skipped crowd-kit methods are filled from that file and marked ``*``.
Needs the ``bench`` extra (crowd-kit, pandas).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import scoring  # noqa: E402
from scoring._answers import latest_answer_index, prepare_answers, prepare_gold  # noqa: E402
from scoring.calibration import TemperatureScaling, expected_calibration_error  # noqa: E402
from scoring.dawid_skene import _diagonal_dominant  # noqa: E402
from scoring.selection import MODEL_UNCERTAINTY, accuracy_posterior, model_averaged_beta  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
OURS = ["majority", "dawid-skene", "one-coin", "gt-modified-ds", "bayesian-ds", "model-selection", "ebcc"]
# the default with EBCC as a fourth candidate: whichever of the two fits has the higher ELBO (no gold)
WITH_EBCC = "default+ebcc"
PARAMS: dict[str, dict[str, object]] = {}  # estimator name -> parameters other than the registry's (--ebcc-restarts)
CROWDKIT = ["MajorityVote", "Wawa", "DawidSkene", "OneCoinDawidSkene", "GLAD", "MACE", "ZeroBasedSkill"]
CROWDKIT_CSV_NAMES = {
    "MajorityVote": "MV",
    "Wawa": "Wawa",
    "DawidSkene": "DS",
    "OneCoinDawidSkene": "OneCoinDS",
    "GLAD": "GLAD",
    "MACE": "MACE",
    "ZeroBasedSkill": "ZBS",
}
HALF_SPLIT_GOLD = 1_000  # gold items a dataset needs for the half-split noise check
MIN_GOLD_ANSWERS = 20  # gold answers a worker needs to enter the worker-accuracy check


@dataclass
class Dataset:
    name: str
    items: np.ndarray
    workers: np.ndarray
    labels: np.ndarray
    n_classes: int
    gold_items: np.ndarray
    gold_labels: np.ndarray


@dataclass
class Result:
    accuracy: float
    seconds: float
    ece: float = float("nan")
    ece_calibrated: float = float("nan")
    n_iter: int | None = None
    note: str = ""
    fitted: object = None  # the fitted estimator (ours) or crowd-kit method, for the worker check


@dataclass
class Row:
    dataset: Dataset
    results: dict[str, Result] = field(default_factory=dict)


def load_dataset(folder: Path, repeats: str = "latest") -> Dataset:
    """Integer-code a worker,task,label CSV and its gold; ``repeats="latest"``: each worker's last answer per item."""
    import pandas as pd

    answers = pd.read_csv(folder / "answers.csv")
    gold = pd.read_csv(folder / "gold.csv")
    task_codes = {t: i for i, t in enumerate(pd.unique(answers["task"]))}
    worker_codes = {w: i for i, w in enumerate(pd.unique(answers["worker"]))}
    classes = sorted(set(answers["label"]) | set(gold["label"]))
    label_codes = {c: i for i, c in enumerate(classes)}
    items = answers["task"].map(task_codes).to_numpy()
    workers = answers["worker"].map(worker_codes).to_numpy()
    labels = answers["label"].map(label_codes).to_numpy()
    if repeats == "latest":
        keep = np.sort(latest_answer_index(items, workers, len(worker_codes)))
    else:
        keep = np.arange(items.size)
    gold = gold[gold["task"].isin(task_codes)]
    return Dataset(
        name=folder.name,
        items=items[keep],
        workers=workers[keep],
        labels=labels[keep],
        n_classes=len(classes),
        gold_items=gold["task"].map(task_codes).to_numpy(),
        gold_labels=gold["label"].map(label_codes).to_numpy(),
    )


def categorical_datasets(root: Path) -> list[Path]:
    import pandas as pd

    index = pd.read_csv(root / "index.csv")
    return [root / name for name in index.loc[index["kind"] == "categorical", "name"]]


def selected_datasets(args: argparse.Namespace) -> list[Path]:
    """The categorical datasets, or only those `--only` names."""
    only = {s for s in args.only.split(",") if s}
    return [folder for folder in categorical_datasets(args.datasets) if not only or folder.name in only]


def cross_fitted_ece(proba: np.ndarray, truth: np.ndarray, seed: int = 0) -> float:
    """ECE after temperature scaling fitted on one half of the gold and applied to the other."""
    order = np.random.default_rng(seed).permutation(truth.size)
    halves = np.array_split(order, 2)
    calibrated = np.empty_like(proba)
    for fit_half, apply_half in (halves, halves[::-1]):
        scaler = TemperatureScaling().fit(proba[fit_half], truth[fit_half])
        calibrated[apply_half] = scaler.transform(proba[apply_half])
    return expected_calibration_error(calibrated, truth)


def run_ours(data: Dataset, name: str, repeats: int) -> Result:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        est = scoring.estimator(name, **PARAMS.get(name, {}))
        est.fit(data.items, data.workers, data.labels, n_classes=data.n_classes)
        seconds.append(time.perf_counter() - start)
        if seconds[-1] > 2.0:  # best of 3 only for fast fits, as for crowd-kit
            break
    proba = est.proba_[data.gold_items]
    return Result(
        accuracy=float(np.mean(est.labels_[data.gold_items] == data.gold_labels)),
        seconds=min(seconds),
        ece=expected_calibration_error(proba, data.gold_labels),
        ece_calibrated=cross_fitted_ece(proba, data.gold_labels),
        n_iter=est.n_iter_,
        fitted=est,
    )


def fit_ours(data: Dataset, name: str, repeats: str = "latest") -> scoring.Classifier:
    est = scoring.estimator(name)
    answers = prepare_answers(data.items, data.workers, data.labels, data.n_classes, repeats=repeats)
    return est.fit_answers(answers, prepare_gold(None, None, answers.n_items, data.n_classes))


def gold_worker_accuracy(data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(gold answers, share right) per worker code, over the worker's answers on gold items."""
    n_workers = int(data.workers.max()) + 1
    gold_of_item = np.full(int(data.items.max()) + 1, -1)
    gold_of_item[data.gold_items] = data.gold_labels
    truth = gold_of_item[data.items]
    on_gold = truth >= 0
    n = np.bincount(data.workers[on_gold], minlength=n_workers)
    right = np.bincount(data.workers[on_gold], weights=data.labels[on_gold] == truth[on_gold], minlength=n_workers)
    return n, np.divide(right, n, out=np.full(n_workers, np.nan), where=n > 0)


def crowdkit_worker_accuracy(method, n_workers: int, n_classes: int) -> np.ndarray:
    """Class-prior-weighted diagonal of crowd-kit's ``errors_`` (P(answer | truth)), as our worker_accuracy_."""
    errors = method.errors_
    prior = method.priors_.reindex(range(n_classes)).fillna(0.0).to_numpy()
    accuracy = np.zeros(n_workers)
    for k in range(n_classes):
        if k not in errors.columns:
            continue
        diagonal = errors[k].xs(k, level="label") if k in errors.index.get_level_values("label") else None
        if diagonal is not None:
            accuracy[diagonal.index.to_numpy()] += prior[k] * diagonal.to_numpy()
    return accuracy


@dataclass
class WorkerCheck:
    workers: int
    dataset: str = ""
    mae: dict[str, float] = field(default_factory=dict)
    spearman: dict[str, float] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)  # credible interval covers gold share
    predictive: dict[str, float] = field(default_factory=dict)  # Beta-binomial interval for n gold answers
    # the default's predictive coverage under each way of adding model uncertainty (selection.MODEL_UNCERTAINTY)
    rules: dict[str, float] = field(default_factory=dict)
    rules_credible: dict[str, float] = field(default_factory=dict)


def covered(share: np.ndarray, gold_n: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per worker: gold share inside the 95% credible interval of Beta ``beta``; inside the predictive one."""
    from scipy.special import betaincinv

    a, b = beta[:, 0], beta[:, 1]
    credible = (share >= betaincinv(a, b, 0.025)) & (share <= betaincinv(a, b, 0.975))
    low, high = scoring.accuracy_predictive_interval(a, b, gold_n)
    return credible, (share >= low - 1e-9) & (share <= high + 1e-9)


def worker_check(data: Dataset, fitted: dict[str, scoring.Classifier], crowdkit_ds) -> WorkerCheck | None:
    """Per-worker accuracy of each fitted estimator (and crowd-kit DS) against gold, workers with enough gold."""
    from scipy.stats import spearmanr

    gold_n, gold_share = gold_worker_accuracy(data)
    mask = gold_n >= MIN_GOLD_ANSWERS
    if mask.sum() < 3:
        return None
    check = WorkerCheck(int(mask.sum()), data.name)
    estimates = {name: est.worker_accuracy_[: gold_n.size] for name, est in fitted.items()}
    if crowdkit_ds is not None:
        estimates["crowd-kit DS"] = crowdkit_worker_accuracy(crowdkit_ds, gold_n.size, data.n_classes)
    for name, estimate in estimates.items():
        check.mae[name] = float(np.mean(np.abs(estimate[mask] - gold_share[mask])))
        check.spearman[name] = float(spearmanr(estimate[mask], gold_share[mask]).statistic)
    for name, est in fitted.items():
        stats = scoring.worker_stats(data.items, data.workers, data.labels, est)
        inside = (gold_share >= stats.accuracy_ci_low) & (gold_share <= stats.accuracy_ci_high)
        check.coverage[name] = float(np.mean(inside[mask]))
        low, high = scoring.accuracy_predictive_interval(stats.accuracy_a, stats.accuracy_b, gold_n)
        check.predictive[name] = float(np.mean(((gold_share >= low - 1e-9) & (gold_share <= high + 1e-9))[mask]))
    default = fitted.get(scoring.DEFAULT)
    family_betas = getattr(default, "worker_accuracy_family_beta_", None)
    if family_betas:
        answers = prepare_answers(data.items, data.workers, data.labels, data.n_classes)
        chosen = accuracy_posterior(answers, default.proba_)
        for rule in MODEL_UNCERTAINTY:
            beta = model_averaged_beta(chosen, family_betas, default.model_, rule)[: gold_n.size]
            credible, predictive = covered(gold_share, gold_n, beta)
            check.rules_credible[rule] = float(np.mean(credible[mask]))
            check.rules[rule] = float(np.mean(predictive[mask]))
    return check


def subset(data: Dataset, keep_items: np.ndarray) -> Dataset:
    """The answers and gold of the items in ``keep_items`` (a boolean mask over item codes)."""
    rows = keep_items[data.items]
    gold = keep_items[data.gold_items]
    return Dataset(
        data.name,
        data.items[rows],
        data.workers[rows],
        data.labels[rows],
        data.n_classes,
        data.gold_items[gold],
        data.gold_labels[gold],
    )


def half_split(data: Dataset, crowdkit: bool, seed: int = 0) -> list[tuple[float, float]] | None:
    """(default accuracy, crowd-kit DS accuracy) on each half of the items; None for small datasets."""
    if data.gold_items.size < HALF_SPLIT_GOLD:
        return None
    n_items = int(data.items.max()) + 1
    first = np.random.default_rng(seed).permutation(n_items) < n_items // 2
    halves = []
    for keep in (first, ~first):
        part = subset(data, keep)
        ours = run_ours(part, "default", repeats=1).accuracy
        theirs = run_crowdkit(part, "DawidSkene", repeats=1).accuracy if crowdkit else float("nan")
        halves.append((ours, theirs))
    return halves


def repeated_answers(folder: Path) -> str | None:
    """Latest-only against all answers on a dataset with repeated (worker, item) pairs; None without any.

    Gold-free evidence first: for each repeated pair, how often the earliest and the latest
    answer agree with the other workers' majority on that item (a later answer that agrees
    more is a correction; equal agreement means a re-draw), and how often the two agree with
    each other (a worker's repeats are far from independent when they nearly always agree).
    Accuracy on gold of the default both ways is printed for information only.
    """
    data = load_dataset(folder, repeats="all")
    n_workers = int(data.workers.max()) + 1
    key = data.items * np.int64(n_workers) + data.workers
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    first_of_run = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    last_of_run = np.r_[sorted_key[1:] != sorted_key[:-1], True]
    run_length = np.diff(np.r_[np.flatnonzero(first_of_run), key.size])
    repeated = run_length > 1
    if not repeated.any():
        return None
    first_rows = order[first_of_run][repeated]
    last_rows = order[last_of_run][repeated]
    votes = np.zeros((int(data.items.max()) + 1, data.n_classes))
    latest = np.sort(latest_answer_index(data.items, data.workers, n_workers))
    np.add.at(votes, (data.items[latest], data.labels[latest]), 1.0)
    items = data.items[last_rows]
    others = votes[items].copy()
    others[np.arange(items.size), data.labels[last_rows]] -= 1.0  # leave this worker's own (latest) answer out
    has_others = others.sum(axis=1) > 0
    majority = others.argmax(axis=1)
    agree_first = np.mean((data.labels[first_rows] == majority)[has_others])
    agree_last = np.mean((data.labels[last_rows] == majority)[has_others])
    self_agree = np.mean(data.labels[first_rows] == data.labels[last_rows])
    latest_data = load_dataset(folder)
    acc_latest = run_ours(latest_data, "default", repeats=1).accuracy
    est_all = fit_ours(data, "default", repeats="all")
    acc_all = float(np.mean(est_all.labels_[data.gold_items] == data.gold_labels))
    return (
        f"| {data.name} | {int(repeated.sum())} | {agree_first:.3f} | {agree_last:.3f} | {self_agree:.3f} "
        f"| {acc_latest:.4f} | {acc_all:.4f} |"
    )


def pick_best(rows: list[Row], methods: list[str], leave_out: int | None = None) -> str:
    """The method with the best mean accuracy over ``rows`` (without row ``leave_out``)."""
    scored = [r for i, r in enumerate(rows) if i != leave_out]
    usable = [m for m in methods if all(m in r.results for r in rows)]
    return max(usable, key=lambda m: np.mean([r.results[m].accuracy for r in scored]))


def in_sample_and_loo(rows: list[Row], methods: list[str]) -> tuple[float, float, list[str]]:
    """Mean accuracy of "the best of ``methods``" chosen on all rows, and chosen leaving each row out."""
    best = pick_best(rows, methods)
    in_sample = float(np.mean([r.results[best].accuracy for r in rows]))
    picks = [pick_best(rows, methods, leave_out=i) for i in range(len(rows))]
    loo = float(np.mean([r.results[p].accuracy for r, p in zip(rows, picks)]))
    return in_sample, loo, picks


def print_protocol(rows: list[Row], crowdkit: list[str]) -> None:
    default = scoring.DEFAULT
    print("\n### In-sample against leave-one-dataset-out means (accuracy on gold)\n")
    print("| what | chosen by accuracy? | in-sample mean | leave-one-dataset-out mean | LOO picks |")
    print("|---|---|---:|---:|---|")
    mean_default = float(np.mean([r.results[default].accuracy for r in rows]))
    print(f"| ours: default ({default}) | no | {mean_default:.4f} | {mean_default:.4f} | – |")
    with_ebcc = float(np.mean([r.results[WITH_EBCC].accuracy for r in rows]))
    print(f"| ours: default with EBCC as a candidate, by ELBO | no | {with_ebcc:.4f} | {with_ebcc:.4f} | – |")
    groups = {
        "ours: default with or without EBCC": [default, WITH_EBCC],
        "ours: default or EBCC": [default, "ebcc"],
        "ours: best single method": OURS,
    }
    present = [m for m in crowdkit if all(m in r.results for r in rows)]
    if present:
        groups["crowd-kit: best single method"] = present
        groups["ours and crowd-kit: best single method"] = OURS + present
    for label, methods in groups.items():
        in_sample, loo, picks = in_sample_and_loo(rows, methods)
        names = ", ".join(sorted(set(picks)))
        print(f"| {label} | yes | {in_sample:.4f} | {loo:.4f} | {names} |")
    if present:
        oracle = float(np.mean([max(r.results[m].accuracy for m in present) for r in rows]))
        ds = float(np.mean([r.results["DawidSkene"].accuracy for r in rows])) if "DawidSkene" in present else np.nan
        print(f"| crowd-kit DawidSkene | no | {ds:.4f} | {ds:.4f} | – |")
        print(f"| crowd-kit per-dataset best (an oracle: needs gold) | yes, per dataset | {oracle:.4f} | – | – |")
        if "DawidSkene" in present:
            gaps = [r.results[default].accuracy - r.results["DawidSkene"].accuracy for r in rows]
            within = sum(g >= -0.005 for g in gaps)
            print(
                f"\nDefault minus crowd-kit DS: {within} of {len(rows)} datasets within 0.5 point or better; "
                f"worst {min(gaps):+.4f}, mean {np.mean(gaps):+.4f}."
            )


def _patch_crowdkit_sklearn() -> None:
    """crowd-kit 1.4.2's Wawa/ZBS call sklearn's check_is_fitted, which newer sklearn rejects for them."""
    import crowdkit.aggregation.classification.wawa as wawa
    import crowdkit.aggregation.classification.zero_based_skill as zbs

    wawa.check_is_fitted = zbs.check_is_fitted = lambda *args, **kwargs: None


def crowdkit_method(name: str):
    from crowdkit import aggregation

    if name in ("DawidSkene", "OneCoinDawidSkene"):
        return getattr(aggregation, name)(n_iter=100)
    return getattr(aggregation, name)()


def run_crowdkit(data: Dataset, name: str, repeats: int = 3) -> Result:
    import pandas as pd

    frame = pd.DataFrame({"worker": data.workers, "task": data.items, "label": data.labels})
    seconds = float("inf")
    for _attempt in range(repeats):  # best of 3 like ours, unless one fit is already slow
        method = crowdkit_method(name)
        start = time.perf_counter()
        labels = method.fit_predict(frame)
        seconds = min(seconds, time.perf_counter() - start)
        if seconds > 2.0:
            break
    predicted = labels.reindex(data.gold_items).to_numpy()
    result = Result(accuracy=float(np.mean(predicted == data.gold_labels)), seconds=seconds, fitted=method)
    history = getattr(method, "loss_history_", None)
    if history:
        result.n_iter = len(history)
    probas = getattr(method, "probas_", None)
    if probas is not None:
        proba = probas.reindex(index=data.gold_items, columns=range(data.n_classes)).fillna(0.0).to_numpy()
        result.ece = expected_calibration_error(proba, data.gold_labels)
    return result


def reference_result(root: Path, dataset: str, method: str) -> Result | None:
    import pandas as pd

    table = pd.read_csv(root / "crowdkit_results.csv")
    row = table[(table["dataset"] == dataset) & (table["method"] == CROWDKIT_CSV_NAMES[method])]
    if row.empty or row.iloc[0]["status"] != "ok":
        return None
    return Result(accuracy=float(row.iloc[0]["accuracy"]), seconds=float(row.iloc[0]["seconds"]), note="*")


def fmt(value: float, digits: int = 4) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def print_tables(rows: list[Row], methods: list[str]) -> None:
    default = scoring.DEFAULT
    label = {m: (f"{m} (default)" if m == default else m) for m in methods}
    print("\n### Accuracy on gold items\n")
    print("| dataset | answers | " + " | ".join(label[m] for m in methods) + " |")
    print("|---|---:|" + "---:|" * len(methods))
    for row in rows:
        cells = [fmt(row.results[m].accuracy) + row.results[m].note if m in row.results else "–" for m in methods]
        print(f"| {row.dataset.name} | {row.dataset.items.size} | " + " | ".join(cells) + " |")
    means = {m: np.mean([r.results[m].accuracy for r in rows if m in r.results]) for m in methods}
    print("| **mean** | | " + " | ".join(f"**{fmt(means[m])}**" for m in methods) + " |")
    mv = "majority"
    gain = {
        m: np.mean([r.results[m].accuracy - r.results[mv].accuracy for r in rows if m in r.results]) for m in methods
    }
    print("| gain over MV | | " + " | ".join(f"{gain[m]:+.4f}" for m in methods) + " |")

    print("\n### Expected calibration error on gold (10 bins; ours: raw / temperature-scaled, 2-fold)\n")
    with_ece = [m for m in methods if any(np.isfinite(r.results[m].ece) for r in rows if m in r.results)]
    print("| dataset | " + " | ".join(label[m] for m in with_ece) + " |")
    print("|---|" + "---:|" * len(with_ece))
    for row in rows:
        cells = []
        for m in with_ece:
            res = row.results.get(m)
            if res is None:
                cells.append("–")
            elif np.isfinite(res.ece_calibrated):
                cells.append(f"{fmt(res.ece, 3)} / {fmt(res.ece_calibrated, 3)}")
            else:
                cells.append(fmt(res.ece, 3))
        print(f"| {row.dataset.name} | " + " | ".join(cells) + " |")

    print("\n### Wall seconds per fit (best of 3 when a fit takes < 2 s; ours include input preparation)\n")
    print(
        "| dataset | answers | "
        + " | ".join(label[m] for m in methods)
        + " | crowd-kit DS / our DS | crowd-kit DS / our default | iterations: crowd-kit DS, our DS, default"
        + " | per-iteration: crowd-kit DS / our DS |"
    )
    print("|---|---:|" + "---:|" * (len(methods) + 4))
    for row in rows:
        cells = [fmt(row.results[m].seconds, 3) + row.results[m].note if m in row.results else "–" for m in methods]
        ck_ds = row.results.get("DawidSkene")
        ours_ds, ours_default = row.results["dawid-skene"], row.results[default]
        ratios = ["–", "–", "–", "–"]
        if ck_ds is not None and not ck_ds.note:
            ratios[0] = f"{ck_ds.seconds / ours_ds.seconds:.1f}x"
            ratios[1] = f"{ck_ds.seconds / ours_default.seconds:.1f}x"
            ratios[2] = f"{ck_ds.n_iter}, {ours_ds.n_iter}, {ours_default.n_iter}"
            if ck_ds.n_iter:
                per_ck, per_ours = ck_ds.seconds / ck_ds.n_iter, ours_ds.seconds / ours_ds.n_iter
                ratios[3] = f"{per_ck / per_ours:.0f}x"
        print(
            f"| {row.dataset.name} | {row.dataset.items.size} | "
            + " | ".join(cells)
            + " | "
            + " | ".join(ratios)
            + " |"
        )
    print("\n`*` = crowd-kit method skipped in this run; figure from crowdkit_results.csv (repeated pairs kept).")


def synthetic_answers(n_items: int, n_workers: int, n_classes: int, per_item: int, seed: int = 0):
    """Items each answered by ``per_item`` distinct workers with one-coin accuracies in [0.5, 0.95]."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    accuracy = rng.uniform(0.5, 0.95, n_workers)
    items = np.repeat(np.arange(n_items), per_item)
    start = rng.integers(0, n_workers, n_items)
    stride = np.arange(per_item) * (n_workers // per_item)
    workers = ((start[:, None] + stride[None, :]) % n_workers).ravel()
    correct = rng.random(items.size) < accuracy[workers]
    wrong = (truth[items] + rng.integers(1, n_classes, items.size)) % n_classes
    labels = np.where(correct, truth[items], wrong)
    return items, workers, labels, truth


def digits_crowd(seed: int, n_workers: int = 40, per_item: int = 3):
    """scikit-learn's 1,797 digits (10 classes) labelled 3 times by the demo's crowd mix.

    60% good workers (accuracy 0.90-0.97), 25% sloppy (0.6-0.8), errors spread
    unevenly (Dirichlet 0.8) as broker.marketplace.crowd does; 15% uniform
    spammers, who work ~3x faster and so take more HITs. Sparse and many-class:
    about a dozen answers per (worker, true class).
    """
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(seed)
    truth = load_digits().target
    k = 10
    n_good, n_sloppy = round(0.6 * n_workers), round(0.25 * n_workers)
    kind = rng.permutation(np.repeat([0, 1, 2], [n_good, n_sloppy, n_workers - n_good - n_sloppy]))
    accuracy = np.where(kind == 0, rng.uniform(0.9, 0.97, n_workers), rng.uniform(0.6, 0.8, n_workers))
    diagonal = np.clip(accuracy[:, None] + rng.normal(0.0, 0.03, (n_workers, k)), 0.0, 1.0)
    errors = np.zeros((n_workers, k, k))
    errors[:, ~np.eye(k, dtype=bool)] = rng.dirichlet(np.full(k - 1, 0.8), size=(n_workers, k)).reshape(n_workers, -1)
    confusion = diagonal[:, :, None] * np.eye(k) + (1.0 - diagonal)[:, :, None] * errors
    confusion[kind == 2] = 1.0 / k
    speed = np.array([1 / 8.0, 1 / 4.8, 1 / 2.25])[kind] * rng.lognormal(0.0, 0.25, n_workers)
    workers = np.concatenate(
        [rng.choice(n_workers, per_item, replace=False, p=speed / speed.sum()) for _ in range(truth.size)]
    )
    items = np.repeat(np.arange(truth.size), per_item)
    cumulative = confusion[workers, truth[items]].cumsum(axis=1)
    labels = np.minimum((rng.random(items.size)[:, None] > cumulative).sum(axis=1), k - 1)
    return items, workers, labels, truth


def run_calibration(seeds: int = 5, crowdkit: bool = True) -> None:
    """Mean confidence against accuracy on the digits-like crowd (all items have truth), averaged over seeds."""
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for seed in range(seeds):
        items, workers, labels, truth = digits_crowd(seed)
        for name in OURS:
            est = scoring.estimator(name).fit(items, workers, labels, n_classes=10)
            rows.setdefault(name, []).append(
                (
                    float(np.mean(est.labels_ == truth)),
                    float(est.confidence_.mean()),
                    expected_calibration_error(est.proba_, truth),
                )
            )
        if crowdkit:
            import pandas as pd

            frame = pd.DataFrame({"worker": workers, "task": items, "label": labels})
            for name in ("DawidSkene", "OneCoinDawidSkene"):
                method = crowdkit_method(name)
                predicted = method.fit_predict(frame).reindex(np.arange(truth.size)).to_numpy()
                proba = method.probas_.reindex(index=np.arange(truth.size), columns=range(10)).fillna(0.0).to_numpy()
                rows.setdefault(name, []).append(
                    (
                        float(np.mean(predicted == truth)),
                        float(proba.max(axis=1).mean()),
                        expected_calibration_error(proba, truth),
                    )
                )
    print(
        f"\n### Calibration on a digits-like crowd: 1,797 items, 10 classes, 3 answers each, 40 workers "
        f"(60% good, 25% sloppy, 15% uniform spammers); mean of {seeds} seeds\n"
    )
    print("| method | accuracy | mean confidence | confidence - accuracy | ECE |")
    print("|---|---:|---:|---:|---:|")
    for name, values in rows.items():
        accuracy, confidence, ece = np.mean(values, axis=0)
        label = f"{name} (default)" if name == scoring.DEFAULT else name
        print(f"| {label} | {accuracy:.4f} | {confidence:.4f} | {confidence - accuracy:+.4f} | {ece:.4f} |")


def make_estimator(spec: str) -> scoring.Classifier:
    """``name`` or ``name:param=value,...`` (numbers only), e.g. ``dawid-skene:max_iter=20,tol=0``."""
    name, _, params = spec.partition(":")
    kwargs = {
        key: float(value) if "." in value or "e" in value else int(value)
        for key, value in (item.split("=") for item in params.split(",") if item)
    }
    return scoring.estimator(name, **kwargs)


def synthetic_child(method: str, n_items: int, n_workers: int, n_classes: int, per_item: int) -> None:
    """Run in a fresh process so its peak RSS is the fit's (plus the input arrays)."""
    import resource

    items, workers, labels, truth = synthetic_answers(n_items, n_workers, n_classes, per_item)
    start = time.perf_counter()
    data = prepare_answers(items, workers, labels, n_classes)
    prepare_seconds = time.perf_counter() - start
    n_answers = data.n_answers
    del data
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu_start = time.perf_counter(), time.process_time()
    est = make_estimator(method).fit(items, workers, labels, n_classes=n_classes)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "method": method,
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "model": getattr(est, "model_", ""),
                "prepare_seconds": prepare_seconds,
                "n_iter": est.n_iter_,
                "accuracy": float(np.mean(est.labels_ == truth)),
                "peak_rss_mb": peak / 1024,
                "rss_before_fit_mb": before / 1024,
                "answers": int(n_answers),
            }
        )
    )


def run_synthetic(methods: list[str], n_items: int, n_workers: int, n_classes: int, per_item: int) -> None:
    print(
        f"\n### Synthetic: {n_items:,} items x {per_item} answers = {n_items * per_item:,} answers, "
        f"{n_workers:,} workers, {n_classes} classes (separate process per method)\n"
    )
    print(
        "| method | wall s (fit incl. preparation) | CPU s | of which preparation s | iterations | accuracy "
        "| peak RSS MB (whole process) | peak RSS before fit MB (data generation) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for method in methods:
        out = subprocess.run(
            [sys.executable, __file__, "--child", method, str(n_items), str(n_workers), str(n_classes), str(per_item)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {r['method']} {r['model']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['prepare_seconds']:.2f} "
            f"| {r['n_iter']} | "
            f"{r['accuracy']:.4f} | {r['peak_rss_mb']:.0f} | {r['rss_before_fit_mb']:.0f} |"
        )


def split_specs(text: str) -> list[str]:
    """'a,b:x=1,y=2,c' -> ['a', 'b:x=1,y=2', 'c']: a bare 'key=value' part continues the spec before it."""
    specs: list[str] = []
    for part in text.split(","):
        if "=" in part and ":" not in part and specs:
            specs[-1] += "," + part
        else:
            specs.append(part)
    return specs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--only", default="", help="comma-separated dataset names")
    parser.add_argument("--skip", default="", help="comma-separated crowd-kit methods to skip, e.g. GLAD,MACE")
    parser.add_argument("--no-crowdkit", action="store_true")
    parser.add_argument("--synthetic", action="store_true", help="also run the 10M-answer test")
    parser.add_argument("--synthetic-only", action="store_true")
    parser.add_argument("--calibration-only", action="store_true", help="only the digits-like calibration scenario")
    parser.add_argument(
        "--workers-only",
        action="store_true",
        help="only the worker-accuracy check: the estimators it reports and crowd-kit DS, fitted once",
    )
    parser.add_argument(
        "--synthetic-methods",
        default="dawid-skene,bayesian-ds,model-selection",
        help="comma-separated estimator names, each optionally name:param=value,...",
    )
    parser.add_argument(
        "--ebcc-restarts", type=int, default=1, help="seeds EBCC runs on the real datasets, keeping the best ELBO"
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        method, *sizes = args.child
        synthetic_child(method, *map(int, sizes))
        return
    if args.ebcc_restarts > 1:
        PARAMS["ebcc"] = {"n_restarts": args.ebcc_restarts}
    if args.calibration_only:
        run_calibration(crowdkit=not args.no_crowdkit)
        return
    if args.workers_only:
        run_worker_check(args)
        return
    if not args.synthetic_only:
        run_real(args)
        run_calibration(crowdkit=not args.no_crowdkit)
    if args.synthetic or args.synthetic_only:
        run_synthetic(split_specs(args.synthetic_methods), 1_000_000, 20_000, 5, 10)


def run_real(args: argparse.Namespace) -> None:
    if not (args.datasets / "index.csv").exists():
        sys.exit(f"{args.datasets} has no index.csv: the real datasets are not present")
    skip = {s for s in args.skip.split(",") if s}
    crowdkit = [] if args.no_crowdkit else CROWDKIT
    if crowdkit:
        try:
            _patch_crowdkit_sklearn()
        except ImportError:
            sys.exit("crowd-kit is not installed: pip install -e '.[bench]', or run with --no-crowdkit")
    rows, folders = [], []
    for folder in selected_datasets(args):
        data = load_dataset(folder)
        row = Row(data)
        for name in OURS:
            row.results[name] = run_ours(data, name, repeats=3)
        for name in crowdkit:
            if name in skip:
                ref = reference_result(args.datasets, data.name, name)
                if ref is not None:
                    row.results[name] = ref
                continue
            try:
                row.results[name] = run_crowdkit(data, name)
            except Exception as error:  # a crowd-kit failure is a table cell, not a crash
                print(f"{data.name} {name}: {error!r}", file=sys.stderr)
        row.results[WITH_EBCC] = default_with_ebcc(row)
        rows.append(row)
        folders.append(folder)
        print(f"done {data.name}", file=sys.stderr, flush=True)
    print_tables(rows, OURS + crowdkit)
    print_protocol(rows, crowdkit)
    print_model_choice(rows)
    print_ebcc(rows)
    print_half_split(rows, bool(crowdkit))
    print_worker_checks(rows)
    print_repeats(folders)


def run_worker_check(args: argparse.Namespace) -> None:
    """The worker-accuracy table alone: each estimator it reports, and crowd-kit DS, fitted once per dataset."""
    if not (args.datasets / "index.csv").exists():
        sys.exit(f"{args.datasets} has no index.csv: the real datasets are not present")
    rows = []
    for folder in selected_datasets(args):
        data = load_dataset(folder)
        row = Row(data)
        for name in WORKER_CHECK_METHODS:
            row.results[name] = run_ours(data, name, repeats=1)
        if not args.no_crowdkit:
            row.results["DawidSkene"] = run_crowdkit(data, "DawidSkene", repeats=1)
        rows.append(row)
        print(f"done {data.name}", file=sys.stderr, flush=True)
    print_worker_checks(rows)


def print_model_choice(rows: list[Row]) -> None:
    print("\n### The default's choice: worker model by ELBO (nats; higher is better), no gold\n")
    print("| dataset | chosen | ELBO one-coin | ELBO class-conditional | ELBO full | prior strengths |")
    print("|---|---|---:|---:|---:|---|")
    for row in rows:
        est = row.results[scoring.DEFAULT].fitted
        elbo = [fmt(est.elbo_.get(f, np.nan), 1) for f in ("one-coin", "class-conditional", "full")]
        strengths = ", ".join(f"{k} {v:g}" for k, v in est.prior_strength_.items())
        print(f"| {row.dataset.name} | {est.model_} | " + " | ".join(elbo) + f" | {strengths} |")


def default_with_ebcc(row: Row) -> Result:
    """The default's fit or EBCC's, whichever has the higher ELBO; EBCC must pass the default's label-switching guard.

    Both ELBOs bound log p(answers) of the same answers (each worker's latest per item), with every prior's
    normaliser, so the comparison needs no gold. The seconds are the two fits'.
    """
    default, ebcc = row.results[scoring.DEFAULT], row.results["ebcc"]
    est = default.fitted
    default_elbo = est.elbo_[est.model_] if est.model_ in est.elbo_ else -np.inf
    data = row.dataset
    answers = prepare_answers(data.items, data.workers, data.labels, data.n_classes)
    consistent = _diagonal_dominant(answers.confusion_counts(ebcc.fitted.proba_).sum(axis=0))
    chosen = ebcc if consistent and ebcc.fitted.elbo_ > default_elbo else default
    return Result(
        accuracy=chosen.accuracy,
        seconds=default.seconds + ebcc.seconds,
        ece=chosen.ece,
        ece_calibrated=chosen.ece_calibrated,
        note="",
        fitted=chosen.fitted,
    )


def print_ebcc(rows: list[Row]) -> None:
    default = scoring.DEFAULT
    print("\n### EBCC against the default: ELBO (nats, no gold), accuracy on gold, time per iteration\n")
    print(
        "| dataset | answers | default model | ELBO default | ELBO EBCC | ELBO picks | acc default | acc EBCC "
        "| acc default+EBCC | acc crowd-kit DS | iterations default / EBCC (best seed) "
        "| ms per iteration our DS / EBCC (all seeds) / crowd-kit DS |"
    )
    print("|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        ours, ebcc, both = row.results[default], row.results["ebcc"], row.results[WITH_EBCC]
        ds = row.results["dawid-skene"]  # one fit (the default's seconds cover all its candidates)
        ebcc_iterations = sum(ebcc.fitted.restart_n_iter_)  # over every seed EBCC ran
        est = ours.fitted
        default_elbo = est.elbo_.get(est.model_, np.nan)
        picks = "EBCC" if both.fitted is ebcc.fitted else "default"
        ck = row.results.get("DawidSkene")
        ck_acc = fmt(ck.accuracy) + ck.note if ck is not None else "–"
        ck_ms = fmt(1000 * ck.seconds / ck.n_iter, 1) if ck is not None and ck.n_iter and not ck.note else "–"
        print(
            f"| {row.dataset.name} | {row.dataset.items.size} | {est.model_} | {fmt(default_elbo, 1)} "
            f"| {fmt(ebcc.fitted.elbo_, 1)} | {picks} | {fmt(ours.accuracy)} | {fmt(ebcc.accuracy)} "
            f"| {fmt(both.accuracy)} | {ck_acc} | {ours.n_iter} / {ebcc.n_iter} "
            f"| {fmt(1000 * ds.seconds / ds.n_iter, 1)} / {fmt(1000 * ebcc.seconds / ebcc_iterations, 1)} / {ck_ms} |"
        )
    means = [np.mean([r.results[m].accuracy for r in rows]) for m in (default, "ebcc", WITH_EBCC)]
    print(f"\nMeans: default {means[0]:.4f}, EBCC {means[1]:.4f}, default with EBCC as a candidate {means[2]:.4f}.")


def print_half_split(rows: list[Row], crowdkit: bool) -> None:
    print(f"\n### Noise level: each dataset with >= {HALF_SPLIT_GOLD:,} gold items split by items into halves\n")
    print("| dataset | default A | default B | abs(A - B) | ck DS A | ck DS B | (default - ck DS) A | B |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    gaps = []
    for row in rows:
        halves = half_split(row.dataset, crowdkit)
        if halves is None:
            continue
        (ours_a, ds_a), (ours_b, ds_b) = halves
        gaps.append(abs(ours_a - ours_b))
        print(
            f"| {row.dataset.name} | {ours_a:.4f} | {ours_b:.4f} | {abs(ours_a - ours_b):.4f} | {fmt(ds_a)} "
            f"| {fmt(ds_b)} | {ours_a - ds_a:+.4f} | {ours_b - ds_b:+.4f} |"
        )
    if gaps:
        print(f"\nMean difference between halves: {np.mean(gaps):.4f} (a per-dataset gap below this is noise).")


WORKER_CHECK_METHODS = [scoring.DEFAULT, "bayesian-ds", "dawid-skene"]


def print_worker_checks(rows: list[Row]) -> None:
    names = WORKER_CHECK_METHODS
    print(
        f"\n### Worker accuracy against gold-measured accuracy (workers with >= {MIN_GOLD_ANSWERS} gold answers)\n\n"
        "MAE and Spearman of `worker_accuracy_` (crowd-kit DS: prior-weighted diagonal of `errors_`); "
        "coverage of the 95% interval of `worker_stats`: credible interval / Beta-binomial predictive "
        "interval for the worker's number of gold answers.\n"
    )
    head = " | ".join(f"MAE {n}" for n in [*names, "crowd-kit DS"])
    rho = " | ".join(f"Spearman {n}" for n in [*names, "crowd-kit DS"])
    cover = " | ".join(f"coverage {n}" for n in names)
    print(f"| dataset | workers | {head} | {rho} | {cover} |")
    print("|---|---:|" + "---:|" * (2 * (len(names) + 1) + len(names)))
    checks = []
    for row in rows:
        fitted = {n: row.results[n].fitted for n in names}
        ck = row.results.get("DawidSkene")
        check = worker_check(row.dataset, fitted, ck.fitted if ck is not None else None)
        if check is None:
            print(f"| {row.dataset.name} | <3 | " + " | ".join(["–"] * (3 * len(names) + 2)) + " |")
            continue
        checks.append(check)
        cells = [fmt(check.mae.get(n), 3) for n in [*names, "crowd-kit DS"]]
        cells += [fmt(check.spearman.get(n), 3) for n in [*names, "crowd-kit DS"]]
        cells += [f"{check.coverage[n]:.2f} / {check.predictive[n]:.2f}" for n in names]
        print(f"| {row.dataset.name} | {check.workers} | " + " | ".join(cells) + " |")
    if checks:
        total = sum(c.workers for c in checks)
        for n in names:
            pooled = sum(c.coverage[n] * c.workers for c in checks) / total
            predictive = sum(c.predictive[n] * c.workers for c in checks) / total
            print(f"\n{n}: 95% intervals over all {total} workers: credible {pooled:.3f}, predictive {predictive:.3f}.")
        print_model_uncertainty(checks)


def pooled(checks: list[WorkerCheck], values: str, rule: str) -> float:
    """Share of all checked workers covered: per-dataset coverages weighted by their workers."""
    return sum(getattr(c, values)[rule] * c.workers for c in checks) / sum(c.workers for c in checks)


def print_model_uncertainty(checks: list[WorkerCheck]) -> None:
    """The default's coverage under each model-uncertainty rule; the rule "chosen by coverage" leave-one-out.

    The default's rule ("mixture") is fixed without gold. For the record, were the rule chosen by
    coverage (pooled predictive coverage closest to 95%), it is chosen on the other datasets and
    scored on the held-out one; both figures are printed.
    """
    named = [(c.dataset, c) for c in checks if c.rules]
    if not named:
        return
    rules = list(MODEL_UNCERTAINTY)
    print(
        "\n### The default's worker-accuracy intervals: model uncertainty from the fitted families\n\n"
        "Coverage of the 95% credible / predictive interval (for the worker's number of gold answers) of the "
        "gold-measured accuracy, workers with >= 20 gold answers. `none`: the chosen model's Beta alone; "
        "`mixture` (the default): variance about the chosen mean of an equal-weight mixture of the fitted "
        "families and the equal-workers model; `families`: the same without the equal-workers model; "
        "`widest`: the largest squared deviation of any of them.\n"
    )
    print("| dataset | workers | " + " | ".join(rules) + " | LOO pick | LOO pick's predictive coverage |")
    print("|---|---:|" + "---:|" * len(rules) + "---|---:|")
    loo_covered, loo_workers = 0.0, 0
    for index, (name, check) in enumerate(named):
        others = [c for i, (_, c) in enumerate(named) if i != index]
        pick = min(rules, key=lambda r: abs(pooled(others, "rules", r) - 0.95)) if others else "mixture"
        loo_covered += check.rules[pick] * check.workers
        loo_workers += check.workers
        cells = [f"{check.rules_credible[r]:.2f} / {check.rules[r]:.2f}" for r in rules]
        print(f"| {name} | {check.workers} | " + " | ".join(cells) + f" | {pick} | {check.rules[pick]:.2f} |")
    all_checks = [c for _, c in named]
    cells = [f"{pooled(all_checks, 'rules_credible', r):.3f} / {pooled(all_checks, 'rules', r):.3f}" for r in rules]
    in_sample = min(rules, key=lambda r: abs(pooled(all_checks, "rules", r) - 0.95))
    print(f"| **pooled** | {loo_workers} | " + " | ".join(cells) + f" | {in_sample} (in-sample) | – |")
    print(
        f"\nPredictive coverage, rule fixed in advance (mixture): {pooled(all_checks, 'rules', 'mixture'):.3f}; "
        f"rule chosen by coverage in-sample ({in_sample}): {pooled(all_checks, 'rules', in_sample):.3f}; "
        f"chosen leave-one-dataset-out: {loo_covered / loo_workers:.3f}."
    )


def print_repeats(folders: list[Path]) -> None:
    print(
        "\n### Repeated answers: the same worker answering an item more than once\n\n"
        "Agreement with the other workers' majority of the earliest and the latest answer of each repeated "
        "pair, and of the two with each other (gold-free); the default's accuracy with the latest answer "
        "only and with all answers (for information).\n"
    )
    print("| dataset | repeated pairs | earliest agrees | latest agrees | earliest = latest | latest only | all |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for folder in folders:
        line = repeated_answers(folder)
        if line is not None:
            print(line)


if __name__ == "__main__":
    main()
