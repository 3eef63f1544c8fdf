"""TEMPORARY shim (deleted before merge): old import path of broker.stages.consolidate and broker.consolidation."""
from broker.consolidation import Consolidated, answer_arrays, consolidate_answers, majority_labels  # noqa: F401
from broker.stages.consolidate import ConsolidateReport, consolidate_job, consolidate_tick  # noqa: F401
from broker.store.answers import answers_for_consolidation as job_answer_rows  # noqa: F401
