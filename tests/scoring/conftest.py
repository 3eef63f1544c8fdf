"""Fixtures for scoring/: small synthetic crowds with known confusion matrices, and real-data loading."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


@dataclass
class Crowd:
    items: np.ndarray
    workers: np.ndarray
    labels: np.ndarray
    truth: np.ndarray
    confusion: np.ndarray  # (workers, K, K) the answers were drawn from
    n_classes: int


def make_crowd(
    n_items: int = 400,
    n_workers: int = 12,
    n_classes: int = 3,
    per_item: int = 5,
    seed: int = 0,
    confusion: np.ndarray | None = None,
) -> Crowd:
    """Each item answered by ``per_item`` distinct workers drawing from their own confusion matrix."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n_items)
    if confusion is None:
        confusion = rng.dirichlet(np.ones(n_classes), size=(n_workers, n_classes))
        confusion = 0.3 * confusion + 0.7 * np.eye(n_classes)[None]
    workers = np.concatenate([rng.choice(n_workers, per_item, replace=False) for _ in range(n_items)])
    items = np.repeat(np.arange(n_items), per_item)
    cumulative = confusion[workers, truth[items]].cumsum(axis=1)
    labels = (rng.random(items.size)[:, None] > cumulative).sum(axis=1)
    return Crowd(items, workers, np.minimum(labels, n_classes - 1), truth, confusion, n_classes)


def mixed_crowd_confusion(n_workers: int, n_classes: int, seed: int) -> np.ndarray:
    """The simulated crowd's mix: 60% good (accuracy 0.90-0.97), 25% sloppy (0.6-0.8), 15% uniform spammers.

    Good and sloppy workers spread their errors unevenly (Dirichlet 0.8), as
    broker.marketplace.crowd does.
    """
    rng = np.random.default_rng(seed)
    n_good, n_sloppy = round(0.6 * n_workers), round(0.25 * n_workers)
    accuracy = np.concatenate(
        [
            rng.uniform(0.9, 0.97, n_good),
            rng.uniform(0.6, 0.8, n_sloppy),
            np.full(n_workers - n_good - n_sloppy, 1.0 / n_classes),
        ]
    )
    off = rng.dirichlet(np.full(n_classes - 1, 0.8), size=(n_workers, n_classes))
    errors = np.zeros((n_workers, n_classes, n_classes))
    mask = ~np.eye(n_classes, dtype=bool)
    errors[:, mask] = off.reshape(n_workers, -1)
    confusion = accuracy[:, None, None] * np.eye(n_classes) + (1.0 - accuracy)[:, None, None] * errors
    confusion[n_good + n_sloppy :] = 1.0 / n_classes
    return confusion


@pytest.fixture
def crowd() -> Crowd:
    return make_crowd()


@pytest.fixture(name="make_crowd")
def make_crowd_fixture():
    """The ``make_crowd`` factory, for tests that need several crowds or other sizes."""
    return make_crowd


@pytest.fixture
def real_dataset(shared_datasets: Path):
    """Loader of one real dataset by folder name (skips without ../shared/datasets)."""
    return lambda name: load_real(shared_datasets / name)


def load_real(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
    """(items, workers, labels, K, gold_items, gold_labels) integer-coded from a worker,task,label CSV."""
    with open(folder / "answers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(folder / "gold.csv", newline="") as handle:
        gold = list(csv.DictReader(handle))
    tasks: dict[str, int] = {}
    workers: dict[str, int] = {}
    classes = sorted({r["label"] for r in rows} | {g["label"] for g in gold})
    class_code = {c: i for i, c in enumerate(classes)}
    items = np.array([tasks.setdefault(r["task"], len(tasks)) for r in rows])
    worker_ids = np.array([workers.setdefault(r["worker"], len(workers)) for r in rows])
    labels = np.array([class_code[r["label"]] for r in rows])
    known = [g for g in gold if g["task"] in tasks]
    gold_items = np.array([tasks[g["task"]] for g in known])
    gold_labels = np.array([class_code[g["label"]] for g in known])
    return items, worker_ids, labels, len(classes), gold_items, gold_labels
