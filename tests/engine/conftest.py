"""Engine fixtures: a real embedded marketplace over HTTP, broker settings and DB, job builders.

`answer_open_hits` answers HITs through the marketplace's own worker-facing methods (accept,
submit QuestionFormAnswers) -- the same calls its worker site makes -- so a test controls exactly
who answers what. End-to-end tests use the simulated crowd over HTTP instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import yaml

from broker import mturk
from broker.store import dispose_engine, get_engine

TEXTS = {
    "positive": ["I loved it", "Great food", "Wonderful staff", "Best day ever", "So good"],
    "negative": ["Terrible", "Cold soup", "Rude waiter", "Never again", "Awful"],
}
WORKERS_DEFAULT = ["AWORKERONE0001", "AWORKERTWO0002", "AWORKERTHREE03"]
COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}


@dataclass
class JobFiles:
    spec_path: Path
    manifest_path: Path
    output_dir: Path
    truth: dict[str, Any]  # source / source-ref -> true label (or list of labels)
    labels: list[str]


@pytest.fixture()
def market(tmp_path: Path):
    """The embedded marketplace in a thread (in-memory state, serving tmp_path's files)."""
    from broker.marketplace.config import MarketplaceConfig
    from broker.marketplace.server import start_in_thread

    config = MarketplaceConfig(db_path=":memory:", file_roots=[str(tmp_path)])
    running = start_in_thread(config)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's server (SQS, S3) on a free local port, for the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture()
def sqs(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    """A boto3 SQS client on moto's server; the broker's own SQS clients get the same dummy credentials."""
    import boto3

    from broker import queues

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    queues.forget_clients()
    yield boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    queues.forget_clients()


def new_queue(sqs: Any, prefix: str) -> str:
    """A fresh queue's URL (unique name: moto's server lives for the whole session)."""
    import uuid

    return sqs.create_queue(QueueName=f"{prefix}-{uuid.uuid4().hex[:10]}")["QueueUrl"]


def drain(sqs: Any, queue_url: str) -> list[str]:
    """Receive and delete every message now in the queue; their bodies."""
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


class OperationCounter:
    """Counts requester operations as the marketplace receives them (not as the broker sends them)."""

    def __init__(self, marketplace: Any) -> None:
        from collections import Counter

        self.calls: Counter[str] = Counter()
        original = marketplace.dispatch

        def counted(operation: str, params: dict) -> dict:
            self.calls[operation] += 1
            return original(operation, params)

        marketplace.dispatch = counted


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """Every engine test runs on both broker DBs: a SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/broker.db"
    return request.getfixturevalue("fresh_postgres_db")


@pytest.fixture()
def settings(db_url: str, market):
    from broker.settings import load_settings

    mturk.forget_clients()
    return load_settings(db_url=db_url, local_endpoint_url=market.endpoint_url)


@pytest.fixture()
def engine(settings):
    engine = get_engine(settings.db_url)
    yield engine
    dispose_engine(settings.db_url)
    mturk.forget_clients()


def write_job(tmp_path: Path, task_type: str, n_objects: int, *, name: str = "test-job", **overrides: Any) -> JobFiles:
    """A manifest of small images or texts with known truth, and a spec for it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    multilabel = task_type.endswith("multilabel")
    image = task_type.startswith("image")
    labels = list(COLORS) if image else list(TEXTS)
    truth: dict[str, Any] = {}
    lines = []
    for i in range(n_objects):
        label = labels[i % len(labels)]
        if image:
            from PIL import Image

            path = tmp_path / "images" / f"img-{i}.png"
            path.parent.mkdir(exist_ok=True)
            Image.new("RGB", (8, 8), COLORS[label]).save(path)
            key, line = str(path), {"source-ref": str(path), "id": i}
        else:
            text = f"{TEXTS[label][i % 5]} #{i}"
            key, line = text, {"source": text, "id": i}
        truth[key] = [label] if multilabel else label
        lines.append(line)
    manifest = tmp_path / "input.manifest"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    spec: dict[str, Any] = {
        "job_name": name,
        "task_type": task_type,
        "labels": labels,
        "input_manifest": str(manifest),
        "output": str(tmp_path / "output"),
        "workers_per_object": 3,
        "reward": "0.05",
        "title": "Pick the right label",
        "description": "Choose the label that fits.",
        "keywords": ["label", "test"],
        "lifetime_seconds": 3600,
        "assignment_duration_seconds": 300,
        "auto_approval_delay_seconds": 86400,
        "max_concurrent_hits": 100,
        "instructions": {"short": "Pick one.", "full": "Pick the label that fits best."},
    }
    spec.update(overrides)
    spec_path = tmp_path / f"{name}.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return JobFiles(spec_path, manifest, tmp_path / "output", truth, labels)


def task_answers_xml(answer: list[dict]) -> str:
    """QuestionFormAnswers with one taskAnswers FreeText, as the worker site stores a crowd-form post."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        '2005-10-01/QuestionFormAnswers.xsd"><Answer><QuestionIdentifier>taskAnswers</QuestionIdentifier>'
        f"<FreeText>{escape(json.dumps(answer))}</FreeText></Answer></QuestionFormAnswers>"
    )


def hit_data_object(marketplace: Any, hit_id: str) -> dict:
    """The data object embedded in the HIT's crowd-task-input block (what a bot reads)."""
    import html as html_lib
    import re

    view = marketplace.preview_hit(hit_id, None)
    match = re.search(r'<script type="application/json" id="crowd-task-input">(.*?)</script>', view.html_content, re.S)
    block = json.loads(html_lib.unescape(match.group(1)) if "&quot;" in match.group(1) else match.group(1))
    return block


def answer_open_hits(
    running: Any, chooser: Callable[[dict, str], Any], workers: list[str], *, limit: int | None = None
) -> int:
    """Each worker accepts and submits every assignable HIT once; chooser(block, worker) -> label(s).

    Returns the number of assignments submitted.
    """
    marketplace = running.marketplace
    submitted = 0
    for worker in workers:
        marketplace.register_worker(worker) if worker not in marketplace.workers else None
    for worker in workers:
        for group in marketplace.list_hit_groups(worker):
            while True:
                hit_id = marketplace.next_hit_for_worker(group.hit_type_id, worker)
                if hit_id is None or (limit is not None and submitted >= limit):
                    break
                block = hit_data_object(marketplace, hit_id)
                assignment_id = marketplace.accept_hit(hit_id, worker)
                choice = chooser(block, worker)
                name = block.get("name") or block.get("element")
                value = {"labels": choice} if isinstance(choice, list) else {"label": choice}
                marketplace.submit_assignment(assignment_id, worker, task_answers_xml([{name: value}]))
                submitted += 1
    return submitted


def truthful(truth: dict[str, Any]) -> Callable[[dict, str], Any]:
    def choose(block: dict, worker: str) -> Any:
        data = block["dataObject"]
        return truth[data.get("source-ref") or data.get("source")]

    return choose
