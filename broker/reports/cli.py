"""`broker report workers|job|qa` and `broker estimate`: typer commands registered by broker/cli.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from broker import mturk
from broker.reports.html import job_report_html, worker_report_html, write_html
from broker.reports.jobs import job_report
from broker.reports.qa import load_qa_report, parse_bins, qa_csv, qa_rich_tables
from broker.reports.tables import (
    events_table,
    flagged_table,
    job_table,
    workers_table,
    write_job_csv,
    write_workers_csv,
)
from broker.reports.workers import sort_rows, team_jobs, worker_report
from broker.settings import SettingsError, load_settings
from broker.store import database_exists, get_engine, reading, sqlite_file
from broker.store.jobs import UnknownJobError, find_job
from broker.store.ratelimit import DatabaseCallGate, rates_from_settings
from broker.store.views import all_jobs

WIDE_OUTPUT = 250  # columns when output goes to a file or pipe: tables are never cut at 80


def wide_console(*, stderr: bool = False) -> Console:
    """A terminal's own width, or WIDE_OUTPUT when redirected (rich would assume 80 columns)."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else WIDE_OUTPUT
    return Console(stderr=stderr, width=width, soft_wrap=stderr)


console = wide_console()
err_console = wide_console(stderr=True)

report_app = typer.Typer(no_args_is_help=True, help="Worker and job statistics: terminal table, CSV, HTML.")


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(1)


def db_url_of(db: str | None) -> str | None:
    """`--db`: a database URL, or a SQLite file path."""
    if db is None:
        return None
    return db if "://" in db else f"sqlite:///{Path(db).expanduser().resolve()}"


def _settings(ctx: typer.Context | None) -> Any:
    obj = (ctx.find_root().obj if ctx is not None else None) or {}
    overrides = {"db_url": obj["db_url"]} if obj.get("db_url") else {}
    try:
        return load_settings(obj.get("settings_path"), **overrides)
    except SettingsError as exc:
        _fail(str(exc))


def open_engine(settings: Any, *, create: bool = False) -> Any:
    """The broker DB's engine. Only commands that write a job (`create`) may make a new SQLite file:
    a report run in the wrong folder says so instead of leaving an empty broker.db behind."""
    if not create and not database_exists(settings.db_url):
        _fail(
            f"no broker DB at {sqlite_file(settings.db_url)}: nothing was submitted here. Give the DB with "
            "`broker --db PATH ...` (the demo prints its own) or BROKER_DB_URL, or run `broker submit` first"
        )
    engine = get_engine(settings.db_url)
    # every MTurk call of this command waits for the account's shared rate limit and is counted
    mturk.use_call_gate(DatabaseCallGate(engine, rates_from_settings(settings)))
    return engine


def _engine(ctx: typer.Context) -> Any:
    return open_engine(_settings(ctx))


@report_app.command("workers")
def report_workers(
    ctx: typer.Context,
    job: str | None = typer.Argument(None, help="Job name (or use --all or --team)."),
    every_job: bool = typer.Option(False, "--all", help="Every job in the broker DB."),
    team: str | None = typer.Option(None, "--team", help="The jobs of a private team (workforce: {team: NAME})."),
    sort: str = typer.Option("assignments", "--sort", help="Column to sort by (e.g. em_accuracy)."),
    ascending: bool = typer.Option(False, "--ascending", help="Lowest first."),
    csv: Path | None = typer.Option(None, "--csv", help="Write the rows as CSV here."),
    html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report here."),
) -> None:
    """Per worker: answers, review outcome, EM/gold accuracy, agreement, spammer score, time, wage, money."""
    if sum([job is not None, every_job, team is not None]) != 1:
        _fail("give one of: a job name, --all, --team NAME")
    with reading(_engine(ctx)) as session:
        try:
            jobs = all_jobs(session) if job is None else [find_job(session, job)]
        except UnknownJobError as exc:
            _fail(str(exc))
        if team is not None:
            jobs = team_jobs(jobs, team)
            if not jobs:
                _fail(f"--team: no job names team {team} (workforce: {{team: {team}}})")
        report = worker_report(session, jobs)
    try:
        rows = sort_rows(report.rows, sort, descending=False if ascending else None)
    except ValueError as exc:
        _fail(f"--sort: {exc}")
    title = f"workers of team {team} (jobs {', '.join(report.jobs)})" if team is not None else None
    console.print(workers_table(report, rows, title=title, width=console.width))
    flagged = flagged_table(rows)
    if flagged is not None:
        console.print(flagged)
    if report.events:
        console.print(events_table(report.events))
    if csv is not None:
        write_workers_csv(rows, csv)
        console.print(f"wrote {csv}")
    if html is not None:
        write_html(worker_report_html(report, rows), html)
        console.print(f"wrote {html}")


@report_app.command("job")
def report_job(
    ctx: typer.Context,
    job: str = typer.Argument(..., help="Job name."),
    csv: Path | None = typer.Option(None, "--csv", help="Write figure,value CSV here."),
    html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report here."),
) -> None:
    """Progress, throughput, money spent and committed, cost per label, estimated and measured accuracy."""
    with reading(_engine(ctx)) as session:
        try:
            report = job_report(session, find_job(session, job))
        except UnknownJobError as exc:
            _fail(str(exc))
    console.print(job_table(report))
    if report.events:
        console.print(events_table(report.events))
    if csv is not None:
        write_job_csv(report, csv)
        console.print(f"wrote {csv}")
    if html is not None:
        write_html(job_report_html(report), html)
        console.print(f"wrote {html}")


@report_app.command("qa")
def report_qa(
    ctx: typer.Context,
    job: str = typer.Argument(..., help="A label-verification job's name."),
    bins: str = typer.Option("80,85,90,95,100", "--bins", help="Model-confidence bin edges, in percent."),
    fp_cost_ratio: float = typer.Option(
        1.0, "--fp-cost-ratio", min=0.0, help="Cost of accepting a wrong model label, in human reviews."
    ),
    csv: Path | None = typer.Option(None, "--csv", help="Write the tables as CSV here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Bulk QA of model labels: per class x confidence bin, confirmed / disconfirmed / split / % correct,
    and the confidence threshold per class to accept the model's labels at."""
    try:
        edges = parse_bins(bins)
    except ValueError as exc:
        _fail(f"--bins: {exc}")
    with reading(_engine(ctx)) as session:
        try:
            report = load_qa_report(session, find_job(session, job), edges, fp_cost_ratio)
        except (UnknownJobError, ValueError) as exc:
            _fail(str(exc))
    if as_json:
        print(json.dumps(report.as_dict()))
    else:
        for table in qa_rich_tables(report):
            console.print(table)
        if report.unbinned:
            console.print(f"{report.unbinned} verified objects have no confidence within the bins")
    if csv is not None:
        csv.write_text(qa_csv(report), encoding="utf-8")
        if not as_json:
            console.print(f"wrote {csv}")
