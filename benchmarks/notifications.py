"""Collect by polling vs collect on MTurk's SQS notifications: marketplace calls per assignment.

    python benchmarks/notifications.py --objects 200 --ticks 40 --drop 0.1

Two jobs of the same size run side by side on the embedded marketplace (in this process) and
moto's SQS server: one polls every collect tick, one has `notifications:` (HITReviewable, a
fallback poll every 10 ticks). Before each collect tick the same share of each job's HITs is
answered by 3 workers through the marketplace's worker-side methods, so both jobs see the same
arrivals. `--drop` loses that share of the notifications (the marketplace's fault setting):
the fallback poll must still collect every answer. Calls are counted where the marketplace
receives them, per job (by the HIT type or HIT a call names). The collect clock is simulated
(30 s per tick), so the figures do not depend on the machine's speed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKERS = ["ABENCHWORKER0001", "ABENCHWORKER0002", "ABENCHWORKER0003"]
TICK_SECONDS = 30


def _spec(folder: Path, name: str, n_objects: int, notifications: dict | None) -> Path:
    manifest = folder / f"{name}.manifest"
    manifest.write_text("".join(json.dumps({"source": f"review {i}"}) + "\n" for i in range(n_objects)))
    spec = {
        "job_name": name,
        "task_type": "text-classification",
        "labels": ["positive", "negative"],
        "input_manifest": str(manifest),
        "output": str(folder / "output"),
        "workers_per_object": 3,
        "reward": "0.05",
        "title": f"Sentiment ({name})",  # distinct titles: distinct HIT types
        "description": "Pick one.",
        "max_concurrent_hits": 5000,
        "lifetime_seconds": 86400,
    }
    if notifications:
        spec["notifications"] = notifications
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=200, help="Objects per job.")
    parser.add_argument("--ticks", type=int, default=40, help="Collect ticks while answers arrive.")
    parser.add_argument("--fallback-ticks", type=int, default=10, help="Fallback poll every this many ticks.")
    parser.add_argument("--drop", type=float, default=0.0, help="Share of notifications lost.")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    # after the checkout is on sys.path and moto's dummy credentials are set
    from moto.server import ThreadedMotoServer
    from sqlmodel import Session, select

    from broker import mturk
    from broker.domain.clock import utcnow
    from broker.marketplace.config import FaultConfig, MarketplaceConfig
    from broker.marketplace.server import start_in_thread
    from broker.settings import load_settings
    from broker.stages.collect import collect_tick
    from broker.stages.publish import publish_tick
    from broker.stages.submit import submit_job
    from broker.store import get_engine
    from broker.store.tables import Assignment, Job

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    sqs = boto3.client("sqs", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="bench-events")["QueueUrl"]
    faults = FaultConfig(drop_notification_probability=args.drop, seed=args.seed)
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_in_thread(MarketplaceConfig(db_path=":memory:", faults=faults)) as market,
    ):
        folder = Path(tmp)
        settings = load_settings(db_url=f"sqlite:///{folder}/broker.db", local_endpoint_url=market.endpoint_url)
        mturk.forget_clients()
        engine = get_engine(settings.db_url)
        notifications = {"queue": queue_url, "fallback_seconds": TICK_SECONDS * args.fallback_ticks}
        submit_job(_spec(folder, "polled", args.objects, None), engine, settings)
        submit_job(_spec(folder, "notified", args.objects, notifications), engine, settings)
        publish_tick(engine, settings)
        with Session(engine) as session:
            job_of_type = {job.hit_type_id: job.name for job in session.exec(select(Job))}
            job_names = {job.id: job.name for job in session.exec(select(Job))}

        marketplace = market.marketplace
        calls: dict[str, Counter] = {"polled": Counter(), "notified": Counter()}
        original = marketplace.dispatch

        def counted(operation: str, params: dict) -> dict:
            hit = marketplace.hits.get(params.get("HITId", ""))
            job = job_of_type.get(params.get("HITTypeId") or (hit.hit_type_id if hit else None))
            if job:
                calls[job][operation] += 1
            return original(operation, params)

        marketplace.dispatch = counted
        for worker in WORKERS:
            marketplace.register_worker(worker)
        by_job: dict[str, list[str]] = {"polled": [], "notified": []}
        for hit_id, hit in marketplace.hits.items():
            by_job[job_of_type[hit.hit_type_id]].append(hit_id)
        per_tick = -(-args.objects // args.ticks)
        answer = '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"><Answer><QuestionIdentifier>taskAnswers</QuestionIdentifier><FreeText>[{"sentiment":{"label":"positive"}}]</FreeText></Answer></QuestionFormAnswers>'  # noqa: E501
        t0 = utcnow()
        tick = 0
        while True:
            for job in by_job:
                for hit_id in by_job[job][tick * per_tick : (tick + 1) * per_tick]:
                    for worker in WORKERS:
                        marketplace.submit_assignment(marketplace.accept_hit(hit_id, worker), worker, answer)
            market.notifier.flush()
            collect_tick(engine, settings, now=t0 + timedelta(seconds=TICK_SECONDS * tick))
            tick += 1
            with Session(engine) as session:
                stored = Counter(job_names[a.job_id] for a in session.exec(select(Assignment)))
            if tick >= args.ticks and stored["notified"] == stored["polled"] == 3 * args.objects:
                break
            if tick > args.ticks + 10 * args.fallback_ticks:
                raise SystemExit(f"not every answer collected after {tick} ticks: {dict(stored)}")
        moto.stop()

    assignments = 3 * args.objects
    operations = sorted(set(calls["polled"]) | set(calls["notified"]))
    print(f"{args.objects} objects x 3 workers per job, answers over {args.ticks} collect ticks, {tick} ticks in all;")
    print(f"notifications: fallback poll every {args.fallback_ticks} ticks, {args.drop:.0%} of messages lost\n")
    print(f"{'operation':<26}{'polling':>12}{'notifications':>16}   (calls per assignment)")
    for operation in operations:
        print(
            f"{operation:<26}{calls['polled'][operation] / assignments:>12.3f}"
            f"{calls['notified'][operation] / assignments:>16.3f}"
        )
    total = {job: sum(counter.values()) for job, counter in calls.items()}
    print(f"{'all collect calls':<26}{total['polled'] / assignments:>12.3f}{total['notified'] / assignments:>16.3f}")
    print(f"\nevery assignment collected by both: {stored['polled']} and {stored['notified']} of {assignments}")


if __name__ == "__main__":
    main()
