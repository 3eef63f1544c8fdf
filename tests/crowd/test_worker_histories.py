"""Simulated workers with work histories (MTurk's approved-count and approval-rate qualifications), and
a crowd that says which requirement kept it from HITs it found."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from broker.marketplace.cli import app as marketplace_app
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.crowd import models
from broker.marketplace.crowd.pages import parse_page
from broker.marketplace.crowd.runner import CrowdStats, run_crowd
from broker.marketplace.crowd.simulation import SimulatedCrowd
from broker.marketplace.history import parse_history
from broker.marketplace.requirements import NUMBER_APPROVED, PERCENT_APPROVED
from broker.marketplace.server import start_in_thread

from .crowd_helpers import TIME_SCALE, contract_page, html_question

LABELS = ["cat", "dog"]
HISTORY = "approved=1000:1.5,approval=95-100"


def test_history_distribution_draws_are_fixed_by_seed_and_worker():
    history = parse_history(HISTORY)
    draws = [history.draw(7, f"AWORKER{i}") for i in range(2000)]
    assert draws == [history.draw(7, f"AWORKER{i}") for i in range(2000)]
    assert draws != [history.draw(8, f"AWORKER{i}") for i in range(2000)]
    approved = np.array([a for a, _ in draws])
    submitted = np.array([s for _, s in draws])
    assert np.median(approved) == pytest.approx(1000, rel=0.15)
    assert np.mean(approved < 100) == pytest.approx(0.062, abs=0.02)  # Phi(ln(0.1) / 1.5)
    rates = approved[submitted > 0] / submitted[submitted > 0]
    assert rates.min() >= 0.95 and rates.max() <= 1.0  # rounding never takes a worker under the range
    assert parse_history("approved=50").draw(1, "AX")[0] > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("approval=95-100", "give approved=MEDIAN"),
        ("approved=many", "approved median 'many' is not a number"),
        ("approved=100,approval=99-90", "0 <= LOW <= HIGH <= 100"),
        ("approved=100,speed=3", "'speed=3' is not approved=MEDIAN"),
        ("approved=-5", "must be positive"),
    ],
)
def test_history_distribution_errors_name_the_part(text: str, message: str):
    with pytest.raises(ValueError, match=message):
        parse_history(text)
    out = CliRunner().invoke(
        marketplace_app, ["serve", "--port", "0", "--worker-history", text], env={"COLUMNS": "300"}
    )
    assert out.exit_code == 2 and message.split("'")[0] in out.output


def _publish(mturk, n: int, approved_at_least: int) -> list[str]:
    hit_type = mturk.create_hit_type(
        Title="Classify",
        Description="Label it.",
        Reward="0.05",
        AssignmentDurationInSeconds=3600,
        AutoApprovalDelayInSeconds=86400,
        QualificationRequirements=[
            {"QualificationTypeId": NUMBER_APPROVED, "Comparator": "GreaterThanOrEqualTo", "IntegerValues": [100]},
            {
                "QualificationTypeId": PERCENT_APPROVED,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [95],
            },
        ][: 2 if approved_at_least == 100 else 0]
        or [
            {
                "QualificationTypeId": NUMBER_APPROVED,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [approved_at_least],
            }
        ],
    )["HITTypeId"]
    pages = [contract_page("crowd-image-classifier", LABELS, {"source-ref": f"s3://b/{i}.jpg"}) for i in range(n)]
    return [
        mturk.create_hit_with_hit_type(
            HITTypeId=hit_type, MaxAssignments=2, LifetimeInSeconds=86400, Question=html_question(page)
        )["HIT"]["HITId"]
        for page in pages
    ]


def _simulated(history: str | None, approved_at_least: int) -> SimulatedCrowd:
    config = MarketplaceConfig(db_path=":memory:", simulated_clock=True, id_seed=5, worker_history=history)
    with start_in_thread(config) as market:
        _publish(market.client(), 4, approved_at_least)
        crowd = SimulatedCrowd(market.marketplace, specs=models.worker_specs(10, 5, "good=1"), seed=5)
        crowd.run_until(market.marketplace.clock.now() + timedelta(hours=6))
    return crowd


def test_simulated_crowd_with_histories_meets_approved_count_and_rate():
    with_history = _simulated(HISTORY, 100)
    assert with_history.stats.assignments_submitted == 8
    without = _simulated(None, 100)  # new accounts, as on MTurk: nobody has 100 approved HITs
    assert without.stats.assignments_submitted == 0
    [reason] = without.stats.no_work_reasons()
    assert reason.startswith("0 of 4 HITs of 'Classify' were taken: they require Worker_NumberHITsApproved >= 100")
    assert "which no simulated worker has" in reason and "--worker-history" in reason
    assert with_history.stats.no_work_reasons() == []


def test_no_work_reasons_count_the_workers_who_lack_each_requirement():
    stats = CrowdStats(worker_models={f"A{i}": "good" for i in range(10)})
    for i in range(3):  # the other 7 may take it, yet did not (e.g. the pay is below their wage)
        stats.note_unqualified("T", "Tag", 5, f"A{i}", ("Worker_Locale In US",))
    stats.note_unqualified("T", "Tag", 4, "A0", ("Worker_Locale In US", "Masters Exists"))
    assert stats.no_work_reasons() == [
        "0 of 4 HITs of 'Tag' were taken: they require Worker_Locale In US, which 3 of the 10 simulated workers "
        "lack; Masters Exists, which 1 of the 10 simulated workers lack"
    ]
    stats.per_group["T"] = 1  # someone took one: nothing to explain
    assert stats.no_work_reasons() == []


def test_group_list_page_names_the_unmet_requirements():
    html = """<table><tr class="hit-group" data-hit-type-id="T1" data-reward-cents="5" data-duration-seconds="60"
    data-hits-available="4" data-qualified="false" data-blocked="false"><td><strong class="title">Classify
    it</strong></td><td><ul class="requirements"><li class="good">Worker_Locale In US</li>
    <li class="bad">Worker_NumberHITsApproved GreaterThanOrEqualTo 500</li></ul></td></tr></table>"""
    [group] = parse_page(html).groups
    assert group.title == "Classify it" and not group.qualified
    assert group.unmet == ("Worker_NumberHITsApproved GreaterThanOrEqualTo 500",)


def test_threaded_crowd_says_why_it_found_no_work():
    with start_in_thread(MarketplaceConfig(db_path=":memory:", time_scale=TIME_SCALE)) as market:
        _publish(market.client(), 4, 500)
        stats = run_crowd(
            market.worker_site_url, n_workers=3, seed=2, mix="good=1", time_scale=TIME_SCALE, idle_seconds=0.5
        )
    assert stats.assignments_submitted == 0
    assert stats.no_work_reasons() == [
        "0 of 4 HITs of 'Classify' were taken: they require Worker_NumberHITsApproved >= 500, which no simulated "
        "worker has; give simulated workers work histories with `broker marketplace serve --worker-history "
        '"approved=1000:1.5,approval=95-100"`'
    ]
