"""Pricing experiments: arms that differ in reward, run side by side, compared."""

from broker.experiments.pricing import (
    ArmResult,
    PricingExperimentSpec,
    Recommendation,
    experiment_results,
    load_experiment_spec,
    plan_arms,
    recommend,
    submit_experiment,
)

__all__ = [
    "ArmResult",
    "PricingExperimentSpec",
    "Recommendation",
    "experiment_results",
    "load_experiment_spec",
    "plan_arms",
    "recommend",
    "submit_experiment",
]
