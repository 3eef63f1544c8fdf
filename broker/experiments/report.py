"""A pricing experiment's analysis: rich table, CSV and a self-contained HTML page with plots.

Every estimate is shown with its 95% interval; the completion curves are Kaplan-Meier with their
bands (unfinished objects censored, marked); the accuracy axis starts at 0, so a gap between arms
looks as large as it is.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup
from rich.table import Table

from broker.experiments.analysis import ArmResult, ExperimentAnalysis
from broker.reports.html import _figure, _page, _svg, _table

COLUMNS = (
    ("arm", "arm"),
    ("reward", "reward x answers"),
    ("completed", "done"),
    ("median_completion_seconds", "median s"),
    ("seconds_to_all", "all s"),
    ("objects_per_hour", "obj/h"),
    ("accuracy", "accuracy"),
    ("cost_per_object_cents", "cents/object"),
    ("cost_per_correct_cents", "cents/correct"),
    ("median_hourly_wage_cents", "$/h (median)"),
)


def _number(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    if key == "accuracy":
        return f"{value:.1%}"
    if key in ("cost_per_object_cents", "cost_per_correct_cents"):
        return f"{value:.2f}"
    if key.endswith("_cents"):
        return f"${value / 100:.2f}"
    if key.endswith("seconds") or key == "seconds_to_all":
        return f"{value:.0f}"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def _value(result: ArmResult, key: str, separator: str = " ") -> str:
    """A table cell: the estimate, then its interval where it has one."""
    if key == "reward":
        return f"${result.reward_cents / 100:.2f} x{result.workers_per_object}"
    if key == "completed":
        return f"{result.completed}/{result.objects}"
    text = _number(key, getattr(result, key))
    if key == "accuracy" and result.accuracy_source == "confidence" and result.accuracy is not None:
        text += " (conf.)"
    interval = getattr(result, f"{key}_ci", None)
    if interval:
        low, high = (_number(key, v) if v is not None else "?" for v in interval)
        text += f"{separator}[{low}, {high}]"
    return text


def allocation_statement(analysis: ExperimentAnalysis) -> str:
    """One line: how the objects went to the arms, how many each got (and, adaptive, the weighted accuracies)."""
    record = analysis.extra.get("allocation") or {
        "method": "fixed",
        "objects": {r.arm: r.objects for r in analysis.arms},
    }
    counts = ", ".join(f"{arm} {n}" for arm, n in record["objects"].items())
    if record["method"] != "thompson":
        return f"allocation: fixed (objects dealt evenly before posting): {counts}"
    weighted = ", ".join(
        f"{r.arm} {r.accuracy_weighted:.1%} [{r.accuracy_weighted_ci[0]:.1%}, {r.accuracy_weighted_ci[1]:.1%}]"
        for r in analysis.arms
        if r.accuracy_weighted is not None and r.accuracy_weighted_ci and None not in r.accuracy_weighted_ci
    )
    return (
        f"allocation: thompson (warm-up {record['warmup_objects']} per arm, then {len(record['rounds']) - 1} rounds "
        f"of up to {record['batch_objects']}, each arm at least {record['min_share']:.0%} of a round): {counts}"
        + (f"; accuracy weighted by 1 / assignment probability: {weighted}" if weighted else "")
    )


def results_table(analysis: ExperimentAnalysis) -> Table:
    """The arms, one row each; an interval goes under its estimate so the table fits a terminal."""
    recommendation = analysis.recommendation
    table = Table(
        title=f"pricing experiment {analysis.experiment} (95% intervals in brackets)",
        caption="\n".join(
            [
                f"recommended: {recommendation.arm or 'none'} - {recommendation.reason}",
                analysis.power.statement,
                allocation_statement(analysis),
            ]
            + ([model["reward_needed"]["statement"]] if (model := analysis.extra.get("completion_model")) else [])
        ),
    )
    for _, header in COLUMNS:
        table.add_column(header, justify="left" if header == "arm" else "right")
    for result in analysis.arms:
        table.add_row(
            *(_value(result, key, "\n") for key, _ in COLUMNS),
            style="bold green" if result.arm == recommendation.arm else None,
        )
    return table


def write_results_csv(analysis: ExperimentAnalysis, path: Path) -> None:
    """One row per arm; an interval is two columns, `<name>_low` and `<name>_high`."""
    rows = []
    for result in analysis.arms:
        row: dict[str, Any] = {}
        for key, value in result.as_dict().items():
            if key.endswith("_ci"):
                low, high = value or (None, None)
                row[f"{key[:-3]}_low"], row[f"{key[:-3]}_high"] = low, high
            else:
                row[key] = value
        rows.append(row)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["arm"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


# --------------------------------------------------------------------------------------------- HTML


def _errors(values: list[float | None], intervals: list[list[float | None] | None]) -> np.ndarray:
    """2 x n error-bar lengths below and above each value (0 where there is no interval)."""
    lows = [v - i[0] if v is not None and i and i[0] is not None else 0.0 for v, i in zip(values, intervals)]
    highs = [i[1] - v if v is not None and i and i[1] is not None else 0.0 for v, i in zip(values, intervals)]
    return np.array([lows, highs])


def _accuracy_plot(analysis: ExperimentAnalysis) -> Any:
    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        arms = analysis.arms
        values = [r.accuracy if r.accuracy is not None else 0.0 for r in arms]
        x = np.arange(len(arms))
        colors = ["tab:green" if r.arm == analysis.recommendation.arm else "tab:blue" for r in arms]
        ax.bar(x, values, color=colors, alpha=0.8, zorder=2)
        ax.errorbar(x, values, yerr=_errors(values, [r.accuracy_ci for r in arms]), fmt="none", c="black", capsize=4)
        ax.axhline(analysis.quality_target, color="red", linestyle="--", linewidth=1, label="quality target", zorder=1)
        ax.set_ylim(0, 1)  # from 0: the bars' heights compare as the accuracies do
        ax.set_xticks(x, [f"{r.arm}\n${r.reward_cents / 100:.2f}" for r in arms])
        ax.set_ylabel("accuracy (95% Wilson interval)")
        ax.legend(fontsize=7, loc="lower right")

    return draw


def _cost_plot(analysis: ExperimentAnalysis) -> Any:
    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        arms = analysis.arms
        values = [r.cost_per_correct_cents / 100 if r.cost_per_correct_cents is not None else 0.0 for r in arms]
        intervals = [
            [v / 100 for v in r.cost_per_correct_cents_ci] if r.cost_per_correct_cents_ci else None for r in arms
        ]
        x = np.arange(len(arms))
        ax.bar(x, values, color="tab:purple", alpha=0.7, zorder=2)
        ax.errorbar(x, values, yerr=_errors(values, intervals), fmt="none", c="black", capsize=4)
        ax.set_ylim(0, max(values + [1e-9]) * 1.25)
        ax.set_xticks(x, [r.arm for r in arms])
        ax.set_ylabel("USD per correct label (95% bootstrap)")

    return draw


def _survival_plot(analysis: ExperimentAnalysis) -> Any:
    def draw(figure: Any) -> None:
        ax = figure.add_subplot()
        right = 0.0
        for index, result in enumerate(analysis.arms):
            curve = analysis.curves[result.arm]
            if not curve.times.size:
                continue
            color = f"C{index}"
            times = np.concatenate([[0.0], curve.times])
            done = 1.0 - np.concatenate([[1.0], curve.unfinished])
            ax.step(times, done, where="post", color=color, label=f"{result.arm} (${result.reward_cents / 100:.2f})")
            low, high = 1.0 - np.concatenate([[1.0], curve.high]), 1.0 - np.concatenate([[1.0], curve.low])
            ax.fill_between(times, low, high, step="post", color=color, alpha=0.2, linewidth=0)
            if curve.censored:
                ax.plot(times[-1], done[-1], marker="|", markersize=12, color=color)
            right = max(right, float(times[-1]))
        deadline = analysis.deadline_seconds
        if deadline <= right * 3:  # a deadline far beyond the data would squash the curves: say so instead
            ax.axvline(deadline, color="red", linestyle="--", linewidth=1, label="deadline")
            right = max(right, deadline)
        else:
            ax.set_title(f"deadline {deadline:.0f} s, beyond the right edge", fontsize=8)
        ax.set_xlim(0, right * 1.05 if right else 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("seconds after posting")
        ax.set_ylabel("share of objects done (Kaplan-Meier)")
        ax.legend(fontsize=7, loc="lower right")

    return draw


def _comparison_rows(analysis: ExperimentAnalysis) -> list[list[str]]:
    def points(value: float | None, interval: list[float | None] | None) -> str:
        if value is None:
            return "-"
        text = f"{value * 100:+.1f}"
        return text + (
            f" [{interval[0] * 100:+.1f}, {interval[1] * 100:+.1f}]" if interval and None not in interval else ""
        )

    def cents(value: float | None, interval: list[float | None] | None) -> str:
        if value is None:
            return "-"
        text = f"{value:+.2f}"
        return text + (f" [{interval[0]:+.2f}, {interval[1]:+.2f}]" if interval and None not in interval else "")

    def p(value: float | None) -> str:
        return "-" if value is None else ("<0.0001" if value < 1e-4 else f"{value:.4f}")

    return [
        [
            f"{c.arm} - {c.reference}",
            points(c.accuracy_difference, c.accuracy_difference_ci),
            p(c.accuracy_p_value),
            cents(c.cost_per_correct_difference_cents, c.cost_per_correct_difference_cents_ci),
            p(c.completion_p_value),
        ]
        for c in analysis.comparisons
    ]


def _model_section(model: dict[str, Any] | None) -> Markup:
    if model is None:
        return Markup("<p>No model: the arms must differ in reward and have answers.</p>")
    rows = [
        [
            c["arm"],
            f"{c['reward_cents']}",
            f"{c['predicted_seconds']:.0f} [{c['predicted_seconds_ci'][0]:.0f}, {c['predicted_seconds_ci'][1]:.0f}]",
            "-" if c["observed_seconds"] is None else f"{c['observed_seconds']:.0f}",
        ]
        for c in model["arms"]
    ]
    return Markup("<p>{}: slope {} [{}, {}], dispersion {}.</p><p><b>{}</b>.</p>").format(
        model["form"],
        model["slope"],
        *model["slope_ci"],
        model["dispersion"],
        model["reward_needed"]["statement"],
    ) + _table(["arm", "reward (cents)", "predicted s from first pickup (95%)", "observed s"], rows)


def _allocation_section(analysis: ExperimentAnalysis) -> Markup:
    """The allocation in a sentence; adaptive: each round's objects and shares per arm."""
    body = Markup("<p>{}</p>").format(allocation_statement(analysis))
    record = analysis.extra.get("allocation") or {}
    if record.get("method") != "thompson":
        return body
    arms = [r.arm for r in analysis.arms]

    def cell(n: int, share: float | None) -> str:
        return f"{n} ({share:.0%})" if share is not None else str(n)

    rows = [
        [str(r["round"]) + (" (warm-up)" if r["round"] == 0 else "")]
        + [cell(r["objects"][a], r["shares"][a]) for a in arms]
        for r in record["rounds"]
    ]
    return (
        body
        + _table(["round", *(f"{a}: objects (share)" for a in arms)], rows)
        + Markup(
            "<p>Adaptively collected data bias plain estimates: an arm that did badly early got fewer objects "
            "and keeps its low estimate. The weighted accuracy counts each object 1 / the probability it was "
            "assigned to its arm (Hajek's inverse-propensity estimator; interval: Wilson on the effective "
            "number of objects), which undoes that; the plain accuracy above is conditional on the allocation.</p>"
        )
    )


def results_html(analysis: ExperimentAnalysis) -> str:
    recommendation = analysis.recommendation
    plots = [
        _figure(
            "completion",
            "Objects done over time: Kaplan-Meier with 95% band (| = unfinished, censored)",
            _svg(_survival_plot(analysis)),
        ),
        _figure("accuracy", "Accuracy with 95% Wilson intervals (axis from 0)", _svg(_accuracy_plot(analysis))),
        _figure("cost", "Cost per correct label with 95% bootstrap intervals", _svg(_cost_plot(analysis))),
    ]
    rows = [[_value(r, key) for key, _ in COLUMNS] for r in analysis.arms]
    comparison_headers = ["arms", "accuracy (points)", "Fisher p", "cents per correct", "log-rank p"]
    sections = [
        {
            "heading": "Recommendation",
            "body": Markup("<p><b>{}</b> (confidence {:.0%}): {}</p><p>{}</p>").format(
                recommendation.arm or "none", recommendation.confidence, recommendation.reason, analysis.power.statement
            ),
        },
        {
            "heading": "Arms (95% intervals in brackets)",
            "body": _table(
                [h for _, h in COLUMNS], rows, [r.arm == recommendation.arm for r in analysis.arms], css_class="chosen"
            ),
        },
        {
            "heading": "Differences between arms (95% intervals)",
            "body": _table(comparison_headers, _comparison_rows(analysis))
            + Markup(
                "<p>Accuracy: Newcombe's hybrid score interval, Fisher's exact test. Cost: percentile bootstrap "
                "over objects. Completion: log-rank test. p-values are not adjusted for the number of "
                "comparisons.</p>"
            ),
        },
        {"heading": "Allocation", "body": _allocation_section(analysis)},
        {"heading": "Plots", "body": Markup('<div class="plots">') + Markup("").join(plots) + Markup("</div>")},
        {"heading": "Completion-time model", "body": _model_section(analysis.extra.get("completion_model"))},
        {"heading": "Design", "body": Markup("").join(Markup("<p>{}</p>").format(n) for n in analysis.notes)},
    ]
    return _page(f"Pricing experiment {analysis.experiment}", sections)
