"""TEMPORARY shim (deleted before merge): old import path of the finalize, output and cancel code."""
from broker.commands import cancel_job  # noqa: F401
from broker.export import manifest_csv  # noqa: F401
from broker.output import outcomes_for  # noqa: F401
from broker.stages.finalize import finalize_tick  # noqa: F401
from broker.stages.output import output_tick, write_outputs  # noqa: F401
from broker.store import reading
from broker.store.jobs import unfinished_job_count


def active_jobs_remaining(engine):
    with reading(engine) as session:
        return unfinished_job_count(session)
