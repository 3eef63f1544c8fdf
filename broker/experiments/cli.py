"""`broker experiment pricing spec.yaml`: submit the arms, or report on them once they ran."""

from __future__ import annotations

from pathlib import Path

import typer

from broker.experiments.pricing import experiment_results, load_experiment_spec, recommend, submit_experiment
from broker.experiments.report import results_html, results_table, write_results_csv
from broker.manifest import ManifestError
from broker.reports.cli import _fail, _settings, console, open_engine
from broker.spec import SpecError, SubmitError
from broker.store import reading

experiment_app = typer.Typer(no_args_is_help=True, help="Pricing experiments: arms that differ in reward.")


@experiment_app.command("pricing")
def pricing(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="Experiment spec YAML."),
    report: bool = typer.Option(False, "--report", help="Report on arms already run instead of submitting."),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Where arm manifests/specs go (default: <spec folder>/<experiment>-arms)."
    ),
    csv: Path | None = typer.Option(None, "--csv"),
    html: Path | None = typer.Option(None, "--html"),
) -> None:
    """Submit the arms of a pricing experiment (then `broker run`), or --report on them with a recommendation."""
    try:
        experiment = load_experiment_spec(spec)
    except SpecError as exc:
        _fail(str(exc))
    engine = open_engine(_settings(ctx), create=not report)
    if not report:
        folder = workdir or spec.resolve().parent / f"{experiment.experiment}-arms"
        try:
            ids = submit_experiment(experiment, folder, engine, _settings(ctx))
        except (SpecError, ManifestError, SubmitError, ValueError) as exc:
            _fail(str(exc))
        console.print(
            f"submitted {len(ids)} arms of {experiment.experiment} (arm specs in {folder}); "
            "run `broker run`, then `broker experiment pricing --report`"
        )
        return
    with reading(engine) as session:
        try:
            results = experiment_results(session, experiment)
        except ValueError as exc:
            _fail(str(exc))
    recommendation = recommend(results, experiment.quality_target, experiment.deadline_seconds)
    console.print(results_table(experiment.experiment, results, recommendation))
    if csv is not None:
        write_results_csv(results, csv)
        console.print(f"wrote {csv}")
    if html is not None:
        html.write_text(
            results_html(
                experiment.experiment, results, recommendation, experiment.quality_target, experiment.deadline_seconds
            ),
            encoding="utf-8",
        )
        console.print(f"wrote {html}")
