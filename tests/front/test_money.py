"""Fee arithmetic: 20%, minimum 1 cent, +20% at 10+ assignments, +5% Masters, half-up rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from broker.domain.money import (
    MoneyError,
    assignment_cost_cents,
    bonus_fee_cents,
    cents_to_usd,
    fee_cents,
    hit_cost_cents,
    job_cost_cents,
    usd_to_cents,
)


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("0.05", 5),
        ("5", 500),
        ("5.", 500),
        ("1.2", 120),
        ("12.34", 1234),
        ("$0.10", 10),
        (Decimal("0.07"), 7),
        (3, 300),
    ],
)
def test_usd_to_cents(text, cents):
    assert usd_to_cents(text) == cents


@pytest.mark.parametrize("bad", ["0.055", "-1", "1e2", "abc", "", "0,05", 0.05, True])
def test_usd_to_cents_refuses_what_mturk_refuses(bad):
    with pytest.raises(MoneyError):
        usd_to_cents(bad)


@pytest.mark.parametrize(("cents", "text"), [(5, "0.05"), (500, "5.00"), (1234, "12.34"), (0, "0.00"), (-7, "-0.07")])
def test_cents_to_usd(cents, text):
    assert cents_to_usd(cents) == text


def test_fee_is_twenty_percent():
    assert fee_cents(100) == 20
    assert fee_cents(50, 3) == 10


def test_fee_minimum_is_one_cent():
    assert fee_cents(1) == 1
    assert fee_cents(4) == 1  # 0.8c -> minimum 1c
    assert fee_cents(0) == 0


def test_fee_rounds_half_up():
    assert fee_cents(13) == 3  # 2.6 -> 3
    assert fee_cents(12) == 2  # 2.4 -> 2
    assert fee_cents(11, 1, masters=True) == 3  # 25% of 11 = 2.75 -> 3
    assert fee_cents(10, 1, masters=True) == 3  # 2.5 -> 3 (half up, not banker's 2)
    assert fee_cents(30, 1, masters=True) == 8  # 7.5 -> 8


def test_ten_or_more_assignments_add_twenty_percent():
    assert fee_cents(100, 9) == 20
    assert fee_cents(100, 10) == 40
    assert fee_cents(100, 10, masters=True) == 45


def test_masters_add_five_percent():
    assert fee_cents(100, 3, masters=True) == 25


def test_bonus_fee():
    assert bonus_fee_cents(100) == 20
    assert bonus_fee_cents(2) == 1
    assert bonus_fee_cents(0) == 0


def test_costs():
    assert assignment_cost_cents(5, 3) == 6
    assert hit_cost_cents(5, 3) == 18
    assert job_cost_cents(10, 5, 3) == 180
    assert job_cost_cents(2, 100, 3, masters=True) == 2 * 3 * 125
