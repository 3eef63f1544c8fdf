"""The automated labeling loop run offline against a simulated crowd (benchmarks and tests).

The crowd is a mix of worker types drawn per answer: good workers (right ~93% of the time),
sloppy ones (~70%) and spammers (uniform guesses); a wrong answer is uniform over the other
classes. Each human-labeled object gets `per_object` answers from distinct workers, and all
answers so far are consolidated with scoring's default EM estimator, as the daemon does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

import scoring
from broker.autolabel.config import AutoLabelConfig
from broker.autolabel.loop import AutoLabeler, IterationResult
from broker.autolabel.report import CostSummary, cost_summary


@dataclass(frozen=True)
class Crowd:
    """Each worker's probability of answering right; a spammer answers uniformly at random."""

    accuracy: np.ndarray  # (W,)
    spammer: np.ndarray  # (W,) bool

    @classmethod
    def mix(
        cls,
        n_workers: int = 60,
        seed: int = 0,
        good: float = 0.93,
        sloppy: float = 0.7,
        spammer_share: float = 0.15,
        sloppy_share: float = 0.25,
    ) -> Crowd:
        """A realistic mix: 15% spammers, 25% sloppy, the rest good (accuracies jittered by +-0.03)."""
        rng = np.random.default_rng([seed, 7])
        kind = rng.choice(3, size=n_workers, p=[1 - spammer_share - sloppy_share, sloppy_share, spammer_share])
        accuracy = np.where(kind == 0, good, sloppy) + rng.uniform(-0.03, 0.03, n_workers)
        return cls(accuracy=np.clip(accuracy, 0.0, 1.0), spammer=kind == 2)

    def answer(
        self, objects: np.ndarray, truth: np.ndarray, per_object: int, n_classes: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(items, workers, labels) of `per_object` answers by distinct workers for each object."""
        n_workers = self.accuracy.size
        items = np.repeat(objects, per_object)
        # distinct workers per object: the first `per_object` of a random permutation per row
        workers = np.argsort(rng.random((objects.size, n_workers)), axis=1)[:, :per_object].reshape(-1)
        true = truth[items]
        right = rng.random(items.size) < self.accuracy[workers]
        wrong = (true + rng.integers(1, n_classes, items.size)) % n_classes
        labels = np.where(right, true, wrong)
        spam = self.spammer[workers]
        labels[spam] = rng.integers(0, n_classes, int(spam.sum()))
        return items, workers, labels


@dataclass
class Answers:
    items: list[np.ndarray] = field(default_factory=list)
    workers: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)

    def add(self, items: np.ndarray, workers: np.ndarray, labels: np.ndarray) -> None:
        self.items.append(items)
        self.workers.append(workers)
        self.labels.append(labels)

    def consolidate(
        self, n_objects: int, n_classes: int, n_workers: int, method: str = "default"
    ) -> dict[int, tuple[int, float]]:
        """{object: (label, confidence)} for every answered object."""
        if not self.items:
            return {}
        estimator = scoring.estimator(method).fit(
            np.concatenate(self.items),
            np.concatenate(self.workers),
            np.concatenate(self.labels),
            n_classes=n_classes,
            n_items=n_objects,
            n_workers=n_workers,
        )
        answered = np.flatnonzero(estimator.labels_ >= 0)
        return {int(i): (int(estimator.labels_[i]), float(estimator.confidence_[i])) for i in answered}


@dataclass
class SimulationResult:
    """Outcome of one simulated job against the known truth."""

    n_objects: int
    human_objects: int
    machine_objects: int
    unlabeled_objects: int
    machine_accuracy: float | None
    human_accuracy: float | None
    overall_accuracy: float
    cost: CostSummary
    iterations: list[IterationResult]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_objects": self.n_objects,
            "human_objects": self.human_objects,
            "machine_objects": self.machine_objects,
            "unlabeled_objects": self.unlabeled_objects,
            "machine_accuracy": self.machine_accuracy,
            "human_accuracy": self.human_accuracy,
            "overall_accuracy": self.overall_accuracy,
            "cost": self.cost.to_dict(),
            "iterations": [result.summary() for result in self.iterations],
            "reason": self.reason,
        }


def _accuracy(labels: dict[int, tuple[int, float]], truth: np.ndarray) -> float | None:
    if not labels:
        return None
    keys = np.fromiter(labels, dtype=np.int64)
    values = np.fromiter((labels[k][0] for k in labels), dtype=np.int64)
    return float((truth[keys] == values).mean())


def simulate(
    features: np.ndarray | sparse.spmatrix,
    truth: np.ndarray,
    config: AutoLabelConfig,
    crowd: Crowd,
    *,
    per_object: int = 3,
    reward_cents: int = 2,
    seed: int = 0,
    budget_objects: int | None = None,
    max_iterations: int = 200,
    consolidation: str = "default",
) -> SimulationResult:
    """Run the loop to its end: publish each batch, draw the crowd's answers, consolidate, iterate."""
    n_objects, n_classes = truth.size, int(truth.max()) + 1
    rng = np.random.default_rng([seed, 11])
    labeler = AutoLabeler(config, n_objects, features, n_classes, seed=seed)
    answers = Answers()
    human: dict[int, tuple[int, float]] = {}
    for _ in range(max_iterations):
        budget_left = None if budget_objects is None else budget_objects - len(labeler.requested)
        again = np.asarray(labeler.asking_again, dtype=np.int64)
        batch = labeler.next_human_batch(human, budget_left)
        if labeler.done:
            break
        if again.size:  # disputed evidence: more answers from other draws of the crowd
            answers.add(*crowd.answer(again, truth, config.dispute_answers, n_classes, rng))
        if batch or again.size:
            batch_ids = np.asarray(batch)
            validation = np.isin(batch_ids, labeler.validation_ids)
            for chosen, count in (
                (~validation, per_object),
                (validation, config.validation_workers_per_object or per_object),
            ):
                if chosen.any():
                    answers.add(*crowd.answer(batch_ids[chosen], truth, count, n_classes, rng))
            human = answers.consolidate(n_objects, n_classes, crowd.accuracy.size, consolidation)
        if labeler.iterate(human).done:
            break
    return _result(labeler, human, truth, per_object, reward_cents)


def simulate_all_human(
    truth: np.ndarray,
    crowd: Crowd,
    *,
    per_object: int = 3,
    reward_cents: int = 2,
    seed: int = 0,
    consolidation: str = "default",
) -> SimulationResult:
    """The baseline: every object labeled by the crowd, consolidated the same way."""
    n_objects, n_classes = truth.size, int(truth.max()) + 1
    rng = np.random.default_rng([seed, 11])
    answers = Answers()
    answers.add(*crowd.answer(np.arange(n_objects), truth, per_object, n_classes, rng))
    human = answers.consolidate(n_objects, n_classes, crowd.accuracy.size, consolidation)
    accuracy = _accuracy(human, truth) or 0.0
    return SimulationResult(
        n_objects=n_objects,
        human_objects=len(human),
        machine_objects=0,
        unlabeled_objects=n_objects - len(human),
        machine_accuracy=None,
        human_accuracy=accuracy,
        overall_accuracy=accuracy,
        cost=cost_summary(n_objects, n_objects, 0, reward_cents, per_object),
        iterations=[],
        reason="all-human",
    )


def _result(
    labeler: AutoLabeler, human: dict[int, tuple[int, float]], truth: np.ndarray, per_object: int, reward_cents: int
) -> SimulationResult:
    machine = labeler.machine_labels
    everything = {**human, **machine}
    n_objects = truth.size
    # an object never labeled counts as wrong in the overall accuracy
    correct = sum(1 for index, (label, _) in everything.items() if truth[index] == label)
    return SimulationResult(
        n_objects=n_objects,
        human_objects=len(labeler.requested),
        machine_objects=len(machine),
        unlabeled_objects=n_objects - len(everything),
        machine_accuracy=_accuracy(machine, truth),
        human_accuracy=_accuracy(human, truth),
        overall_accuracy=correct / n_objects,
        cost=cost_summary(
            n_objects,
            len(labeler.requested),
            len(machine),
            reward_cents,
            per_object,
            validation_objects=len(labeler.validation_ids),
            validation_workers_per_object=labeler.config.validation_workers_per_object,
            asked_again=len(labeler.asked_again),
            answers_again=labeler.config.dispute_answers,
        ),
        iterations=labeler.iterations,
        reason=labeler.reason,
    )


TOPICS = {
    "kitchen": "blender knife pan oven kettle toaster spatula pot recipe dishwasher bake boil",
    "electronics": "battery charger screen cable laptop speaker headphones bluetooth pixel firmware usb remote",
    "garden": "hose soil seeds shovel lawn mower rake compost planter sprinkler hedge weeds",
    "toys": "puzzle doll lego blocks kids game plush board teddy crayons train stickers",
}
COMMON = (
    "great bad okay works broke arrived quickly slow cheap price quality recommend return box package "
    "love hate fine gift daughter son bought week month again star stars easy hard solid flimsy"
).split()


def generated_reviews(n_objects: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Short product reviews in 4 topics (a text classification set with known truth, made offline).

    Each review mixes 2-4 words of its own topic, 0-2 of another (a blender for the garden party)
    and 6-12 common words; a tenth have no word of their topic, so no model can be sure of every one."""
    rng = np.random.default_rng([seed, 4])
    vocab = [words.split() for words in TOPICS.values()]
    truth = rng.integers(0, len(vocab), n_objects)
    texts = []
    for label in truth.tolist():
        own = 0 if rng.random() < 0.1 else int(rng.integers(2, 5))
        other = (label + int(rng.integers(1, len(vocab)))) % len(vocab)
        words = list(rng.choice(vocab[label], own)) + list(rng.choice(vocab[other], int(rng.integers(0, 3))))
        words += list(rng.choice(COMMON, int(rng.integers(6, 13))))
        texts.append(" ".join(rng.permutation(words).tolist()))
    return texts, truth
