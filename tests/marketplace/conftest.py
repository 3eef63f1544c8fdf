"""Fixtures of the marketplace tests: an in-process Marketplace with a test clock, a server, moto SQS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from broker.marketplace.clock import Clock
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.server import RunningMarketplace, start_in_thread
from broker.marketplace.state import Event, Marketplace, Notifier

HTML_QUESTION = (
    '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd">'
    "<HTMLContent><![CDATA[<!DOCTYPE html><html><body><form name='mturk_form' method='post' "
    "action='https://www.mturk.com/mturk/externalSubmit'><input type='hidden' name='assignmentId'>"
    "<input name='label'></form></body></html>]]></HTMLContent><FrameHeight>400</FrameHeight></HTMLQuestion>"
)
ANSWER_XML = (
    '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd">'
    "<Answer><QuestionIdentifier>label</QuestionIdentifier><FreeText>cat</FreeText></Answer></QuestionFormAnswers>"
)
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class RecordingNotifier(Notifier):
    """Keeps delivered events in memory (state-level tests)."""

    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], Event]] = []

    def deliver(self, specification: dict[str, Any], events: list[Event], test: bool = False) -> None:
        self.sent.extend((specification, event) for event in events)

    def types(self) -> list[str]:
        return [event.event_type for _, event in self.sent]


class FrozenClock(Clock):
    """A clock that only moves when a test advances it."""

    def __init__(self, start: datetime = START) -> None:
        super().__init__(speed=1.0, start=start)
        self._frozen = start

    def now(self) -> datetime:
        with self._lock:
            return self._frozen + self._offset


@pytest.fixture()
def config(tmp_path: Path) -> MarketplaceConfig:
    return MarketplaceConfig(db_path=str(tmp_path / "marketplace.sqlite3"))


@pytest.fixture()
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture()
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture()
def market(config: MarketplaceConfig, clock: FrozenClock, notifier: RecordingNotifier) -> Iterator[Marketplace]:
    marketplace = Marketplace(config, clock=clock, notifier=notifier)
    yield marketplace
    marketplace.close()


def make_hit_type(market: Marketplace, **overrides: Any) -> str:
    params = {
        "Title": "Label an image",
        "Description": "Pick the animal",
        "Reward": "0.10",
        "AssignmentDurationInSeconds": 600,
    }
    params.update(overrides)
    return market.create_hit_type(params)["HITTypeId"]


def make_hit(market: Marketplace, hit_type_id: str, **overrides: Any) -> str:
    params = {"HITTypeId": hit_type_id, "MaxAssignments": 1, "LifetimeInSeconds": 3600, "Question": HTML_QUESTION}
    params.update(overrides)
    return market.create_hit_with_hit_type(params)["HIT"]["HITId"]


def work(market: Marketplace, hit_id: str, worker_id: str | None = None) -> tuple[str, str]:
    """A worker accepts and submits the HIT; returns (worker id, assignment id)."""
    worker = worker_id or market.register_worker()
    assignment = market.accept_hit(hit_id, worker)
    market.submit_assignment(assignment, worker, ANSWER_XML)
    return worker, assignment


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[RunningMarketplace]:
    with start_in_thread(MarketplaceConfig(db_path=str(tmp_path / "served.sqlite3"))) as running:
        yield running


@pytest.fixture()
def mturk(server: RunningMarketplace) -> Any:
    return server.client()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server on a free local port (SQS/SNS for notifications)."""
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()
