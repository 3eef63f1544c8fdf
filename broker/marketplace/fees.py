"""MTurk's commission: 20% of reward and bonus (minimum $0.01), +20% for HITs with 10 or more
assignments, +5% for Masters; rounded half up to the cent; nothing on rejected work.

broker/money.py holds the same rules on the requester side on purpose: the marketplace stands
alone (imports nothing from broker/), as MTurk's own books are kept apart from the requester's.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

BASE_FEE_PERCENT = 20
LARGE_HIT_EXTRA_PERCENT = 20
LARGE_HIT_MIN_ASSIGNMENTS = 10
MASTERS_EXTRA_PERCENT = 5
MINIMUM_FEE_CENTS = 1


def percent_of_cents(cents: int, percent: int) -> int:
    """`percent`% of `cents`, rounded half up to a whole cent (exact integer arithmetic)."""
    return int((Decimal(cents) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def assignment_fee_percent(max_assignments: int, masters: bool) -> int:
    percent = BASE_FEE_PERCENT
    if max_assignments >= LARGE_HIT_MIN_ASSIGNMENTS:
        percent += LARGE_HIT_EXTRA_PERCENT
    if masters:
        percent += MASTERS_EXTRA_PERCENT
    return percent


def assignment_fee_cents(reward_cents: int, max_assignments: int, masters: bool) -> int:
    """Fee charged when one assignment of a HIT is approved."""
    if reward_cents <= 0:
        return 0
    fee = percent_of_cents(reward_cents, assignment_fee_percent(max_assignments, masters))
    return max(fee, MINIMUM_FEE_CENTS)


def bonus_fee_cents(bonus_cents: int) -> int:
    """Fee charged on a bonus: 20%, minimum one cent."""
    if bonus_cents <= 0:
        return 0
    return max(percent_of_cents(bonus_cents, BASE_FEE_PERCENT), MINIMUM_FEE_CENTS)


def parse_usd_cents(text: str) -> int:
    """'0.05' -> 5, '5' -> 500. The caller has checked MTurk's pattern ^[0-9]+(\\.)?[0-9]{0,2}$."""
    try:
        value = Decimal(text)
    except InvalidOperation as error:
        raise ValueError(f"not a USD amount: {text!r}") from error
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"more than two decimals: {text!r}")
    return int(cents)


def format_usd(cents: int) -> str:
    """5 -> '0.05', as MTurk returns amounts."""
    return f"{cents // 100}.{cents % 100:02d}"
