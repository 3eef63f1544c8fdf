"""The simulated crowd: bots that use the worker site over HTTP and answer from worker models."""

from broker.marketplace.crowd.models import WorkerModelSpec, worker_specs
from broker.marketplace.crowd.runner import CrowdStats, run_crowd

__all__ = ["CrowdStats", "WorkerModelSpec", "run_crowd", "worker_specs"]
