"""TEMPORARY shim (deleted before merge): old import path of broker.stages.quality."""
from broker.domain.rules import WorkerEvidence, decide_bonuses, decide_exclusions  # noqa: F401
from broker.stages.quality import _LAST_STATE, QualityReport, quality_tick  # noqa: F401
from broker.store.workers import excluded_workers  # noqa: F401
