"""TEMPORARY shim (deleted before merge): old import path of broker.stages.autolabel."""
from broker.autolabel.report import summary_rows  # noqa: F401
from broker.stages.autolabel import STOP_REASONS, autolabel_tick  # noqa: F401
from broker.store.autolabel import autolabel_summary  # noqa: F401
