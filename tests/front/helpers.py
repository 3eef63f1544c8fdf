"""Constants shared by the front-half tests."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
# the examples that are not job specs: settings, and an experiment spec (tests/reports/test_pricing.py)
NOT_JOB_SPECS = ("settings.example.yaml", "pricing-experiment.yaml")
STREAMING_SPECS = ("streaming.yaml",)  # no manifest: objects come from a queue (tests/front/test_streaming_spec.py)

BASE_SPEC = """\
job_name: test-job
label_attribute_name: animal
task_type: image-classification
labels: [cat, dog, bird]
input_manifest: input.manifest
output: out
workers_per_object: 3
reward: "0.05"
title: Name the animal
description: Choose the animal in the picture.
"""
