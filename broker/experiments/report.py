"""A pricing experiment's results: rich table, CSV and a self-contained HTML page with plots."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from markupsafe import Markup
from rich.table import Table

from broker.experiments.pricing import ArmResult, Recommendation
from broker.reports.html import _figure, _page, _svg, _table

COLUMNS = (
    ("arm", "arm"),
    ("reward", "reward"),
    ("workers_per_object", "per object"),
    ("completed", "done"),
    ("seconds_to_half", "50% (s)"),
    ("seconds_to_all", "100% (s)"),
    ("assignments_per_hour", "assign./h"),
    ("accuracy", "accuracy"),
    ("cost_per_object_cents", "$/object"),
    ("cost_per_correct_cents", "$/correct"),
    ("median_hourly_wage_cents", "median $/h"),
)


def _value(result: ArmResult, key: str) -> str:
    if key == "reward":
        return f"${result.reward_cents / 100:.2f}"
    if key == "completed":
        return f"{result.completed}/{result.objects}"
    value = getattr(result, key)
    if value is None:
        return "-"
    if key == "accuracy":
        return f"{value:.1%}" + (" (conf.)" if result.accuracy_source == "confidence" else "")
    if key.endswith("_cents"):
        return f"${value / 100:.4f}" if "object" in key or "correct" in key else f"${value / 100:.2f}"
    if isinstance(value, float):
        return f"{value:.0f}" if key.startswith("seconds") else f"{value:.1f}"
    return str(value)


def results_table(experiment: str, results: list[ArmResult], recommendation: Recommendation) -> Table:
    table = Table(
        title=f"pricing experiment {experiment}",
        caption=f"recommended: {recommendation.arm or 'none'} - {recommendation.reason}",
    )
    for _, header in COLUMNS:
        table.add_column(header, justify="left" if header == "arm" else "right", no_wrap=True)
    for result in results:
        table.add_row(
            *(_value(result, key) for key, _ in COLUMNS),
            style="bold green" if result.arm == recommendation.arm else None,
        )
    return table


def write_results_csv(results: list[ArmResult], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(results[0].as_dict()) if results else ["arm"])
        writer.writeheader()
        for result in results:
            writer.writerow({k: ("" if v is None else v) for k, v in result.as_dict().items()})


def results_html(
    experiment: str,
    results: list[ArmResult],
    recommendation: Recommendation,
    quality_target: float | None = None,
    deadline_seconds: float | None = None,
) -> str:
    names = [r.arm for r in results]

    def speed(figure: Any) -> None:
        ax = figure.add_subplot()
        half = [r.seconds_to_half or 0 for r in results]
        full = [r.seconds_to_all or 0 for r in results]
        x = range(len(results))
        ax.bar([i - 0.2 for i in x], half, width=0.4, label="50% done")
        ax.bar([i + 0.2 for i in x], full, width=0.4, label="100% done")
        ax.set_xticks(list(x), names)
        if deadline_seconds is not None:
            ax.axhline(deadline_seconds, color="red", linestyle="--", label="deadline")
        ax.set_ylabel("seconds after posting")
        ax.legend(fontsize=7)

    def cost_quality(figure: Any) -> None:
        ax = figure.add_subplot()
        for r in results:
            if r.cost_per_object_cents is not None and r.accuracy is not None:
                ax.scatter(
                    r.cost_per_object_cents / 100,
                    r.accuracy,
                    s=60,
                    c="tab:green" if r.arm == recommendation.arm else "tab:blue",
                )
                ax.annotate(r.arm, (r.cost_per_object_cents / 100, r.accuracy), fontsize=8)
        if quality_target is not None:
            ax.axhline(quality_target, color="red", linestyle="--", label="quality target")
            ax.legend(fontsize=7)
        ax.set_xlabel("USD per object")
        ax.set_ylabel("accuracy")

    plots = [
        _figure("speed", "Time to 50% and 100% completion", _svg(speed)),
        _figure("cost-quality", "Cost against accuracy", _svg(cost_quality)),
    ]
    rows = [[_value(r, key) for key, _ in COLUMNS] for r in results]
    sections = [
        {
            "heading": "Recommendation",
            "body": Markup("<p><b>{}</b>: {}</p>").format(recommendation.arm or "none", recommendation.reason),
        },
        {
            "heading": "Arms",
            "body": _table(
                [h for _, h in COLUMNS], rows, [r.arm == recommendation.arm for r in results], css_class="chosen"
            ),
        },
        {"heading": "Plots", "body": Markup('<div class="plots">') + Markup("").join(plots) + Markup("</div>")},
    ]
    return _page(f"Pricing experiment {experiment}", sections)
