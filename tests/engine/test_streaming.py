"""Streaming labeling jobs: objects arrive on an SQS queue (moto's server), a growing manifest or an
S3 prefix; each is published as it comes, its output written (manifest, output queue) when it is
consolidated; the job never completes until `broker stop`, and a budget holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import boto3
from sqlmodel import Session, select
from typer.testing import CliRunner

from broker.cli import app
from broker.commands import stop_streaming_job
from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus, ObjectStatus
from broker.reports.status import job_status
from broker.stages.intake import intake_tick
from broker.stages.submit import submit_job
from broker.store.tables import DataObject, Event, Job
from tests.engine.conftest import WORKERS_DEFAULT, answer_open_hits, drain, new_queue, write_job

LABEL = {"I loved it": "positive", "Great food": "positive", "Terrible": "negative", "Cold soup": "negative"}


def by_text(block: dict, worker: str) -> str:
    return LABEL[block["dataObject"]["source"]]


def _job(tmp_path, engine, settings, **overrides):
    files = write_job(tmp_path / "job", "text-classification", 1, name="stream", input_manifest="", **overrides)
    submit_job(files.spec_path, engine, settings)
    return files


def _job_row(engine) -> Job:
    with Session(engine) as session:
        return session.exec(select(Job)).one()


def _objects(engine) -> list[DataObject]:
    with Session(engine) as session:
        return list(session.exec(select(DataObject).order_by(DataObject.index)))


def _cycles(engine, settings, n: int = 3) -> None:
    for _ in range(n):
        assert run_cycle(engine, settings).errors == []


def _manifest(files) -> list[dict]:
    path = files.output_dir / "stream" / "manifests" / "output" / "output.manifest"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_queue_fed_job_labels_objects_as_they_come_and_ends_with_broker_stop(tmp_path, market, settings, engine, sqs):
    inbox, outbox = new_queue(sqs, "in"), new_queue(sqs, "out")
    files = _job(tmp_path, engine, settings, input=inbox, output_queue=outbox)
    assert _job_row(engine).n_objects == 0
    send = lambda body: sqs.send_message(QueueUrl=inbox, MessageBody=body)  # noqa: E731
    send(json.dumps({"source": "I loved it"}))
    send(json.dumps({"source": "Terrible", "dataset-objectid-attribute-name": "id", "id": "t-1"}))
    send(json.dumps({"source": "Terrible", "dataset-objectid-attribute-name": "id", "id": "t-1"}))  # a duplicate
    send("not json")

    first = run_cycle(engine, settings)
    intake = first.reports["intake"].reports[0]
    assert (intake.objects_taken, intake.duplicates, intake.rejected) == (2, 1, 1)
    assert len(market.marketplace.hits) == 2  # published in the same cycle
    assert drain(sqs, inbox) == []  # every message handled and deleted, the bad one too
    with Session(engine) as session:
        rejected = session.exec(select(Event.message).where(Event.kind == "intake-rejected")).all()
    assert len(rejected) == 1 and "not valid JSON" in rejected[0] and inbox in rejected[0]

    answer_open_hits(market, by_text, WORKERS_DEFAULT)
    _cycles(engine, settings)
    assert [o.status for o in _objects(engine)] == [ObjectStatus.CONSOLIDATED] * 2
    assert _job_row(engine).status == JobStatus.ACTIVE  # a streaming job never completes on its own
    lines = _manifest(files)
    assert [(line["source"], line["stream-metadata"]["class-name"]) for line in lines] == [
        ("I loved it", "positive"),
        ("Terrible", "negative"),
    ]
    assert lines[1]["dataset-objectid-attribute-name"] == "id" and lines[1]["id"] == "t-1"
    assert lines[0]["dataset-objectid-attribute-name"] == "$stream-object-id"
    sent = [json.loads(body) for body in drain(sqs, outbox)]
    assert sent == lines  # each object's output line, once

    send(json.dumps({"source": "Great food"}))
    run_cycle(engine, settings)
    assert len(market.marketplace.hits) == 3
    answer_open_hits(market, by_text, WORKERS_DEFAULT)
    _cycles(engine, settings)
    assert [line["source"] for line in _manifest(files)] == ["I loved it", "Terrible", "Great food"]
    assert [json.loads(b)["source"] for b in drain(sqs, outbox)] == ["Great food"]  # only the new one

    send(json.dumps({"source": "Cold soup"}))
    assert stop_streaming_job(engine, _job_row(engine).id) == {"objects_pending": 0, "hits_open": 0}
    with Session(engine) as session:
        assert job_status(session, _job_row(engine)).intake.startswith("stopped")
    _cycles(engine, settings)
    job = _job_row(engine)
    assert job.status == JobStatus.COMPLETED and job.n_objects == 3  # nothing new after the stop
    assert [json.loads(b)["source"] for b in drain(sqs, inbox)] == ["Cold soup"]  # left in the input queue


def test_stop_finishes_the_objects_already_taken_in(tmp_path, market, settings, engine, sqs):
    inbox = new_queue(sqs, "in")
    _job(tmp_path, engine, settings, input=inbox)
    sqs.send_message(QueueUrl=inbox, MessageBody=json.dumps({"source": "I loved it"}))
    intake_tick(engine, settings)  # taken in, not published yet
    assert stop_streaming_job(engine, _job_row(engine).id) == {"objects_pending": 1, "hits_open": 0}
    run_cycle(engine, settings)
    assert _job_row(engine).status == JobStatus.STOPPING and len(market.marketplace.hits) == 1
    answer_open_hits(market, by_text, WORKERS_DEFAULT)
    _cycles(engine, settings)
    assert _job_row(engine).status == JobStatus.COMPLETED
    assert [o.status for o in _objects(engine)] == [ObjectStatus.CONSOLIDATED]


def test_a_budget_stops_intake_when_it_is_committed_and_says_so(tmp_path, market, settings, engine, sqs):
    inbox = new_queue(sqs, "in")
    # 0.05 reward + 0.01 fee = 6 cents per answer, 18 per object: 40 cents pay for 2 objects
    _job(tmp_path, engine, settings, input=inbox, budget_usd="0.40")
    for text in ["I loved it", "Terrible", "Great food", "Cold soup"]:
        sqs.send_message(QueueUrl=inbox, MessageBody=json.dumps({"source": text}))
    cycle = run_cycle(engine, settings)
    assert cycle.reports["intake"].reports[0].objects_taken == 2
    assert len(market.marketplace.hits) == 2
    for _ in range(3):
        cycle = run_cycle(engine, settings)
        assert cycle.errors and "budget committed" in cycle.errors[0]
    with Session(engine) as session:
        status = job_status(session, _job_row(engine))
    assert status.objects == 2 and status.intake.startswith("budget committed: not taking new objects")
    assert [a["stage"] for a in status.attention] == ["intake"]
    assert status.committed_cents + status.spent_cents <= 40
    remaining = [json.loads(b)["source"] for b in drain(sqs, inbox)]
    assert sorted(remaining) == ["Cold soup", "Great food"]  # they wait in the input


def test_a_watched_manifest_is_taken_line_by_line_as_it_grows(tmp_path, market, settings, engine):
    manifest = tmp_path / "incoming.manifest"
    manifest.write_text(json.dumps({"source": "I loved it"}) + "\n" + '{"source": "Terr')  # a line being written
    _job(tmp_path, engine, settings, input=str(manifest))
    assert intake_tick(engine, settings).objects_taken == 1
    with manifest.open("a") as out:
        out.write('ible"}\n' + json.dumps({"source": "Great food"}) + "\n")
    assert intake_tick(engine, settings).objects_taken == 2
    assert intake_tick(engine, settings).objects_taken == 0  # nothing new
    assert [json.loads(o.data_json)["source"] for o in _objects(engine)] == ["I loved it", "Terrible", "Great food"]
    assert [o.line_number for o in _objects(engine)] == [1, 2, 3]
    manifest.write_text("")  # rewritten instead of appended: a clear error, nothing lost or doubled
    report = intake_tick(engine, settings)
    assert report.objects_taken == 0 and "shrank" in report.errors[0] and str(manifest) in report.errors[0]


def test_an_s3_prefix_takes_each_new_object(tmp_path, market, settings, engine, moto_endpoint, sqs):
    from broker import storage
    from broker.settings import load_settings

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"stream-{tmp_path.name.lower().replace('_', '-')[-40:].strip('-')}"
    s3.create_bucket(Bucket=bucket)
    storage.forget_clients()
    with_s3 = load_settings(
        db_url=settings.db_url, local_endpoint_url=market.endpoint_url, s3_endpoint_url=moto_endpoint
    )
    files = write_job(
        tmp_path / "job", "image-classification", 1, name="stream", input_manifest="", input=f"s3://{bucket}/in/"
    )
    submit_job(files.spec_path, engine, with_s3)
    s3.put_object(Bucket=bucket, Key="in/a.png", Body=(tmp_path / "job" / "images" / "img-0.png").read_bytes())
    assert intake_tick(engine, with_s3).objects_taken == 1
    s3.put_object(Bucket=bucket, Key="in/b.png", Body=b"png")
    assert intake_tick(engine, with_s3).objects_taken == 1
    assert [json.loads(o.data_json)["source-ref"] for o in _objects(engine)] == [
        f"s3://{bucket}/in/a.png",
        f"s3://{bucket}/in/b.png",
    ]
    storage.forget_clients()


def test_broker_stop_refuses_a_batch_job_in_one_line(tmp_path, market, settings, engine, monkeypatch):
    files = write_job(tmp_path / "job", "text-classification", 2)
    submit_job(files.spec_path, engine, settings)
    monkeypatch.setenv("BROKER_DB_URL", settings.db_url)
    result = CliRunner().invoke(app, ["stop", "test-job"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: job test-job is not a streaming job; `broker cancel test-job` stops a batch job"
    ]
    assert CliRunner().invoke(app, ["stop", "nope"]).output.strip() == "error: no job named 'nope'"


def test_broker_run_keeps_a_streaming_job_going_until_broker_stop(tmp_path, market, settings, engine, sqs):
    """The daemon as a process: it labels what arrives, does not exit while the job streams, and exits
    once `broker stop` (another process) has let the job finish."""
    inbox = new_queue(sqs, "in")
    files = _job(tmp_path, engine, settings, input=inbox)
    env = dict(
        os.environ,
        BROKER_DB_URL=settings.db_url,
        BROKER_LOCAL_ENDPOINT_URL=settings.local_endpoint_url,
        PYTHONPATH=os.getcwd(),
        **{f"BROKER_TICKS__{name.upper()}_SECONDS": "0.2" for name in ("intake", "publish", "collect", "review")},
        **{f"BROKER_TICKS__{name.upper()}_SECONDS": "0.2" for name in ("consolidate", "output", "finalize")},
    )

    def wait(predicate, what: str) -> None:
        deadline = time.monotonic() + 60
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    daemon = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        sqs.send_message(QueueUrl=inbox, MessageBody=json.dumps({"source": "I loved it"}))
        wait(lambda: len(market.marketplace.hits) == 1, "the first HIT")
        answer_open_hits(market, by_text, WORKERS_DEFAULT)
        wait(lambda: len(_manifest(files)) == 1, "the first output line")
        sqs.send_message(QueueUrl=inbox, MessageBody=json.dumps({"source": "Terrible"}))
        wait(lambda: len(market.marketplace.hits) == 2, "the second HIT")
        assert daemon.poll() is None  # still running: a streaming job is never done on its own
        stop = subprocess.run(
            [sys.executable, "-m", "broker.cli", "stop", "stream"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert stop.returncode == 0 and "stopping stream: no new objects" in stop.stdout, stop.stderr
        answer_open_hits(market, by_text, WORKERS_DEFAULT)
        out, err = daemon.communicate(timeout=120)
    finally:
        daemon.kill() if daemon.poll() is None else None
    assert daemon.returncode == 0 and "all jobs done" in out, err[-2000:]
    assert _job_row(engine).status == JobStatus.COMPLETED
    assert [(line["source"], line["stream-metadata"]["class-name"]) for line in _manifest(files)] == [
        ("I loved it", "positive"),
        ("Terrible", "negative"),
    ]


def test_a_backlog_beyond_max_concurrent_hits_waits_in_the_queue(tmp_path, market, settings, engine, sqs):
    inbox = new_queue(sqs, "in")
    _job(tmp_path, engine, settings, input=inbox, max_concurrent_hits=2)
    for n in range(5):
        sqs.send_message(QueueUrl=inbox, MessageBody=json.dumps({"source": f"I loved it #{n}"}))
    assert intake_tick(engine, settings).objects_taken == 2
    assert intake_tick(engine, settings).objects_taken == 0  # 2 pending already: no room
    run_cycle(engine, settings)  # publishes the 2; their HITs fill max_concurrent_hits
    assert len(market.marketplace.hits) == 2
    assert intake_tick(engine, settings).objects_taken == 2  # 2 more may wait for a HIT slot
    assert len(drain(sqs, inbox)) == 1


def test_a_watched_s3_manifest_is_taken_as_it_grows(tmp_path, market, settings, engine, moto_endpoint, sqs):
    from broker import storage
    from broker.settings import load_settings

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"grow-{tmp_path.name.lower().replace('_', '-')[-40:].strip('-')}"
    s3.create_bucket(Bucket=bucket)
    storage.forget_clients()
    with_s3 = load_settings(
        db_url=settings.db_url, local_endpoint_url=market.endpoint_url, s3_endpoint_url=moto_endpoint
    )
    _job(tmp_path, engine, with_s3, input=f"s3://{bucket}/incoming.manifest")
    first = json.dumps({"source": "I loved it"}) + "\n"
    s3.put_object(Bucket=bucket, Key="incoming.manifest", Body=first.encode())
    assert intake_tick(engine, with_s3).objects_taken == 1
    s3.put_object(
        Bucket=bucket, Key="incoming.manifest", Body=(first + json.dumps({"source": "Terrible"}) + "\n").encode()
    )
    assert intake_tick(engine, with_s3).objects_taken == 1
    assert [json.loads(o.data_json)["source"] for o in _objects(engine)] == ["I loved it", "Terrible"]
    storage.forget_clients()
