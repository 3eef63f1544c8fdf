"""Automated data labeling: a model labels what it is sure of, the crowd the rest.

    from broker.autolabel import AutoLabelConfig, AutoLabeler, choose_threshold

The config is imported eagerly (broker.spec uses it); the loop, the model and the features load
scikit-learn, so they are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from broker.autolabel.config import AutoLabelConfig

if TYPE_CHECKING:
    from broker.autolabel.features import FeatureError, manifest_features
    from broker.autolabel.loop import AutoLabeler, IterationResult
    from broker.autolabel.report import CostSummary, cost_summary
    from broker.autolabel.threshold import ThresholdChoice, choose_threshold

_LAZY = {
    "AutoLabeler": "broker.autolabel.loop",
    "IterationResult": "broker.autolabel.loop",
    "choose_threshold": "broker.autolabel.threshold",
    "ThresholdChoice": "broker.autolabel.threshold",
    "FeatureError": "broker.autolabel.features",
    "manifest_features": "broker.autolabel.features",
    "CostSummary": "broker.autolabel.report",
    "cost_summary": "broker.autolabel.report",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'broker.autolabel' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "AutoLabelConfig",
    "AutoLabeler",
    "CostSummary",
    "FeatureError",
    "IterationResult",
    "ThresholdChoice",
    "choose_threshold",
    "cost_summary",
    "manifest_features",
]
