"""Fixtures for broker/autolabel: small separable data with known labels, and a job spec text."""

from __future__ import annotations

import numpy as np
import pytest

SPEC_TEXT = """\
job_name: digits-auto
task_type: image-classification
labels: [zero, one, two]
input_manifest: input.manifest
output: out
reward: "0.02"
title: Which digit is this?
description: Pick the digit shown in the image.
"""


@pytest.fixture
def spec_text() -> str:
    return SPEC_TEXT


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """600 objects, 3 classes: most far from the boundaries (easy), some in the middle (hard)."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 600)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    features = centres[truth] + rng.normal(0.0, 1.6, (600, 2))
    return features, truth


@pytest.fixture
def perfect_crowd():
    """A crowd that always answers right: {object: (true label, confidence 1)}."""

    def label(objects, truth: np.ndarray) -> dict[int, tuple[int, float]]:
        return {int(i): (int(truth[i]), 1.0) for i in objects}

    return label
