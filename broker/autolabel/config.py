"""The `auto_label:` section of a job spec: what the requester controls about automated labeling.

Ground Truth fixes the target (95%), the model and the minimum job size (1,250 objects); here each
is a setting. Defaults follow Ground Truth's documented behaviour where it has one: a validation set
of 20% of the data below 5,000 objects and 10% above, human batches of at most 1,000 objects.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ModelName = Literal["logistic-regression", "random-forest", "mlp", "label-spreading"]
FeatureKind = Literal["pixels", "tfidf", "embedding"]
BoundMethod = Literal["clopper-pearson", "wilson"]
AccuracyReference = Literal["crowd-posterior", "crowd-labels"]
AccuracyScope = Literal["cumulative", "batch"]

GT_LARGE_JOB_OBJECTS = 5000
GT_VALIDATION_FRACTION_SMALL = 0.2
GT_VALIDATION_FRACTION_LARGE = 0.1
GT_MAX_CONCURRENT_TASKS = 1000


class AutoLabelConfig(BaseModel):
    """Settings of the automated labeling loop (single-label image and text classification)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    target_accuracy: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="accuracy the machine labels must reach, as a lower bound"
    )
    confidence_level: float = Field(
        default=0.95, ge=0.5, lt=1.0, description="level of the one-sided lower confidence bound on accuracy"
    )
    bound: BoundMethod = "clopper-pearson"
    accuracy_against: AccuracyReference = Field(
        default="crowd-labels",
        description="crowd-labels: agreement with the consolidated crowd labels (Ground Truth's definition; "
        "with dispute_answers the labels the model contradicts are asked again, so few wrong ones are "
        "left); crowd-posterior: expected accuracy against the truth, the model treated as one more "
        "annotator whose accuracy EM estimates from the crowd's confidence (right only if that "
        "confidence is calibrated)",
    )
    dispute_answers: int = Field(
        default=2,
        ge=0,
        le=6,
        description="more answers for each evidence object (validation, cross-fitted first batch) whose "
        "crowd label the model contradicts, once per object (0: never ask again)",
    )
    test_gate: Literal["predicted-pass", "label-change"] = Field(
        default="label-change",
        description="label-change: a model is tested once its labels stop moving (max_label_change); "
        "predicted-pass: also only when the test would pass if the model were as accurate on the "
        "test's evidence as it is, out-of-fold, on the batches chosen after the first (read no label "
        "the test reads, so a skipped test spends nothing)",
    )
    accuracy_scope: AccuracyScope = Field(
        default="cumulative",
        description="cumulative: the bound covers every machine label so far, pooling the validation objects "
        "of earlier iterations with this one's; batch: each iteration's new machine labels on their "
        "own, judged only on the validation objects left",
    )
    error_budget: Literal["spent", "per-iteration"] = Field(
        default="spent",
        description="spent: the job has one error budget, 1 - confidence_level, shared by its threshold tests "
        "(the j-th test's own share is 1/2**j of it, plus the level of the test before it if that one "
        "made its claim), so the chance that any claim the job makes is wrong is at most 1 - "
        "confidence_level in all; per-iteration: every test at confidence_level (the chance of a wrong "
        "claim grows with the iterations)",
    )
    max_label_change: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="error budget spent: a model is tested only once at most this share of the job's labels "
        "changed since the previous iteration's model (no crowd label is read to decide); default "
        "2 x (1 - target_accuracy)",
    )
    validation_fraction: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="share of all objects held out (human-labeled) to choose the threshold; "
        "default 0.2 below 5,000 objects, 0.1 above (Ground Truth's rule)",
    )
    initial_batch_size: int | None = Field(
        default=None, ge=2, description="random objects in the first human batch (training + validation)"
    )
    human_batch_size: int | None = Field(
        default=None, ge=1, description="most-uncertain objects sent to the crowd per later iteration"
    )
    validation_workers_per_object: int | None = Field(
        default=None,
        ge=1,
        le=9,
        description="answers per validation object (default: the job's workers_per_object); more answers "
        "make the labels the threshold is judged on more reliable",
    )
    cross_fit_folds: int = Field(
        default=5,
        ge=0,
        le=20,
        description="the first batch's training objects are also judged, out-of-fold by this many models "
        "trained without them, next to the validation set (0 or 1: the validation set alone)",
    )
    model: ModelName = "logistic-regression"
    features: FeatureKind = "pixels"
    embedding_field: str | None = Field(
        default=None, min_length=1, description="manifest attribute holding a list of numbers (features: embedding)"
    )
    image_size: int = Field(default=16, ge=4, le=64, description="pixels features: images are resized to size x size")
    max_human_labeled_objects: int | None = Field(default=None, ge=1)
    max_percentage_labeled: float | None = Field(
        default=None, gt=0.0, le=100.0, description="stop once this % of all objects is labeled"
    )
    max_initial_failure_fraction: float = Field(
        default=0.1, ge=0.0, le=1.0, description="the job fails if more of the first batch fails"
    )

    @model_validator(mode="after")
    def _embedding_needs_field(self) -> AutoLabelConfig:
        if self.features == "embedding" and not self.embedding_field:
            raise ValueError("features: embedding needs embedding_field (the manifest attribute with the vector)")
        if self.features != "embedding" and self.embedding_field:
            raise ValueError("embedding_field is used only with features: embedding")
        return self

    @property
    def label_change_gate(self) -> float:
        return self.max_label_change if self.max_label_change is not None else 2.0 * (1.0 - self.target_accuracy)

    # -- sizes derived from the job size --------------------------------------------------------

    def validation_size(self, n_objects: int) -> int:
        """Objects held out for choosing the threshold."""
        fraction = self.validation_fraction
        if fraction is None:
            fraction = (
                GT_VALIDATION_FRACTION_SMALL if n_objects < GT_LARGE_JOB_OBJECTS else GT_VALIDATION_FRACTION_LARGE
            )
        return max(1, min(n_objects - 1, round(fraction * n_objects)))

    def batch_size(self, n_objects: int, n_classes: int) -> int:
        """Objects per active-learning batch: 5% of the job, at least 10 per class, at most 1,000."""
        if self.human_batch_size is not None:
            return self.human_batch_size
        return max(1, min(GT_MAX_CONCURRENT_TASKS, max(10 * n_classes, round(0.05 * n_objects)), n_objects))

    def first_batch_size(self, n_objects: int, n_classes: int) -> int:
        """The random first batch: the validation set plus one batch to train on."""
        if self.initial_batch_size is not None:
            return min(self.initial_batch_size, n_objects)
        return min(n_objects, self.validation_size(n_objects) + self.batch_size(n_objects, n_classes))
