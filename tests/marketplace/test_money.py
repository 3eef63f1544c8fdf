"""Fees and balance arithmetic: integer cents, MTurk's fee rules, insufficient funds."""

from __future__ import annotations

import pytest

from broker.marketplace import fees
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.errors import MarketplaceError
from broker.marketplace.requirements import MASTERS
from broker.marketplace.state import Marketplace
from tests.marketplace.conftest import make_hit, make_hit_type, work


@pytest.mark.parametrize(
    ("reward", "assignments", "masters", "fee"),
    [
        (100, 1, False, 20),  # 20%
        (4, 1, False, 1),  # minimum one cent (0.8 rounds to 1 anyway)
        (2, 1, False, 1),  # 0.4 -> minimum 1
        (100, 10, False, 40),  # +20% at 10 assignments
        (100, 9, False, 20),
        (100, 1, True, 25),  # +5% Masters
        (100, 10, True, 45),
        (5, 1, False, 1),  # 1.0
        (13, 10, False, 5),  # 5.2 -> 5
        (15, 1, True, 4),  # 3.75 -> 4 (half up)
        (10, 1, True, 3),  # 2.5 -> 3 (half up, not banker's)
        (0, 1, False, 0),
    ],
)
def test_assignment_fee(reward, assignments, masters, fee):
    assert fees.assignment_fee_cents(reward, assignments, masters) == fee


@pytest.mark.parametrize(("bonus", "fee"), [(100, 20), (1, 1), (250, 50), (12, 2), (13, 3), (7, 1)])
def test_bonus_fee(bonus, fee):
    assert fees.bonus_fee_cents(bonus) == fee


def test_usd_parsing_and_formatting():
    assert fees.parse_usd_cents("5") == 500
    assert fees.parse_usd_cents("0.05") == 5
    assert fees.parse_usd_cents("1.5") == 150
    assert fees.format_usd(1005) == "10.05"
    with pytest.raises(ValueError):
        fees.parse_usd_cents("0.005")


def balance_cents(market) -> int:
    return fees.parse_usd_cents(market.get_account_balance({})["AvailableBalance"])


def test_approval_and_bonus_debit_reward_plus_fees_and_rejection_is_free(market):
    start = balance_cents(market)
    hit_id = make_hit(market, make_hit_type(market, Reward="0.15"), MaxAssignments=10)
    worker, approved = work(market, hit_id)
    _, rejected = work(market, hit_id)
    market.approve_assignment({"AssignmentId": approved})
    market.reject_assignment({"AssignmentId": rejected, "RequesterFeedback": "bad"})
    assert balance_cents(market) == start - (15 + 6)  # 40% of 15 = 6
    market.send_bonus({"WorkerId": worker, "BonusAmount": "0.50", "AssignmentId": approved, "Reason": "thanks"})
    assert balance_cents(market) == start - 21 - 60
    assert market.worker_dashboard(worker).earnings_cents == 15
    assert market.worker_dashboard(worker).bonus_cents == 50


def test_masters_requirement_adds_five_percent(market):
    start = balance_cents(market)
    hit_id = make_hit(
        market,
        make_hit_type(
            market, Reward="1.00", QualificationRequirements=[{"QualificationTypeId": MASTERS, "Comparator": "Exists"}]
        ),
    )
    worker = market.register_worker()
    market.set_worker_stats(worker, masters=True)
    _, assignment = work(market, hit_id, worker)
    market.approve_assignment({"AssignmentId": assignment})
    assert balance_cents(market) == start - 125


def test_insufficient_funds_fails_cleanly(tmp_path, clock):
    market = Marketplace(
        MarketplaceConfig(db_path=str(tmp_path / "poor.sqlite3"), initial_balance_cents=10), clock=clock
    )
    hit_id = make_hit(market, make_hit_type(market, Reward="0.10"))
    worker, assignment = work(market, hit_id)
    with pytest.raises(MarketplaceError) as error:
        market.approve_assignment({"AssignmentId": assignment})
    assert error.value.code == "AWS.MechanicalTurk.InsufficientFunds"
    assert market.get_assignment({"AssignmentId": assignment})["Assignment"]["AssignmentStatus"] == "Submitted"
    assert balance_cents(market) == 10
    with pytest.raises(MarketplaceError):
        market.send_bonus({"WorkerId": worker, "BonusAmount": "0.09", "AssignmentId": assignment, "Reason": "x"})
    assert market.list_bonus_payments({"AssignmentId": assignment})["BonusPayments"] == []
    market.close()


def test_bonus_idempotency_token(market):
    hit_id = make_hit(market, make_hit_type(market))
    worker, assignment = work(market, hit_id)
    params = {
        "WorkerId": worker,
        "BonusAmount": "0.20",
        "AssignmentId": assignment,
        "Reason": "x",
        "UniqueRequestToken": "b-1",
    }
    market.send_bonus(params)
    before = balance_cents(market)
    with pytest.raises(MarketplaceError) as error:
        market.send_bonus(params)
    assert "b-1" in error.value.message
    assert balance_cents(market) == before
    assert len(market.list_bonus_payments({"AssignmentId": assignment})["BonusPayments"]) == 1


def test_bonus_must_name_the_worker_of_the_assignment(market):
    hit_id = make_hit(market, make_hit_type(market))
    _, assignment = work(market, hit_id)
    with pytest.raises(MarketplaceError):
        market.send_bonus(
            {"WorkerId": market.register_worker(), "BonusAmount": "0.20", "AssignmentId": assignment, "Reason": "x"}
        )
