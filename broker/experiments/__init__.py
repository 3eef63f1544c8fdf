"""Pricing experiments: arms that differ in reward, run side by side or in turn, compared with intervals."""

from broker.experiments.analysis import ArmData, ArmResult, ExperimentAnalysis, Recommendation, analyse, recommend
from broker.experiments.pricing import (
    PricingExperimentSpec,
    experiment_data,
    experiment_results,
    load_experiment_spec,
    plan_arms,
    submit_experiment,
)

__all__ = [
    "ArmData",
    "ArmResult",
    "ExperimentAnalysis",
    "PricingExperimentSpec",
    "Recommendation",
    "analyse",
    "experiment_data",
    "experiment_results",
    "load_experiment_spec",
    "plan_arms",
    "recommend",
    "submit_experiment",
]
