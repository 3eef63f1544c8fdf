"""Label verification: workers uncheck the items of a batch whose shown label is wrong.

Demo (`broker demo --task verification`): scikit-learn's digits (broker.tasks.demo_digits)
labeled by a small model (logistic regression on 60 of them, so about a fifth of its labels are
wrong), with the model's confidence; workers uncheck the wrong ones in batches of 25. Quality:
accuracy of the consolidated verdicts (does the model's label fit?) against the true digits, of
single workers' verdicts, and of the model's labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from broker.tasks.base import ConsolidationMethod, DemoData, DemoOutcome, DemoRecipe, OutputLayout, TaskType
from broker.tasks.demo_digits import load_digits, write_digits
from broker.verify.config import DEFAULT_VERDICT_LABELS

MODEL_TRAINING_DIGITS = 60


def verification_rules(spec: Any) -> list[tuple[str, str]]:
    """The job names the attribute to verify; its labels are the two verdicts (defaulted here)."""
    if spec.verification is None:
        return [("verification", "a label-verification job needs `verification: {label_attribute: ...}`")]
    if not spec.labels and spec.label_category_config is None:
        spec.labels = list(DEFAULT_VERDICT_LABELS)
    if spec.labels and len(spec.labels) != 2:
        return [("labels", f"label-verification takes two verdict labels (fits, does not fit), got {len(spec.labels)}")]
    if spec.verification.label_attribute == spec.label_attribute_name:
        return [("label_attribute_name", "must differ from verification.label_attribute (the label verified)")]
    unsupported = [name for name in ("gold", "exclusion") if getattr(spec.quality, name, None) is not None]
    return [
        (f"quality.{name}", "not available for label-verification jobs (a HIT is a batch of objects)")
        for name in unsupported
    ]


def write_verification(folder: Path, n: int, seed: int) -> DemoData:
    """Digit PNGs whose manifest lines carry a weak model's label (`model`) and confidence."""
    # heavy optional dependency: scikit-learn takes about a second to import; only this demo task trains a model
    from sklearn.linear_model import LogisticRegression

    manifest, digit_truth = write_digits(folder, n)
    digits = load_digits()
    rng = np.random.default_rng(seed)
    train = rng.choice(
        np.arange(n, len(digits.target))
        if n < len(digits.target) - MODEL_TRAINING_DIGITS
        else np.arange(len(digits.target)),
        MODEL_TRAINING_DIGITS,
        replace=False,
    )
    model = LogisticRegression(max_iter=2000).fit(digits.data[train], digits.target[train])
    proba = model.predict_proba(digits.data[:n])
    predicted = model.classes_[proba.argmax(axis=1)]
    lines = []
    for i, path in enumerate(digit_truth):
        lines.append(
            {
                "source-ref": path,
                "model": int(predicted[i]),
                "model-metadata": {
                    "class-name": str(predicted[i]),
                    "confidence": round(float(proba[i].max()), 2),
                    "type": "groundtruth/image-classification",
                    "human-annotated": "no",
                    "job-name": "labeling-job/digits-model",
                },
            }
        )
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    spec = {
        "job_name": "digits-verify",
        "task_type": "label-verification",
        "labels": ["good", "bad"],
        "verification": {"label_attribute": "model", "batch_size": 25},
        "header": "Is each image the digit shown?",
        "instructions": {
            "short": "Uncheck every image that is not the digit named above the batch.",
            "full": "A model labeled these handwritten digits. Leave an image checked when it "
            "shows the digit named; uncheck it when it shows another digit.",
        },
        "title": "Check a model's digit labels",
        "description": "Uncheck the images a digit label is wrong for.",
        "keywords": ["image", "digit", "verification"],
        "reward": "0.10",
    }
    return DemoData(spec, manifest, {path: {"label": label} for path, label in digit_truth.items()})


def verification_quality(outcome: DemoOutcome) -> dict[str, float]:
    """Consolidated verdicts (and single workers' verdicts) against "the model's label is right"."""
    values = outcome.values
    fits = np.array([str(line["model"]) == record["label"] for line, record in zip(outcome.lines, outcome.truth)])
    decided = np.array(sorted(values))
    said_fits = np.array([int(values[i]) == 0 for i in decided], dtype=bool)
    single = (outcome.verdicts == 0) == fits[outcome.verdict_objects]
    return {
        "verification_accuracy": round(float((said_fits == fits[decided]).mean()), 4) if decided.size else 0.0,
        "single_worker_verification_accuracy": round(float(single.mean()), 4) if single.size else 0.0,
        "model_label_accuracy": round(float(fits.mean()), 4),
    }


DEMO = DemoRecipe(
    name="verification", objects=500, workers_per_object=3, write=write_verification, quality=verification_quality
)

TASK_TYPE = TaskType(
    id="label-verification",
    element="crowd-label-verification",
    source_key=None,  # images or texts
    output_type="groundtruth/label-verification",
    default_header="Uncheck every item the label does not fit",
    template_file="label-verification.liquid",
    consolidation=ConsolidationMethod.VERDICTS,
    output_layout=OutputLayout.VERDICT,
    batched=True,
    block="verification",
    spec_rules=verification_rules,
    good_examples=(
        "<p>Uncheck an item when the label is wrong for it, e.g. a photo of a cat labelled <b>dog</b>.</p>",
    ),
    bad_examples=("<p>Unchecking a correctly labelled item only because the photo is dark or blurry.</p>",),
    demo=DEMO,
)
