"""Labeler statistics, job reports and job status: plain functions over DB rows -> dataclasses.

`worker_report` and `job_report` compute; `broker.reports.tables` prints rich tables and CSV;
`broker.reports.html` writes one self-contained HTML file with the plots embedded.
"""

from broker.reports.jobs import JobReport, job_report
from broker.reports.workers import WorkerReport, WorkerRow, worker_report

__all__ = ["JobReport", "WorkerReport", "WorkerRow", "job_report", "worker_report"]
