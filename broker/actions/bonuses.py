"""Send a bonus exactly once, whoever asks (the quality stage's bonus rule, `broker worker bonus`).

The bonus row and its deterministic token are committed first, with the job's budget checked
in the same transaction; SendBonus carries the token, so a repeat after a crash is one bonus on
MTurk, and a token MTurk reports as already used settles the row instead of paying again.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from broker import mturk
from broker.domain.clock import utcnow
from broker.domain.money import bonus_fee_cents, cents_to_usd
from broker.domain.tokens import bonus_token
from broker.store import reading, record_event, transaction
from broker.store.engine import Engine
from broker.store.jobs import job_money, lock_job
from broker.store.tables import Bonus
from broker.store.workers import (
    add_bonus,
    assignment_by_marketplace_id,
    bonus_with_token,
    mark_bonus_sent,
    withdraw_unsent_bonus,
)

BONUS_EVENT = "bonus"


class WorkerActionError(Exception):
    """A worker action that cannot be done (unknown assignment, over budget, ...)."""


def send_bonus(
    engine: Engine,
    settings: Any,
    worker_id: str,
    assignment_id: str,
    amount_cents: int,
    reason: str,
    *,
    quick: bool = False,
) -> Bonus:
    """Record the bonus (token first), check the job's budget, then SendBonus.

    A call that never reached the marketplace (connection refused or timed out while connecting)
    withdraws the row, so an endpoint that is down leaves no bonus counted as committed; `quick`
    (a person waiting at the command line) gives up after one retry instead of ten.
    """
    if amount_cents <= 0:
        raise WorkerActionError("a bonus must be at least 1 cent")
    if not reason.strip():
        raise WorkerActionError("a bonus needs a reason (workers see it)")
    token = bonus_token(assignment_id, amount_cents, reason)
    with reading(engine) as session:
        assignment = assignment_by_marketplace_id(session, assignment_id)
    if assignment is None or assignment.worker_id != worker_id:
        raise WorkerActionError(f"no assignment {assignment_id} by worker {worker_id} in the broker DB")
    with transaction(engine) as session:
        job = lock_job(session, assignment.job_id)  # the budget read and the bonus row: one daemon at a time
        bonus = bonus_with_token(session, token)
        if bonus is None:
            fee = bonus_fee_cents(amount_cents)
            if job.budget_cents is not None:
                money = job_money(session, job.id)
                if money.spent_cents + money.committed_cents + amount_cents + fee > job.budget_cents:
                    raise WorkerActionError(f"bonus of {amount_cents}+{fee} cents would exceed job {job.name}'s budget")
            bonus = add_bonus(
                session,
                token=token,
                worker_id=worker_id,
                assignment_id=assignment_id,
                job_id=job.id,
                amount_cents=amount_cents,
                fee_cents=fee,
                reason=reason,
                at=utcnow(),
            )
    if bonus.sent:
        return bonus
    client = mturk.client_for(mturk.resolve_target(job.marketplace, settings), quick=quick)
    try:
        client.send_bonus(
            WorkerId=worker_id,
            BonusAmount=cents_to_usd(amount_cents),
            AssignmentId=assignment_id,
            Reason=reason,
            UniqueRequestToken=token,
        )
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        with transaction(engine) as session:
            withdraw_unsent_bonus(session, token)
        raise WorkerActionError(f"bonus not sent: {mturk.describe_error(exc)}") from exc
    with transaction(engine) as session:
        mark_bonus_sent(session, token)
        record_event(session, job.id, BONUS_EVENT, f"{amount_cents} cents to {worker_id} for {assignment_id}")
    bonus.sent = True
    return bonus


def token_already_used(error: ClientError) -> bool:
    """MTurk refuses a SendBonus whose UniqueRequestToken was already used: the bonus was paid."""
    text = f"{mturk.error_code(error)} {mturk.error_message(error)}"
    return "BonusAlreadyExists" in text or "UniqueRequestToken" in text


def settle_paid_bonus(
    engine: Engine, job_id: int, worker_id: str, assignment_id: str, amount_cents: int, reason: str
) -> None:
    """MTurk had already paid this bonus (its result was lost in a crash): record it as sent, never repay."""
    with transaction(engine) as session:
        if mark_bonus_sent(session, bonus_token(assignment_id, amount_cents, reason)):
            record_event(
                session,
                job_id,
                BONUS_EVENT,
                f"{amount_cents} cents to {worker_id} for {assignment_id} (settled: MTurk had already paid this token)",
            )
