"""One self-contained HTML file per report: tables plus matplotlib plots inlined as SVG.

No script, no stylesheet link, no font or image fetched: the file opens offline and can be mailed.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment
from markupsafe import Markup

from broker.autolabel.report import guarantee
from broker.reports.jobs import JobReport
from broker.reports.tables import HEADERS, cell, job_rows
from broker.reports.workers import COLUMNS, WorkerReport, WorkerRow, summarise_events

MAX_HEATMAPS = 12

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:12px 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0} td.text{text-align:left}
tr.flagged td{background:#fde8e8} tr.chosen td{background:#e3f5e3;font-weight:bold}
.plots{display:flex;flex-wrap:wrap;gap:16px}
figure.plot{margin:0;border:1px solid #ddd;padding:6px}
figure.plot svg{display:block;max-width:100%;height:auto}
figcaption{font-size:13px;color:#555}
</style></head><body>
<h1>{{ title }}</h1>
<p>Generated {{ generated }} by crowd-broker.</p>
{% for section in sections %}<h2>{{ section.heading }}</h2>{{ section.body }}{% endfor %}
</body></html>
"""


def _svg(draw: Callable[[Any], None], size: tuple[float, float] = (5.5, 3.6)) -> Markup:
    """Run `draw(ax_or_fig)` on a fresh figure and return it as inline SVG markup."""
    # heavy optional dependency: matplotlib takes about a second to import; only the --html reports draw plots
    import matplotlib

    matplotlib.use("Agg")
    # heavy optional dependency: pyplot, once the Agg backend is chosen
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=size)
    try:
        draw(figure)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})  # same data, same file
    finally:
        plt.close(figure)
    text = buffer.getvalue()
    return Markup(text[text.index("<svg") :])


def _figure(plot_id: str, caption: str, svg: Markup) -> Markup:
    return Markup('<figure class="plot" id="plot-{}">{}<figcaption>{}</figcaption></figure>').format(
        plot_id, svg, caption
    )


def _table(
    headers: list[str],
    rows: list[list[str]],
    flagged: list[bool] | None = None,
    text_columns: int = 1,
    css_class: str = "flagged",
) -> Markup:
    html = Markup("<table><tr>") + Markup("").join(Markup("<th>{}</th>").format(h) for h in headers) + Markup("</tr>")
    for i, row in enumerate(rows):
        css = Markup(' class="{}"').format(css_class) if flagged and flagged[i] else Markup("")
        html += Markup("<tr{}>").format(css)
        for j, value in enumerate(row):
            html += Markup('<td class="text">{}</td>' if j < text_columns else "<td>{}</td>").format(value)
        html += Markup("</tr>")
    return html + Markup("</table>")


# --------------------------------------------------------------------------------------------- worker plots


def accuracy_volume_plot(rows: list[WorkerRow]) -> Markup:
    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        for status, color in (("active", "tab:blue"), ("excluded", "tab:orange"), ("blocked", "tab:red")):
            chosen = [r for r in rows if r.status == status and r.em_accuracy is not None]
            if chosen:
                ax.scatter(
                    [r.assignments for r in chosen],
                    [r.em_accuracy for r in chosen],
                    c=color,
                    label=f"EM ({status})",
                    alpha=0.8,
                )
        gold = [r for r in rows if r.gold_accuracy is not None]
        if gold:
            ax.scatter(
                [r.assignments for r in gold], [r.gold_accuracy for r in gold], marker="x", c="black", label="on gold"
            )
        volumes = [r.assignments for r in rows] or [1]
        if max(volumes) > 20 * max(1, min(volumes)):
            ax.set_xscale("symlog")
        ax.set_xlim(0, max(volumes) * 1.1 + 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("answers")
        ax.set_ylabel("accuracy")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.text(
                0.5,
                0.5,
                "no accuracy figures (multi-label or no usable answers)",
                ha="center",
                transform=ax.transAxes,
                fontsize=8,
            )

    return _svg(draw)


def work_time_plot(seconds: np.ndarray) -> Markup:
    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        if seconds.size:
            ax.hist(seconds, bins=min(40, max(5, int(np.sqrt(seconds.size)))), color="tab:green")
            ax.axvline(float(np.median(seconds)), color="black", linestyle="--", label="median")
            ax.legend(fontsize=7)
        ax.set_xlabel("work time per assignment (s)")
        ax.set_ylabel("assignments")

    return _svg(draw)


def daily_activity_plot(rows: list[WorkerRow]) -> Markup:
    totals: dict[str, int] = {}
    workers: dict[str, int] = {}
    for row in rows:
        for day, count in row.daily.items():
            totals[day] = totals.get(day, 0) + count
            workers[day] = workers.get(day, 0) + 1
    days = sorted(totals)

    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        ax.bar(days, [totals[d] for d in days], color="tab:blue", label="assignments")
        ax.set_ylabel("assignments per day")
        twin = ax.twinx()
        twin.plot(days, [workers[d] for d in days], color="tab:orange", marker="o", label="active workers")
        twin.set_ylabel("active workers")
        twin.set_ylim(bottom=0)
        ax.set_ylim(bottom=0)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)

    return _svg(draw)


def confusion_heatmaps(confusions: dict[str, np.ndarray], labels: list[str], rows: list[WorkerRow]) -> Markup:
    """P(answer | true class) of the busiest workers (up to MAX_HEATMAPS), one small heatmap each."""
    busiest = [r.worker_id for r in sorted(rows, key=lambda r: -r.assignments) if r.worker_id in confusions]
    shown = busiest[:MAX_HEATMAPS]
    columns = min(4, max(1, len(shown)))
    lines = max(1, -(-len(shown) // columns))

    def draw(figure: Any) -> None:
        for i, worker_id in enumerate(shown):
            ax = figure.add_subplot(lines, columns, i + 1)
            ax.imshow(confusions[worker_id], vmin=0, vmax=1, cmap="Blues")
            ax.set_title(worker_id, fontsize=6)
            ticks = range(len(labels))
            ax.set_xticks(ticks, labels if len(labels) <= 10 else [str(t) for t in ticks], fontsize=5, rotation=90)
            ax.set_yticks(ticks, labels if len(labels) <= 10 else [str(t) for t in ticks], fontsize=5)

    return _svg(draw, size=(2.2 * columns, 2.2 * lines))


def class_confusion_plot(matrix: np.ndarray, labels: list[str]) -> Markup:
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)

    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        image = ax.imshow(share, vmin=0, vmax=1, cmap="viridis")
        ticks = range(len(labels))
        ax.set_xticks(ticks, labels, rotation=90, fontsize=7)
        ax.set_yticks(ticks, labels, fontsize=7)
        ax.set_xlabel("worker answer")
        ax.set_ylabel("consolidated (or gold) class")
        figure.colorbar(image, ax=ax)

    return _svg(draw, size=(5, 4.2))


def worker_report_html(report: WorkerReport, rows: list[WorkerRow] | None = None) -> str:
    rows = rows if rows is not None else report.rows
    plots = [
        _figure("accuracy-volume", "Accuracy against volume", accuracy_volume_plot(rows)),
        _figure("work-time", "Work time per assignment", work_time_plot(report.work_seconds)),
        _figure("daily-activity", "Daily activity", daily_activity_plot(rows)),
    ]
    if report.confusions and report.labels:
        plots.append(
            _figure(
                "worker-confusion",
                "Per-worker confusion P(answer | class), busiest workers",
                confusion_heatmaps(report.confusions, report.labels, rows),
            )
        )
    if report.class_confusion is not None and report.labels:
        plots.append(
            _figure(
                "class-confusion",
                "Class confusion of the job",
                class_confusion_plot(report.class_confusion, report.labels),
            )
        )
    table = _table(
        [HEADERS[c] for c in COLUMNS],
        [[cell(c, getattr(r, c)) for c in COLUMNS] for r in rows],
        [r.status != "active" for r in rows],
    )
    sections = [
        {"heading": "Plots", "body": Markup('<div class="plots">') + Markup("").join(plots) + Markup("</div>")},
        {"heading": f"Workers ({len(rows)})", "body": table},
        {"heading": "Quality actions", "body": _events(report.events)},
    ]
    return _page(f"Workers of {', '.join(report.jobs)}", sections)


def _events(events: list[tuple[datetime, str, str, str]]) -> Markup:
    if not events:
        return Markup("<p>No quality-control actions.</p>")
    return _table(
        ["at", "job", "action", "reason"],
        [[cell("t", at), job, kind, message] for at, job, kind, message in summarise_events(events)],
        text_columns=4,
    )


def _page(title: str, sections: list[dict[str, Any]]) -> str:
    environment = Environment(autoescape=True)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return environment.from_string(PAGE).render(title=title, generated=generated, sections=sections)


# --------------------------------------------------------------------------------------------- job plots


def progress_plot(report: JobReport) -> Markup:
    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        if report.progress_times:
            ax.step(report.progress_times, report.progress_assignments, where="post", label="assignments submitted")
        if report.completion_times:
            ax.step(report.completion_times, report.completion_objects, where="post", label="objects consolidated")
        ax.set_ylabel("count")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.legend(fontsize=7)

    return _svg(draw)


def money_plot(report: JobReport) -> Markup:
    parts = [
        ("rewards", report.reward_cents),
        ("fees", report.fee_cents),
        ("bonuses", report.bonus_cents),
        ("bonus fees", report.bonus_fee_cents),
        ("committed", report.committed_cents),
    ]

    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        ax.bar(
            [p[0] for p in parts],
            [p[1] / 100 for p in parts],
            color=["tab:blue", "tab:gray", "tab:green", "tab:olive", "tab:orange"],
        )
        if report.budget_cents is not None:
            ax.axhline(report.budget_cents / 100, color="red", linestyle="--", label="budget")
            ax.legend(fontsize=7)
        ax.set_ylabel("USD")

    return _svg(draw)


def job_report_html(report: JobReport) -> str:
    plots = [
        _figure("progress", "Progress over time", progress_plot(report)),
        _figure("money", "Money spent and committed", money_plot(report)),
    ]
    sections = [
        {"heading": "Summary", "body": _table(["figure", "value"], [list(r) for r in job_rows(report)])},
        {"heading": "Plots", "body": Markup('<div class="plots">') + Markup("").join(plots) + Markup("</div>")},
        {"heading": "Quality actions", "body": _events(report.events)},
    ]
    if report.auto_label and report.auto_label.get("iterations"):  # auto_label jobs: one row per iteration
        sections.append({"heading": "Automated labeling", "body": _auto_label_table(report.auto_label)})
    return _page(f"Job {report.name}", sections)


def _auto_label_table(summary: dict[str, Any]) -> Markup:
    def fmt(value: float | None, percent: bool = False) -> str:
        if value is None:
            return "-"
        return f"{value:.1%}" if percent else f"{value:.3f}"

    rows = [
        [
            str(row["iteration"]),
            str(row["human_count"]),
            str(row["machine_count"]),
            str(row["new_machine_labels"]),
            fmt(row["validation_accuracy"]),
            fmt(row.get("label_change"), percent=True),
            f"not run: predicted to fail at {fmt(row.get('level'), percent=True)}"
            if row.get("gated")
            else fmt(row.get("level"), percent=True),
            str(row.get("asked_again", 0)),
            fmt(row["threshold"]),
            str(row.get("evidence", "-")),
            fmt(row.get("evidence_accuracy"), percent=True),
            fmt(row["threshold_lower_bound"], percent=True),
        ]
        for row in summary["iterations"]
    ]
    cost = summary["cost"]
    table = _table(
        [
            "iteration",
            "human",
            "machine",
            "new machine",
            "validation accuracy",
            "labels changed",
            "test level",
            "validation objects asked again",
            "threshold",
            "evidence (validation objects)",
            "estimated accuracy",
            "lower bound",
        ],
        rows,
    )
    promise = guarantee(summary["config"]) if summary.get("config") else ""
    return (
        Markup("<p>{}</p>").format(f"Promise: {promise}.")
        + table
        + Markup("<p>{}</p>").format(
            f"Crowd cost {cost['cost_cents']} cents against {cost['all_human_cost_cents']} cents all-human: "
            f"{cost['saved_fraction']:.1%} saved. Model: {summary.get('model_uri') or '-'}"
        )
    )


def write_html(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8")
