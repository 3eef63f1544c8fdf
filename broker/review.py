"""TEMPORARY shim (deleted before merge): old import path of broker.stages.review and broker.commands."""
from broker.actions.bonuses import WorkerActionError, send_bonus  # noqa: F401
from broker.commands import block_worker, message_workers, unblock_worker  # noqa: F401
from broker.domain.rules import EMPTY_ANSWER_MESSAGE, agreement, decide  # noqa: F401
from broker.stages.review import ReviewReport, review_tick  # noqa: F401
