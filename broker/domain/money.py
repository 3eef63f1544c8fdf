"""Money as integer cents, and MTurk's commission (see ARCHITECTURE.md, "Money and time").

MTurk charges 20% of every reward and bonus (at least $0.01 each), a further 20% on HITs with
10 or more assignments and a further 5% when Masters are required, rounded half up to the cent.
Everything here is exact integer / Decimal arithmetic: a float never touches an amount.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

BASE_FEE_PERCENT = 20
LARGE_HIT_EXTRA_PERCENT = 20
LARGE_HIT_MIN_ASSIGNMENTS = 10
MASTERS_EXTRA_PERCENT = 5
MINIMUM_FEE_CENTS = 1

# botocore's CurrencyAmount pattern: digits, an optional point, at most two decimals, no symbol.
USD_PATTERN = re.compile(r"^[0-9]+(\.)?[0-9]{0,2}$")


class MoneyError(ValueError):
    """An amount that is not a valid USD figure."""


def usd_to_cents(amount: str | int | Decimal) -> int:
    """'0.05' -> 5, '5' -> 500, Decimal('1.2') -> 120. Floats are refused (they cannot hold cents)."""
    if isinstance(amount, bool) or isinstance(amount, float):
        raise MoneyError(f'give USD amounts as a string such as "0.05", not {amount!r}')
    text = str(amount).strip().removeprefix("$")
    if not USD_PATTERN.match(text):
        raise MoneyError(f"not a USD amount with at most two decimals: {amount!r}")
    try:
        cents = Decimal(text) * 100
    except InvalidOperation as error:  # pragma: no cover - the pattern already guards this
        raise MoneyError(f"not a USD amount: {amount!r}") from error
    return int(cents)


def cents_to_usd(cents: int) -> str:
    """5 -> '0.05', the string MTurk's Reward and BonusAmount fields take."""
    if cents < 0:
        return "-" + cents_to_usd(-cents)
    return f"{cents // 100}.{cents % 100:02d}"


def percent_of_cents(cents: int, percent: int) -> int:
    """`percent`% of `cents`, rounded half up to a whole cent."""
    return int((Decimal(cents) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fee_percent(max_assignments: int, masters: bool) -> int:
    """The commission rate of one assignment of a HIT with `max_assignments` assignments."""
    percent = BASE_FEE_PERCENT
    if max_assignments >= LARGE_HIT_MIN_ASSIGNMENTS:
        percent += LARGE_HIT_EXTRA_PERCENT
    if masters:
        percent += MASTERS_EXTRA_PERCENT
    return percent


def fee_cents(reward_cents: int, max_assignments: int = 1, masters: bool = False) -> int:
    """MTurk's fee for one approved assignment paying `reward_cents` (0 for a zero reward)."""
    if reward_cents <= 0:
        return 0
    return max(percent_of_cents(reward_cents, fee_percent(max_assignments, masters)), MINIMUM_FEE_CENTS)


def bonus_fee_cents(bonus_cents: int) -> int:
    """MTurk's fee on a bonus: 20%, at least one cent."""
    if bonus_cents <= 0:
        return 0
    return max(percent_of_cents(bonus_cents, BASE_FEE_PERCENT), MINIMUM_FEE_CENTS)


def assignment_cost_cents(reward_cents: int, max_assignments: int = 1, masters: bool = False) -> int:
    """What one approved assignment costs the requester: reward plus fee."""
    return reward_cents + fee_cents(reward_cents, max_assignments, masters)


def bonus_cost_cents(bonus_cents: int) -> int:
    """What one bonus costs the requester: bonus plus fee."""
    return bonus_cents + bonus_fee_cents(bonus_cents)


def hit_cost_cents(reward_cents: int, max_assignments: int, masters: bool = False) -> int:
    """Upper bound of one HIT's cost: every assignment approved."""
    return max_assignments * assignment_cost_cents(reward_cents, max_assignments, masters)


def job_cost_cents(objects: int, reward_cents: int, workers_per_object: int, masters: bool = False) -> int:
    """Upper bound of a job's cost: one HIT per object, `workers_per_object` assignments each."""
    return objects * hit_cost_cents(reward_cents, workers_per_object, masters)
