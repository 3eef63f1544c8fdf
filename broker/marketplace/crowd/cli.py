"""`broker marketplace crowd`: run the simulated crowd against a running marketplace."""

from __future__ import annotations

import threading
from typing import Any

import typer

from broker.marketplace.crowd.models import DEFAULT_MIX


def crowd(
    endpoint: str = typer.Option(
        ..., "--endpoint", help="Worker site URL of a running marketplace, e.g. http://127.0.0.1:8765"
    ),
    workers: int = typer.Option(20, "--workers", min=1, help="Number of simulated workers (ignored with --replay)."),
    seed: int = typer.Option(
        0, "--seed", help="Seed: each worker's answer to an object is fixed by (seed, worker, object)."
    ),
    model: list[str] = typer.Option(
        [],
        "--model",
        help="Worker model for every worker (good, sloppy, spammer, constant, adversary); shorthand for --mix MODEL=1.",
    ),
    mix: str = typer.Option(
        DEFAULT_MIX, "--mix", help='Share of each worker model, e.g. "good=0.6,sloppy=0.25,spammer=0.15".'
    ),
    truth: str | None = typer.Option(
        None,
        "--truth",
        help="JSON lines (or CSV) keyed by source-ref/source: the true label, boxes, polygons, keypoints, "
        "mask or regions, entities, or verification verdict of each data object (formats below).",
    ),
    replay: str | None = typer.Option(None, "--replay", help="worker,task,label CSV of real answers to replay."),
    time_scale: float = typer.Option(
        1.0, "--time-scale", min=1e-6, help="Simulated work time runs this many times faster."
    ),
    idle_seconds: float = typer.Option(
        5.0, "--idle-seconds", min=0.0, help="Stop after this long with no work picked up."
    ),
    max_assignments: int | None = typer.Option(
        None, "--max-assignments", min=1, help="Stop after this many submissions."
    ),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Bots working at the same time."),
) -> None:
    """Run simulated workers against the worker site until no work is left.

    \b
    --truth: JSON lines keyed by "source-ref" (images) or "source" (texts):
      label        {"source-ref": "s3://b/1.jpg", "label": "cat"}  (or "labels")
      boxes        {"source-ref": ..., "width": 640, "height": 480,
                    "boundingBoxes": [{"label","left","top","width","height"}]}
      polygons     + "polygons": [{"label", "vertices": [{"x", "y"}]}]
      keypoints    + "keypoints": [{"label", "x", "y"}]
                   (without them: the boxes' corners / centres)
      segmentation {"source-ref": ..., "mask": "masks/1.png",
                    "labelMappings": {"cat": {"color": "#1f77b4"}}}
                   or "regions": [{"label","left","top","width","height"}]
      entities     {"source": "Ada met Bob.",
                    "entities": [{"label", "startOffset", "endOffset"}]}
      verification {"source-ref": ..., "correct": false}  (or its "label")
    Mask paths are relative to the truth file; a mask without labelMappings
    uses the element's colours (d3 category10 in label order).
    """
    # heavy: the crowd runner takes ~0.25 s to import; every other `broker` command skips it
    from broker.marketplace.crowd.runner import run_crowd
    from broker.marketplace.crowd.truth import TruthFileError, load_truth

    chosen_mix: Any = mix
    if model:
        chosen_mix = {name: 1.0 for name in model}
    try:
        truth_table = load_truth(truth) if truth else None
        stop = threading.Event()
        try:
            stats = run_crowd(
                endpoint,
                n_workers=workers,
                seed=seed,
                truth=truth_table,
                mix=chosen_mix,
                replay_csv=replay,
                time_scale=time_scale,
                idle_seconds=idle_seconds,
                max_assignments=max_assignments,
                stop_event=stop,
                concurrency=concurrency,
            )
        except KeyboardInterrupt:
            stop.set()
            raise
    except (TruthFileError, ValueError) as error:
        raise typer.BadParameter(str(error)) from error
    typer.echo(
        f"submitted {stats.assignments_submitted} assignments, returned {stats.assignments_returned}, "
        f"{len(stats.per_worker)} workers, {stats.wall_seconds:.1f} s, {stats.error_count} errors"
    )
    if stats.generic_forms:
        typer.echo(f"filled {stats.generic_forms} third-party forms generically")
    if stats.replay_fallbacks:
        typer.echo(
            f"{stats.replay_fallbacks} replayed HITs had no real answer left and were answered "
            "from the task's answer distribution"
        )
    for reason in stats.no_work_reasons():
        typer.echo(reason)
    for message in stats.errors[:10]:
        typer.echo(f"error: {message}", err=True)
    if stats.error_count and not stats.assignments_submitted:
        raise typer.Exit(code=1)
