"""The one boto3 `mturk` client per marketplace, with retries actually passed to it.

Endpoints: "production", "sandbox", "local" (the embedded marketplace, from settings) or a URL.
Every HTTP request a client sends first waits for its turn at the call gate, when one is installed
(`use_call_gate`: the broker DB's rate limit per requester account, shared by every daemon, and its
call counters); each attempt's outcome is counted there, throttled ones apart. Also: MTurk error
helpers (HitAlreadyExists, already-approved) and a call counter used by the pipeline benchmark.
"""

from __future__ import annotations

import platform
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import boto3
import botocore
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.retries.standard import ThrottledRetryableChecker
from botocore.utils import parse_timestamp

from broker import __version__
from broker.settings import load_settings

PRODUCTION_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
LOCAL_DEFAULT_ENDPOINT = "http://127.0.0.1:8765"
LOCAL_ACCESS_KEY = "AKIALOCALMARKETPLACE"
LOCAL_SECRET_KEY = "local-marketplace-secret"


def _user_agent() -> str:
    return f"crowd-broker/{__version__} Botocore/{botocore.__version__} Python/{platform.python_version()}"


# Standard mode: throttling and 5xx retried with exponential backoff and jitter (at most 20 s a
# wait). Not adaptive mode: its client-side bucket is per process and halves the process's rate on
# every throttled call, so a few throttles cut a daemon to under a call a second (measured: 7
# CreateHIT calls in 30 s under 20% injected throttling); the broker's own limit, shared by every
# daemon through the DB (use_call_gate), keeps the account under MTurk's limit instead.
RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 10},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=10,
    # A fixed User-Agent: botocore otherwise rebuilds and sanitises its component string on every
    # request (~0.3 ms of CPU per call, a sixth of the broker's budget per assignment).
    user_agent=_user_agent(),
)

_HIT_ID = re.compile(r"\b[0-9A-Z]{20,40}\b")


@dataclass(frozen=True)
class MarketplaceTarget:
    """Where a job's HITs go and who pays: resolved from the spec's `marketplace` + settings."""

    name: str
    endpoint_url: str | None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    profile: str | None = None
    worker_site_url: str | None = None  # only for the local marketplace (serves /local-files/)

    @property
    def is_local(self) -> bool:
        return self.worker_site_url is not None

    @property
    def account(self) -> str:
        """The requester account MTurk's rate limit applies to: marketplace and key (or profile)."""
        return f"{self.name}:{self.access_key_id or self.profile or 'default'}"


def resolve_target(marketplace: str, settings: Any = None) -> MarketplaceTarget:
    """Map a spec's `marketplace` ("local", "sandbox", "production" or a URL) to endpoint + credentials."""
    if settings is None:
        settings = load_settings()
    endpoint = settings.endpoint_for(marketplace)
    if marketplace in ("production", "sandbox"):
        return MarketplaceTarget(marketplace, endpoint, "us-east-1", profile=settings.aws_profile)
    # "local", or an explicit URL: the embedded marketplace (or a private one speaking its protocol)
    worker_site = settings.worker_site_url if marketplace == "local" else endpoint
    return MarketplaceTarget(
        name=marketplace,
        endpoint_url=endpoint,
        region=settings.aws_region,
        access_key_id=settings.local_access_key_id,
        secret_access_key=_secret(settings.local_secret_access_key),
        worker_site_url=worker_site,
    )


def _secret(value: Any) -> str:
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else str(value)


class CallGate(Protocol):
    """What every requester API request passes through (broker.store.ratelimit implements it)."""

    def wait_turn(self, target: MarketplaceTarget) -> None:
        """Block until the account's rate limit lets one more request go."""

    def record(self, target: MarketplaceTarget, job_id: int, operation: str, *, throttled: bool) -> None:
        """Count one attempt of `operation` for job `job_id` (0: no job), throttled or not."""

    def flush(self) -> None:
        """Store the counts gathered so far."""


_GATE: list[CallGate | None] = [None]
_JOB: ContextVar[int] = ContextVar("mturk_calls_job", default=0)
THROTTLING_CODES = frozenset(ThrottledRetryableChecker._THROTTLED_ERROR_CODES)  # what botocore backs off on


def use_call_gate(gate: CallGate | None) -> None:
    """Install (or, with None, remove) the gate every client's requests pass through."""
    _GATE[0] = gate


def flush_call_counts() -> None:
    gate = _GATE[0]
    if gate is not None:
        gate.flush()


@contextmanager
def calls_for_job(job_id: int) -> Iterator[None]:
    """Count the calls made inside this block (in this thread) against job `job_id`."""
    token = _JOB.set(int(job_id))
    try:
        yield
    finally:
        _JOB.reset(token)


def _attach_gate(client: BaseClient, target: MarketplaceTarget) -> None:
    """before-send waits for the rate limit (once per HTTP attempt, retries included); needs-retry
    sees each attempt's outcome, which is counted."""

    def before_send(**_: Any) -> None:
        gate = _GATE[0]
        if gate is not None:
            gate.wait_turn(target)

    def after_attempt(response: Any = None, operation: Any = None, **_: Any) -> None:
        gate = _GATE[0]
        if gate is None or operation is None:
            return
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        code = (parsed or {}).get("Error", {}).get("Code", "")
        gate.record(target, _JOB.get(), operation.name, throttled=code in THROTTLING_CODES)

    client.meta.events.register("before-send.mturk", before_send)
    client.meta.events.register_first("needs-retry.mturk", after_attempt)


_CLIENTS: dict[tuple[MarketplaceTarget, bool], BaseClient] = {}
# A command a person waits on (submit's check, a bonus): fail in seconds, not after ten retries.
QUICK_CONFIG = RETRY_CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5))


def parse_utc_timestamp(value: Any) -> datetime:
    """MTurk's timestamps (epoch seconds in its JSON) as aware UTC datetimes.

    botocore's default parser attaches dateutil's tzlocal(), whose conversion costs ~10 us per
    timestamp (12 per ListAssignmentsForHIT page of 3) and yields local-zone datetimes; the
    broker's clock is UTC. Anything that is not a number goes to botocore's own parser.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        parsed = parse_timestamp(value)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def client_for(target: MarketplaceTarget, *, quick: bool = False) -> BaseClient:
    """One cached client per marketplace, built with RETRY_CONFIG (QUICK_CONFIG) and UTC timestamps."""
    client = _CLIENTS.get((target, quick))
    if client is None:
        core = botocore.session.get_session()  # this client's own: no other client is affected
        core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_utc_timestamp)
        session = boto3.session.Session(botocore_session=core, profile_name=target.profile)
        client = session.client(
            "mturk",
            endpoint_url=target.endpoint_url,
            region_name=target.region,
            aws_access_key_id=target.access_key_id,
            aws_secret_access_key=target.secret_access_key,
            config=QUICK_CONFIG if quick else RETRY_CONFIG,
        )
        _attach_gate(client, target)
        _CLIENTS[(target, quick)] = client
    return client


def forget_clients() -> None:
    _CLIENTS.clear()


def error_code(error: ClientError) -> str:
    """MTurk puts its TurkErrorCode in the body; botocore exposes it as Error.Code or TurkErrorCode."""
    body = error.response
    turk = body.get("TurkErrorCode") or body.get("Error", {}).get("TurkErrorCode")
    return str(turk or body.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "") or error.response.get("Message", ""))


MAX_ERROR_LINE = 300


def describe_error(error: BaseException) -> str:
    """One line a requester can act on, for a failed marketplace call or any other stage error."""
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return (
            "no AWS credentials for MTurk: set aws_profile in the settings, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or use marketplace: local)"
        )
    if isinstance(error, ProfileNotFound):
        return f"{error} (aws_profile in the settings names a profile missing from ~/.aws)"
    if isinstance(error, EndpointConnectionError):
        endpoint = error.kwargs.get("endpoint_url", "the endpoint")
        return f"cannot reach the marketplace at {endpoint}: is it running (`broker marketplace serve`)?"
    if isinstance(error, ClientError):
        return f"{error_code(error)}: {error_message(error)}"[:MAX_ERROR_LINE]
    text = " ".join(str(error).split())
    if isinstance(error, BotoCoreError):
        return text[:MAX_ERROR_LINE]
    return f"{type(error).__name__}: {text}"[:MAX_ERROR_LINE] if text else type(error).__name__


def check_marketplace(target: MarketplaceTarget, client: BaseClient | None = None) -> int:
    """GetAccountBalance on the marketplace: the available balance in cents. Raises what boto3 raises
    (missing credentials, an unreachable endpoint, a refused key); `describe_error` words it."""
    client = client or client_for(target, quick=True)
    balance = client.get_account_balance()["AvailableBalance"]
    whole, _, fraction = str(balance).partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])


def is_hit_already_exists(error: ClientError) -> bool:
    return (
        "HitAlreadyExists" in error_code(error)
        or "HitAlreadyExists" in error_message(error)
        or "HitAlreadyExists" in str(error)
    )


def hit_id_from_error(error: ClientError) -> str | None:
    """MTurk's HitAlreadyExists names the existing HIT: pick its HITId out of the error."""
    for key in ("HITId", "HitId"):
        value = error.response.get(key) or error.response.get("Error", {}).get(key)
        if value:
            return str(value)
    labelled = re.search(r"HITId:?\s*([0-9A-Z]{10,64})", error_message(error))
    if labelled:
        return labelled.group(1)
    match = _HIT_ID.search(error_message(error))
    return match.group(0) if match else None


@dataclass
class CallCounter:
    """Counts requester API calls by operation (botocore event hook), for benchmarks."""

    calls: Counter = field(default_factory=Counter)

    def attach(self, client: BaseClient) -> CallCounter:
        client.meta.events.register("before-call.mturk", self._count)
        return self

    def _count(self, model: Any = None, **_: Any) -> None:
        self.calls[model.name if model is not None else "?"] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())
