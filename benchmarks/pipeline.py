"""The broker's pipeline end to end on the embedded marketplace: wall time, broker CPU per
assignment, MTurk API calls per assignment.

    python benchmarks/pipeline.py --objects 10000 --workers-per-object 3

The marketplace and its workers run in a child process (so `time.process_time()` of this
process is the broker's CPU only). The child answers each new HIT at once through the marketplace's
worker-side methods (accept, submit QuestionFormAnswers by MaxAssignments distinct workers of
accuracy 0.55-0.95), not through the HTML worker site, so the run is limited by the broker
rather than by bots parsing pages. The broker runs exactly the ticks the
daemon runs; API calls are counted with a botocore event hook on the broker's one client.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import yaml

LABELS = ["positive", "negative", "neutral", "mixed"]
ANSWER_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/'
    'AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"><Answer><QuestionIdentifier>'
    "taskAnswers</QuestionIdentifier><FreeText>{}</FreeText></Answer></QuestionFormAnswers>"
)


def truth_for(n_objects: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, len(LABELS), n_objects)


# ------------------------------------------------------------------------------------ the child


def serve(seed: int, n_objects: int, n_workers: int) -> None:
    """Marketplace + a crowd of `n_workers` (accuracy 0.55-0.95) answering by object index."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from broker.marketplace.config import MarketplaceConfig
    from broker.marketplace.server import start_in_thread

    truth = truth_for(n_objects, seed)
    rng = np.random.default_rng(seed + 1)
    accuracy = rng.uniform(0.55, 0.95, n_workers)
    workers = [f"ABENCHWORKER{i:04d}" for i in range(n_workers)]
    stop = threading.Event()
    with start_in_thread(MarketplaceConfig(db_path=":memory:")) as running:
        market = running.marketplace
        for worker in workers:
            market.register_worker(worker)
        print(running.endpoint_url, flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        object_of = re.compile(r"object=(\d+)")
        done: set[str] = set()
        while not stop.is_set():
            fresh = [hit_id for hit_id in list(market.hits) if hit_id not in done]
            for hit_id in fresh:  # each new HIT: MaxAssignments distinct workers accept and submit
                hit = market.hits[hit_id]
                index = int(object_of.search(hit.requester_annotation).group(1))
                for w in rng.choice(n_workers, size=hit.max_assignments, replace=False):
                    label = truth[index] if rng.random() < accuracy[w] else rng.integers(len(LABELS))
                    assignment = market.accept_hit(hit_id, workers[w])
                    answer = json.dumps([{"crowd-classifier": {"label": LABELS[label]}}])
                    market.submit_assignment(assignment, workers[w], ANSWER_XML.format(escape(answer)))
                done.add(hit_id)
            if not fresh:
                stop.wait(0.2)


# ------------------------------------------------------------------------------------ the broker


def run(n_objects: int, workers_per_object: int, seed: int, n_workers: int, intervals: dict[str, float]) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sqlmodel import Session

    from broker import mturk
    from broker.daemon import run_until_done
    from broker.reports.status import job_status
    from broker.settings import load_settings
    from broker.stages.submit import submit_job
    from broker.store import get_engine
    from broker.store.tables import Job

    folder = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    truth = truth_for(n_objects, seed)
    manifest = folder / "input.manifest"
    manifest.write_text(
        "".join(json.dumps({"source": f"review number {i}: it was fine"}) + "\n" for i in range(n_objects))
    )
    spec = {
        "job_name": "pipeline-bench",
        "task_type": "text-classification",
        "labels": LABELS,
        "input_manifest": str(manifest),
        "output": str(folder / "output"),
        "workers_per_object": workers_per_object,
        "reward": "0.02",
        "title": "Sentiment",
        "description": "Pick the sentiment.",
        "lifetime_seconds": 86_400,
        "max_concurrent_hits": 1000,
    }
    (folder / "job.yaml").write_text(yaml.safe_dump(spec))

    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--objects",
            str(n_objects),
            "--seed",
            str(seed),
            "--crowd",
            str(n_workers),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = child.stdout.readline().strip()
        settings = load_settings(db_url=f"sqlite:///{folder}/broker.db", local_endpoint_url=endpoint, ticks=intervals)
        engine = get_engine(settings.db_url)
        client = mturk.client_for(mturk.resolve_target("local", settings))
        bare_before = _bare_call_cpu(client)
        counter = mturk.CallCounter().attach(client)
        api_cpu = _time_api_calls(client)
        tick_cpu = _time_ticks()

        wall0, cpu0, times0 = time.perf_counter(), time.process_time(), os.times()
        submitted = submit_job(folder / "job.yaml", engine, settings)
        submit_cpu = time.process_time() - cpu0
        run_until_done(engine, settings)  # the daemon itself: APScheduler running the ticks
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        times1 = os.times()
        user, system = times1.user - times0.user, times1.system - times0.system
        with Session(engine) as session:
            report = job_status(session, session.get(Job, submitted.job_id))
        api_by_operation, calls, total_calls = dict(api_cpu), dict(counter.calls), counter.total
        bare_after = _bare_call_cpu(client)  # after the snapshot: not counted as the broker's calls
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    labels = _consolidated_labels(engine, submitted.job_id)
    return {
        "objects": n_objects,
        "assignments": report.assignments,
        "wall_seconds": wall,
        "broker_cpu_seconds": cpu,
        "submit_cpu_seconds": submit_cpu,
        "calls": calls,
        "api_calls": total_calls,
        "accuracy": float((labels == truth).mean()),
        "spent_cents": report.spent_cents,
        "tick_cpu": dict(tick_cpu),
        "api_cpu_seconds": sum(api_by_operation.values()),
        "api_cpu_by_operation": api_by_operation,
        "bare_call_cpu_seconds": (bare_before + bare_after) / 2,
        "user_seconds": user,
        "system_seconds": system,
    }


def _bare_call_cpu(client, calls: int = 300) -> float:
    """CPU of one GetAccountBalance (botocore's floor per call), to read the run's figures against.

    This machine's speed drifts by half within an hour (a shared VM); figures in units of a bare
    call measured in the same run compare across runs where milliseconds do not.
    """
    start = time.process_time()
    for _ in range(calls):
        client.get_account_balance()
    return (time.process_time() - start) / calls


def _time_api_calls(client) -> dict[str, float]:
    """Wrap the client's one entry point to add up, per operation, the CPU its calls use
    (serialise, sign, HTTP, parse)."""
    from collections import defaultdict

    spent: dict[str, float] = defaultdict(float)
    make_api_call = client._make_api_call

    def timed(operation_name, api_params):
        start = time.process_time()
        try:
            return make_api_call(operation_name, api_params)
        finally:
            spent[operation_name] += time.process_time() - start

    client._make_api_call = timed
    return spent


def _time_ticks() -> dict[str, float]:
    """Wrap the daemon's ticks to add up the CPU each one uses."""
    from collections import defaultdict

    from broker import daemon

    spent: dict[str, float] = defaultdict(float)
    for name, function in list(daemon.TICKS.items()):

        def timed(*args, _function=function, _name=name, **kwargs):
            start = time.process_time()
            try:
                return _function(*args, **kwargs)
            finally:
                spent[_name] += time.process_time() - start

        daemon.TICKS[name] = timed
    return spent


def _consolidated_labels(engine, job_id: int) -> np.ndarray:
    from sqlmodel import Session, select

    from broker.store.tables import DataObject

    with Session(engine) as session:
        rows = session.exec(
            select(DataObject.index, DataObject.label_json)
            .where(DataObject.job_id == job_id)
            .order_by(DataObject.index)
        ).all()
    return np.array([json.loads(label) if label else -1 for _, label in rows])


def table(result: dict) -> str:
    n = result["assignments"]
    bare = result["bare_call_cpu_seconds"]
    lines = [
        "| measure | value |",
        "|---|---|",
        f"| objects x workers | {result['objects']:,} x {n // max(result['objects'], 1)} = {n:,} assignments |",
        f"| wall time | {result['wall_seconds']:.1f} s |",
        f"| broker CPU (all ticks + submit) | {result['broker_cpu_seconds']:.1f} s = "
        f"{result['broker_cpu_seconds'] / n * 1000:.2f} ms per assignment |",
        f"| of which user / kernel (system calls: sockets, files) | {result['user_seconds']:.1f} s / "
        f"{result['system_seconds']:.1f} s |",
        f"| of which submit (validate + insert) | {result['submit_cpu_seconds']:.1f} s |",
        f"| of which in MTurk API calls (botocore: serialise, sign, HTTP, parse) | {result['api_cpu_seconds']:.1f} s = "
        f"{result['api_cpu_seconds'] / n * 1000:.2f} ms per assignment, "
        f"{result['api_cpu_seconds'] / max(result['api_calls'], 1) * 1000:.2f} ms per call |",
        f"| MTurk API calls | {result['api_calls']:,} = {result['api_calls'] / n:.3f} per assignment |",
        f"| a bare GetAccountBalance call (botocore's floor, same run) | {bare * 1000:.2f} ms of CPU |",
        f"| broker CPU per assignment in bare calls | {result['broker_cpu_seconds'] / n / bare:.2f} "
        f"(API calls {result['api_cpu_seconds'] / n / bare:.2f}, the broker's own work "
        f"{(result['broker_cpu_seconds'] - result['api_cpu_seconds']) / n / bare:.2f}) |",
    ]
    for name, seconds in result["tick_cpu"].items():
        lines.append(f"| &nbsp;&nbsp;{name} tick CPU | {seconds:.1f} s ({seconds / n * 1000:.2f} ms per assignment) |")
    for operation, count in sorted(result["calls"].items(), key=lambda item: -item[1]):
        cpu = result["api_cpu_by_operation"].get(operation, 0.0) / max(count, 1)
        lines.append(
            f"| &nbsp;&nbsp;{operation} | {count:,} ({count / n:.3f} per assignment), "
            f"{cpu * 1000:.2f} ms CPU per call = {cpu / bare:.2f} bare calls |"
        )
    lines.append(f"| EM accuracy vs truth | {result['accuracy']:.2%} |")
    lines.append(f"| spent (rewards + fees) | ${result['spent_cents'] / 100:,.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--workers-per-object", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crowd", type=int, default=40, help="simulated workers")
    parser.add_argument(
        "--ticks",
        default="publish=1,collect=5,review=5,consolidate=20,finalize=5",
        help="daemon tick intervals in seconds (the defaults of `broker run` are 10/30/60/60/60)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.seed, args.objects, args.crowd)
        return
    intervals = {f"{name}_seconds": float(value) for name, value in (part.split("=") for part in args.ticks.split(","))}
    result = run(args.objects, args.workers_per_object, args.seed, args.crowd, intervals)
    print(table(result))


if __name__ == "__main__":
    main()
