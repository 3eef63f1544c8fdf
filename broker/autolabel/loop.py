"""The automated labeling loop as a plain state machine: no database, no marketplace, no clock.

The daemon drives it with two calls per iteration and persists `state_dict()` between ticks:

    batch = labeler.next_human_batch(human_labels, budget_left_objects)   # publish these
    ...                                                                    # crowd answers, consolidate
    result = labeler.iterate(human_labels)                                 # train, threshold, machine-label

Ground Truth's steps (reference section 4): a random first batch goes to the crowd; its consolidated
labels split into training and validation (the validation objects are a random sample of the job,
so accuracy measured on them holds for the job); a model is trained; on validation a confidence
threshold is chosen whose lower confidence bound on accuracy reaches the target; unlabeled objects
at or above it are machine-labeled; the least certain of the rest go to the crowd next; repeat until
every object is labeled or a stopping condition holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from broker.autolabel.config import AutoLabelConfig
from broker.autolabel.model import Predictions, build_model, predict, save_model, train
from broker.autolabel.threshold import (
    NO_EVIDENCE,
    ErrorBudget,
    Evidence,
    choose_threshold,
    choose_threshold_noisy,
    predicted_pass,
)
from broker.output import ObjectResult

MIN_WEIGHT = 0.05  # a training object's weight is its crowd confidence, never zero
STATE_VERSION = 1

HumanLabels = Mapping[int, int | tuple[int, float] | list[Any]]
CrossFit = tuple[np.ndarray, np.ndarray, np.ndarray] | None  # (object ids, model labels, confidences)
_NO_CROSS_FIT = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))


@dataclass(frozen=True)
class ThresholdTest:
    """One iteration's threshold test: the level it spent, the threshold and the evidence it rests on."""

    accuracy: float | None = None  # the model's agreement with the crowd on this iteration's validation objects
    threshold: float | None = None
    lower_bound: float | None = None
    level: float | None = None
    evidence: int = 0
    evidence_accuracy: float | None = None
    gated: bool = False  # predicted to fail on the cross-fitted objects: not run, nothing spent


@dataclass(frozen=True)
class MachineLabel:
    label: int
    confidence: float
    iteration: int


@dataclass
class IterationResult:
    """What one iteration did: the figures `broker status` and the job report show."""

    iteration: int
    n_train: int
    n_validation: int
    validation_accuracy: float | None
    threshold: float | None
    threshold_lower_bound: float | None
    machine_labels: dict[int, tuple[int, float]]
    human_count: int
    machine_count: int
    done: bool
    reason: str
    n_cross_fit: int = 0  # first-batch training objects judged out-of-fold with the validation set
    label_change: float | None = None  # share of the job's labels this model changed (None: first model)
    level: float | None = None  # confidence level of this iteration's test (None: not tested)
    evidence: int = 0  # validation objects the bound rests on (earlier iterations' and this one's)
    evidence_accuracy: float | None = None  # the model's estimated accuracy on them
    gated: bool = False  # not tested: predicted to fail on the cross-fitted first batch (the gate)
    asked_again: int = 0  # evidence objects where model and crowd disagreed, sent for more answers

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["machine_labels"] = {str(key): list(value) for key, value in self.machine_labels.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IterationResult:
        values = dict(data)
        values["machine_labels"] = {int(key): (int(v[0]), float(v[1])) for key, v in data["machine_labels"].items()}
        return cls(**values)

    def summary(self) -> dict[str, Any]:
        """The iteration without its per-object labels (for reports)."""
        data = self.to_dict()
        data["new_machine_labels"] = len(self.machine_labels)
        del data["machine_labels"]
        return data


def normalise_human_labels(human_labels: HumanLabels, n_objects: int, n_classes: int) -> dict[int, tuple[int, float]]:
    """{object: label} or {object: (label, confidence)} -> {object: (label, confidence)}, checked."""
    normalised: dict[int, tuple[int, float]] = {}
    for key, value in human_labels.items():
        index = int(key)
        label, confidence = (value, 1.0) if isinstance(value, int | np.integer) else (value[0], value[1])
        if not 0 <= index < n_objects:
            raise ValueError(f"human label for object {index}: the job has objects 0..{n_objects - 1}")
        if not 0 <= int(label) < n_classes:
            raise ValueError(f"human label {label} for object {index}: the job has classes 0..{n_classes - 1}")
        normalised[index] = (int(label), float(confidence))
    return normalised


@dataclass
class AutoLabeler:
    """One job's automated labeling loop. `features` is an (n, d) array or sparse matrix."""

    config: AutoLabelConfig
    n_objects: int
    features: np.ndarray | sparse.spmatrix | None
    n_classes: int
    seed: int = 0
    first_batch: list[int] = field(default_factory=list)
    validation_ids: list[int] = field(default_factory=list)
    validation_retired: dict[int, int] = field(default_factory=dict)
    retired_labels: dict[int, int] = field(default_factory=dict)  # the model's label when it retired
    requested: list[int] = field(default_factory=list)
    failed: set[int] = field(default_factory=set)
    machine: dict[int, MachineLabel] = field(default_factory=dict)
    uncertain_first: list[int] = field(default_factory=list)
    iterations: list[IterationResult] = field(default_factory=list)
    budget: ErrorBudget | None = None  # the job's error budget, shared by its threshold tests
    previous_labels: list[int] = field(default_factory=list)  # the last model's label of every object
    asked_again: dict[int, int] = field(default_factory=dict)  # evidence object -> extra answers asked
    asking_again: list[int] = field(default_factory=list)  # the last iteration's disputes, to publish now
    done: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        if self.n_objects < 2:
            raise ValueError("automated labeling needs at least 2 objects")
        if self.n_classes < 2:
            raise ValueError("automated labeling needs at least 2 classes")
        if self.features is not None and self.features.shape[0] != self.n_objects:
            raise ValueError(f"features have {self.features.shape[0]} rows for {self.n_objects} objects")
        self.model_: Any = None
        if self.budget is None:
            self.budget = ErrorBudget(1.0 - self.config.confidence_level, self.config.error_budget == "spent")

    # -- choosing what the crowd labels ---------------------------------------------------------

    def next_human_batch(self, human_labels: HumanLabels, budget_left_objects: int | None = None) -> list[int]:
        """Objects to publish now: a random first batch, then the least certain unlabeled objects.

        `budget_left_objects`: how many more objects the budget can pay for (None: no limit).
        Returns [] when nothing should be published; sets `done` when nothing ever will be.
        """
        if self.done:
            return []
        labels = normalise_human_labels(human_labels, self.n_objects, self.n_classes)
        self._check_requested(labels)
        first = not self.first_batch
        size = (self.config.first_batch_size if first else self.config.batch_size)(self.n_objects, self.n_classes)
        limit = self._human_limit(size, budget_left_objects)
        candidates = self._unlabeled()
        batch = self._pick(candidates, limit, first)
        if first:
            self.first_batch = sorted(batch)
            n_train = min(self.config.batch_size(self.n_objects, self.n_classes), len(batch) // 2)
            n_validation = min(self.config.validation_size(self.n_objects), len(batch) - n_train)
            self.validation_ids = sorted(batch[:n_validation])
        self.requested.extend(batch)
        if not batch and not self._pending(labels):
            self._stop_without_batch(candidates, budget_left_objects)
        return sorted(batch)

    def _human_limit(self, size: int, budget_left_objects: int | None) -> int:
        limit = size
        if budget_left_objects is not None:
            limit = min(limit, max(0, budget_left_objects))
        if self.config.max_human_labeled_objects is not None:
            limit = min(limit, max(0, self.config.max_human_labeled_objects - len(self.requested)))
        if self.config.max_percentage_labeled is not None:
            allowed = int(np.floor(self.config.max_percentage_labeled / 100.0 * self.n_objects))
            limit = min(limit, max(0, allowed - len(self.requested) - len(self.machine)))
        return limit

    def _pick(self, candidates: np.ndarray, limit: int, first: bool) -> list[int]:
        if limit <= 0 or candidates.size == 0:
            return []
        rng = np.random.default_rng([self.seed, len(self.iterations), len(self.requested)])
        if first or not self.uncertain_first:
            return [int(index) for index in rng.permutation(candidates)[:limit]]
        still = set(candidates.tolist())
        ranked = [index for index in self.uncertain_first if index in still][:limit]
        if len(ranked) < limit:  # objects the last model did not score: random
            rest = np.setdiff1d(candidates, np.asarray(ranked, dtype=np.int64))
            ranked += [int(index) for index in rng.permutation(rest)[: limit - len(ranked)]]
        return ranked

    def _stop_without_batch(self, candidates: np.ndarray, budget_left_objects: int | None) -> None:
        if candidates.size == 0:
            self.done, self.reason = True, "all-labeled"
        elif budget_left_objects is not None and budget_left_objects <= 0:
            self.done, self.reason = True, "budget-exhausted"
        elif (
            self.config.max_human_labeled_objects is not None
            and len(self.requested) >= self.config.max_human_labeled_objects
        ):
            self.done, self.reason = True, "max-human-labeled-objects"
        elif self.config.max_percentage_labeled is not None:
            self.done, self.reason = True, "max-percentage-labeled"

    # -- one iteration -------------------------------------------------------------------------

    def iterate(self, human_labels: HumanLabels, failed: Iterable[int] = ()) -> IterationResult:
        """Train on the crowd's labels so far, choose the threshold, machine-label what clears it.

        `human_labels`: consolidated labels {object: (label, confidence)} of every human-labeled
        object so far; `failed`: objects the crowd could not label (expired, no valid answer).
        """
        if self.features is None:
            raise ValueError("this AutoLabeler has no features; pass them to from_state()")
        labels = normalise_human_labels(human_labels, self.n_objects, self.n_classes)
        self._check_requested(labels)
        self.failed |= {int(index) for index in failed}
        self.asking_again = []
        iteration = len(self.iterations) + 1
        if self.done and self.iterations:
            return self.iterations[-1]
        if self.done:
            return self._record(iteration, labels, 0, 0, None, None, None, {})
        if self._first_batch_failed(labels):
            self.done, self.reason = True, "initial-batch-failed"
            return self._record(iteration, labels, 0, 0, None, None, None, {})
        validation = np.asarray(
            [i for i in self.validation_ids if i in labels and i not in self.validation_retired], dtype=np.int64
        )
        # a retired validation object's evidence is fixed (the model's label when it retired), so
        # later models may train on it; only the validation objects still judged are held out
        training = np.asarray(sorted(set(labels) - set(validation.tolist())), dtype=np.int64)
        new_labels: dict[int, tuple[int, float]] = {}
        test = ThresholdTest()
        n_cross_fit = 0
        label_change = None
        if training.size and len({labels[i][0] for i in training.tolist()}) >= 2:
            y = np.asarray([labels[i][0] for i in training.tolist()])
            weights = np.maximum([labels[i][1] for i in training.tolist()], MIN_WEIGHT)
            sparse_input = sparse.issparse(self.features)
            self.model_ = train(
                build_model(self.config.model, self.seed, sparse_input), self.features, training, y, weights
            )
            label_change = self._label_change()
            cross_fit = self._cross_fit(training, y, weights, labels)
            n_cross_fit = int(cross_fit[0].size)
            test = self._threshold(validation, labels, iteration, cross_fit, label_change)
            new_labels = self._machine_label(test.threshold, iteration)
        self._update_done(labels)
        if self.done:  # no test will read the answers: nothing to ask again
            self.asking_again = []
        for index in self.asking_again:
            self.asked_again[index] = self.config.dispute_answers
        result = self._record(
            iteration,
            labels,
            int(training.size),
            int(validation.size),
            test.accuracy,
            test.threshold,
            test.lower_bound,
            new_labels,
            n_cross_fit,
        )
        result.label_change, result.level = label_change, test.level
        result.evidence, result.evidence_accuracy = test.evidence, test.evidence_accuracy
        result.gated, result.asked_again = test.gated, len(self.asking_again)
        return result

    def _label_change(self) -> float | None:
        """How unsettled the model still is: the share of the job's labels it changed since the previous
        iteration's model (None for the first model). Two models that disagree on a share d of the
        labels cannot both be wrong on fewer than d/2, so a model is worth testing only once d is below
        twice the error the target allows. No crowd label is read to decide this, so the decision
        itself spends nothing of the error budget."""
        labels = predict(self.model_, self.features, self.n_classes).labels
        previous = np.asarray(self.previous_labels, dtype=np.int64)
        self.previous_labels = labels.tolist()
        if previous.size != labels.size:
            return None
        return float(np.mean(previous != labels))

    def _test_alpha(self, label_change: float | None) -> float | None:
        """The error this iteration's test may risk, or None (no test): a model whose labels still
        move more than the gate is not worth a share of the job's error budget."""
        if self.config.error_budget == "spent" and (
            label_change is None or label_change > self.config.label_change_gate
        ):
            return None
        return self.budget.next_alpha()

    def _threshold(
        self,
        validation: np.ndarray,
        labels: dict[int, tuple[int, float]],
        iteration: int,
        cross_fit: CrossFit = None,
        label_change: float | None = None,
    ) -> ThresholdTest:
        """Choose the threshold on the validation objects still "in the pool", then retire those at
        or above it, as their unlabeled twins get machine-labeled: the objects left for the next
        iteration are the ones the model was unsure of, so the next threshold must be judged on
        validation objects that were equally unsure, not on the easy ones already counted.

        `cross_fit`: the first batch's training objects judged out-of-fold, pooled into the test's
        evidence; with test_gate predicted-pass they also decide whether the test runs at all."""
        cross_fit = cross_fit or _NO_CROSS_FIT
        if validation.size + cross_fit[0].size == 0:
            return ThresholdTest()
        predicted = predict(self.model_, self.features[validation], self.n_classes)
        judged = np.concatenate([validation, cross_fit[0]])
        model_labels = np.concatenate([predicted.labels, cross_fit[1]])
        confidence = np.concatenate([predicted.confidence, cross_fit[2]])
        crowd = np.asarray([labels[i][0] for i in judged.tolist()], dtype=np.int64)
        crowd_confidence = np.asarray([labels[i][1] for i in judged.tolist()], dtype=np.float64)
        agree = model_labels == crowd
        accuracy = float(agree[: validation.size].mean()) if validation.size else None
        self._ask_again(judged[~agree], labels)
        alpha = self._test_alpha(label_change)
        if alpha is None:
            return ThresholdTest(accuracy=accuracy)
        level = 1.0 - alpha
        target, bound = self.config.target_accuracy, self.config.bound
        earlier = self._earlier_evidence(labels)
        gate = slice(validation.size, None)  # the cross-fitted objects
        if self.config.test_gate == "predicted-pass" and not predicted_pass(
            confidence, confidence[gate], agree[gate], target, level, bound, earlier.agree.size
        ):
            return ThresholdTest(accuracy=accuracy, level=level, gated=True)
        if self.config.accuracy_against == "crowd-posterior":
            choice = choose_threshold_noisy(
                confidence, agree, crowd_confidence, self.n_classes, target, level, bound, earlier
            )
        else:
            choice = choose_threshold(confidence, agree, target, level, bound, earlier)
        self.budget.book(alpha, passed=choice is not None)
        if choice is None:
            return ThresholdTest(accuracy=accuracy, level=level)
        sure = confidence >= choice.threshold
        for index, label in zip(judged[sure].tolist(), model_labels[sure].tolist(), strict=True):
            self.validation_retired[index] = iteration
            self.retired_labels[index] = int(label)
        return ThresholdTest(
            accuracy,
            choice.threshold,
            choice.lower_bound,
            level,
            earlier.agree.size + choice.n_at_or_above,
            choice.accuracy,
        )

    def _ask_again(self, disputed: np.ndarray, labels: dict[int, tuple[int, float]]) -> None:
        """Evidence objects whose crowd label the model contradicts get `dispute_answers` more
        answers, once each: three answers are right only ~92% of the time, and a wrong crowd label
        on a validation object reads as a model error (or, worse, hides one). Asking again only
        where the two disagree fixes most wrong validation labels for a few answers, so the test can
        judge the model against the crowd's labels as they are, with no correction that depends on
        the crowd's confidence being calibrated. Retired evidence (the model's label when it
        retired) is checked the same way."""
        if self.config.dispute_answers <= 0:
            return
        retired = [i for i, label in self.retired_labels.items() if i in labels and labels[i][0] != label]
        candidates = sorted(set(disputed.tolist()) | set(retired))
        self.asking_again = [i for i in candidates if i not in self.asked_again]

    def _cross_fit(
        self, training: np.ndarray, y: np.ndarray, weights: np.ndarray, labels: dict[int, tuple[int, float]]
    ) -> CrossFit:
        """Out-of-fold predictions on the first batch's training objects not yet retired.

        Those objects are as random a sample of the job as the validation set, so a model that did
        not train on them judges them as it judges the pool: K models, each trained without one
        fold, tell at no crowd cost how accurate the model is, either to decide whether a test is
        worth running (test_gate predicted-pass) or as more evidence for the test itself. The later
        batches were chosen (the least certain objects), so they say nothing about the pool. A fold
        model saw a fifth fewer labels than the model that labels the pool, so it errs on the side
        of caution. (ids, model labels, confidences); empty when cross_fit_folds < 2."""
        folds = self.config.cross_fit_folds
        held_out = set(self.validation_ids) | set(self.validation_retired)
        ids = np.asarray([i for i in self.first_batch if i in labels and i not in held_out], dtype=np.int64)
        if folds < 2 or ids.size < folds:
            return _NO_CROSS_FIT
        rng = np.random.default_rng([self.seed, len(self.iterations), 17])
        fold_of = rng.permutation(ids.size) % folds
        model_labels = np.empty(ids.size, dtype=np.int64)
        confidence = np.empty(ids.size, dtype=np.float64)
        sparse_input = sparse.issparse(self.features)
        for fold in range(folds):
            keep = ~np.isin(training, ids[fold_of == fold])
            if np.unique(y[keep]).size < 2:
                return _NO_CROSS_FIT
            model = train(
                build_model(self.config.model, self.seed, sparse_input),
                self.features,
                training[keep],
                y[keep],
                weights[keep],
            )
            predicted = predict(model, self.features[ids[fold_of == fold]], self.n_classes)
            model_labels[fold_of == fold] = predicted.labels
            confidence[fold_of == fold] = predicted.confidence
        return ids, model_labels, confidence

    def _earlier_evidence(self, labels: dict[int, tuple[int, float]]) -> Evidence:
        """The retired validation objects, for a bound on every machine label so far
        (accuracy_scope: cumulative): the model's label then against the crowd's label now."""
        if self.config.accuracy_scope != "cumulative":
            return NO_EVIDENCE
        retired = [i for i in self.retired_labels if i in labels]
        agree = np.asarray([self.retired_labels[i] == labels[i][0] for i in retired], dtype=np.float64)
        crowd_confidence = np.asarray([labels[i][1] for i in retired], dtype=np.float64)
        return Evidence(agree=agree, crowd_confidence=crowd_confidence)

    def _machine_label(self, threshold: float | None, iteration: int) -> dict[int, tuple[int, float]]:
        """Label the unlabeled objects at or above `threshold`; rank the rest, least certain first."""
        candidates = self._unlabeled()
        if candidates.size == 0:
            self.uncertain_first = []
            return {}
        predicted: Predictions = predict(self.model_, self.features[candidates], self.n_classes)
        sure = predicted.confidence >= threshold if threshold is not None else np.zeros(candidates.size, dtype=bool)
        if self.config.max_percentage_labeled is not None:
            allowed = int(np.floor(self.config.max_percentage_labeled / 100.0 * self.n_objects))
            room = max(0, allowed - len(self.requested) - len(self.machine))
            if sure.sum() > room:  # never label past the stopping percentage: keep the surest
                keep = np.argsort(-np.where(sure, predicted.confidence, -1.0), kind="stable")[:room]
                sure = np.zeros_like(sure)
                sure[keep] = True
        new = {
            int(i): (int(label), float(conf))
            for i, label, conf in zip(candidates[sure], predicted.labels[sure], predicted.confidence[sure], strict=True)
        }
        for index, (label, confidence) in new.items():
            self.machine[index] = MachineLabel(label, confidence, iteration)
        rest = ~sure
        order = np.argsort(predicted.margin[rest], kind="stable")
        self.uncertain_first = candidates[rest][order].tolist()
        return new

    def _update_done(self, labels: dict[int, tuple[int, float]]) -> None:
        labeled = len(labels) + len(self.machine)
        pending = self._pending(labels)
        if self._unlabeled().size == 0 and not pending:
            self.done, self.reason = True, "all-labeled"
        elif (
            self.config.max_percentage_labeled is not None
            and labeled * 100.0 >= self.config.max_percentage_labeled * self.n_objects
            and not pending
        ):
            self.done, self.reason = True, "max-percentage-labeled"
        elif (
            self.config.max_human_labeled_objects is not None
            and len(self.requested) >= self.config.max_human_labeled_objects
            and not pending
        ):
            self.done, self.reason = True, "max-human-labeled-objects"

    def _first_batch_failed(self, labels: dict[int, tuple[int, float]]) -> bool:
        """Ground Truth fails the job when more than 10% of the first random batch fails."""
        if self.iterations or not self.first_batch:
            return False
        first_batch = set(self.first_batch)
        failed = len(first_batch & self.failed)
        return failed > self.config.max_initial_failure_fraction * len(first_batch)

    def _record(
        self,
        iteration: int,
        labels: dict[int, tuple[int, float]],
        n_train: int,
        n_validation: int,
        accuracy: float | None,
        threshold: float | None,
        lower_bound: float | None,
        new_labels: dict[int, tuple[int, float]],
        n_cross_fit: int = 0,
    ) -> IterationResult:
        result = IterationResult(
            iteration=iteration,
            n_train=n_train,
            n_validation=n_validation,
            validation_accuracy=accuracy,
            threshold=threshold,
            threshold_lower_bound=lower_bound,
            machine_labels=new_labels,
            human_count=len(labels),
            machine_count=len(self.machine),
            done=self.done,
            reason=self.reason,
            n_cross_fit=n_cross_fit,
        )
        self.iterations.append(result)
        return result

    # -- bookkeeping ---------------------------------------------------------------------------

    def _unlabeled(self) -> np.ndarray:
        """Objects neither sent to the crowd, machine-labeled nor failed."""
        taken = np.zeros(self.n_objects, dtype=bool)
        for group in (self.requested, list(self.machine), list(self.failed)):
            if group:
                taken[np.asarray(group, dtype=np.int64)] = True
        return np.flatnonzero(~taken)

    def _pending(self, labels: Mapping[int, Any]) -> set[int]:
        return set(self.requested) - set(labels) - self.failed

    def _check_requested(self, labels: Mapping[int, Any]) -> None:
        """Human labels must not cover machine-labeled objects; labels for objects this loop never
        asked for (a daemon that published a batch and stopped before saving the state) are adopted."""
        machine_and_human = set(labels) & set(self.machine)
        if machine_and_human:
            raise ValueError(
                f"objects {sorted(machine_and_human)[:5]} are machine-labeled; they were never sent to humans"
            )
        unknown = set(labels) - set(self.requested)
        if unknown:
            self.requested.extend(sorted(unknown))

    def workers_for(self, index: int, workers_per_object: int) -> int:
        """Assignments to ask for object `index`: validation objects may get more answers."""
        if self.config.validation_workers_per_object and index in self.validation_ids:
            return self.config.validation_workers_per_object
        return workers_per_object

    @property
    def machine_labels(self) -> dict[int, tuple[int, float]]:
        """Every machine label so far: {object: (label, confidence)}."""
        return {index: (value.label, value.confidence) for index, value in self.machine.items()}

    def object_results(self, human_labels: HumanLabels) -> dict[int, ObjectResult]:
        """Every labeled object as broker.output's ObjectResult; machine ones carry human_annotated=False."""
        labels = normalise_human_labels(human_labels, self.n_objects, self.n_classes)
        results = {
            index: ObjectResult(label=label, confidence=confidence) for index, (label, confidence) in labels.items()
        }
        for index, value in self.machine.items():
            results[index] = ObjectResult(label=value.label, confidence=value.confidence, human_annotated=False)
        return results

    def save_model(self, path: str | Path) -> Path:
        """Save the latest trained model (joblib) with the job."""
        if self.model_ is None:
            raise ValueError("no model has been trained yet (iterate() first)")
        return save_model(self.model_, path)

    # -- persistence ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything the loop needs to continue, as JSON-ready data (the model is retrained each
        iteration, so it is not part of the state; save_model() keeps it for the requester)."""
        return {
            "version": STATE_VERSION,
            "config": self.config.model_dump(mode="json"),
            "n_objects": self.n_objects,
            "n_classes": self.n_classes,
            "seed": self.seed,
            "first_batch": list(self.first_batch),
            "validation_ids": list(self.validation_ids),
            "validation_retired": {str(i): n for i, n in self.validation_retired.items()},
            "retired_labels": {str(i): label for i, label in self.retired_labels.items()},
            "requested": list(self.requested),
            "failed": sorted(self.failed),
            "machine": {str(i): [m.label, m.confidence, m.iteration] for i, m in self.machine.items()},
            "uncertain_first": list(self.uncertain_first),
            "iterations": [result.to_dict() for result in self.iterations],
            "budget": asdict(self.budget),
            "previous_labels": list(self.previous_labels),
            "asked_again": {str(i): n for i, n in self.asked_again.items()},
            "asking_again": list(self.asking_again),
            "done": self.done,
            "reason": self.reason,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], features: np.ndarray | sparse.spmatrix | None) -> AutoLabeler:
        """Rebuild a loop saved with state_dict(), with the job's features computed again."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"auto-label state version {state.get('version')!r}; this broker reads {STATE_VERSION}")
        # a job started before the shared error budget keeps testing each iteration on its own, and
        # one started before disputes were asked again keeps its estimator and gate
        config = {
            "error_budget": "per-iteration",
            "dispute_answers": 0,
            "accuracy_against": "crowd-posterior",
            "test_gate": "label-change",
            **state["config"],
        }
        return cls(
            config=AutoLabelConfig.model_validate(config),
            n_objects=int(state["n_objects"]),
            features=features,
            n_classes=int(state["n_classes"]),
            seed=int(state["seed"]),
            first_batch=[int(i) for i in state["first_batch"]],
            validation_ids=[int(i) for i in state["validation_ids"]],
            validation_retired={int(i): int(n) for i, n in state["validation_retired"].items()},
            # states saved before pooling have no retired labels: their earlier evidence is not pooled
            retired_labels={int(i): int(n) for i, n in state.get("retired_labels", {}).items()},
            requested=[int(i) for i in state["requested"]],
            failed={int(i) for i in state["failed"]},
            machine={int(i): MachineLabel(int(v[0]), float(v[1]), int(v[2])) for i, v in state["machine"].items()},
            uncertain_first=[int(i) for i in state["uncertain_first"]],
            iterations=[IterationResult.from_dict(item) for item in state["iterations"]],
            budget=ErrorBudget(**state["budget"]) if "budget" in state else None,
            previous_labels=[int(i) for i in state.get("previous_labels", [])],
            asked_again={int(i): int(n) for i, n in state.get("asked_again", {}).items()},
            asking_again=[int(i) for i in state.get("asking_again", [])],
            done=bool(state["done"]),
            reason=str(state["reason"]),
        )
