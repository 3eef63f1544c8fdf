"""Throughput of the embedded marketplace's requester API, as a boto3 client sees it.

    python benchmarks/marketplace.py [--calls 500] [--threads 4]

Prints boto3 calls per second for CreateHITWithHITType and ListAssignmentsForHIT over real
HTTP (one client; then several threads with their own clients), and the same operations
in-process (no HTTP) to show where the time goes. The state lives in a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's `scoring` package, not benchmarks/scoring.py beside this script

from broker.marketplace.config import MarketplaceConfig  # noqa: E402
from broker.marketplace.server import RunningMarketplace, start_in_thread  # noqa: E402

QUESTION = (
    '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd">'
    "<HTMLContent><![CDATA[<!DOCTYPE html><html><body><form><input name='label'></form></body></html>]]></HTMLContent>"
    "<FrameHeight>400</FrameHeight></HTMLQuestion>"
)
ANSWER = (
    '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd">'
    "<Answer><QuestionIdentifier>label</QuestionIdentifier><FreeText>cat</FreeText></Answer></QuestionFormAnswers>"
)


def rate(calls: int, run: Callable[[int], None], threads: int = 1) -> float:
    """Calls per second of `run(index)` over `calls` calls spread on `threads` threads."""
    started = time.perf_counter()
    if threads == 1:
        for index in range(calls):
            run(index)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(run, range(calls)))
    return calls / (time.perf_counter() - started)


def requester_api_rows(running: RunningMarketplace, calls: int, threads: int) -> list[tuple[str, str, float]]:
    market = running.marketplace
    client = running.client()
    hit_type_id = client.create_hit_type(
        Title="bench", Description="d", Reward="0.05", AssignmentDurationInSeconds=600
    )["HITTypeId"]
    clients = [running.client() for _ in range(threads)]

    def create_http(index: int, which=client) -> None:
        which.create_hit_with_hit_type(
            HITTypeId=hit_type_id,
            LifetimeInSeconds=3600,
            Question=QUESTION,
            MaxAssignments=3,
            UniqueRequestToken=f"bench:{id(which)}:{index}",
        )

    def create_threaded(index: int) -> None:
        create_http(index, clients[index % threads])

    def create_in_process(index: int) -> None:
        market.create_hit_with_hit_type(
            {"HITTypeId": hit_type_id, "LifetimeInSeconds": 3600, "Question": QUESTION, "MaxAssignments": 3}
        )

    rows = [
        ("CreateHITWithHITType", "boto3 over HTTP, 1 client", rate(calls, create_http)),
        ("CreateHITWithHITType", f"boto3 over HTTP, {threads} threads", rate(calls, create_threaded, threads)),
        ("CreateHITWithHITType", "in-process Marketplace", rate(calls, create_in_process)),
    ]
    # A HIT with three submitted assignments to list.
    hit_id = client.create_hit_with_hit_type(
        HITTypeId=hit_type_id, LifetimeInSeconds=3600, Question=QUESTION, MaxAssignments=3
    )["HIT"]["HITId"]
    for _ in range(3):
        worker = market.register_worker()
        market.submit_assignment(market.accept_hit(hit_id, worker), worker, ANSWER)

    def list_http(index: int, which=client) -> None:
        assert len(which.list_assignments_for_hit(HITId=hit_id)["Assignments"]) == 3

    def list_threaded(index: int) -> None:
        list_http(index, clients[index % threads])

    def list_in_process(index: int) -> None:
        market.list_assignments_for_hit({"HITId": hit_id})

    rows += [
        ("ListAssignmentsForHIT", "boto3 over HTTP, 1 client", rate(calls, list_http)),
        ("ListAssignmentsForHIT", f"boto3 over HTTP, {threads} threads", rate(calls, list_threaded, threads)),
        ("ListAssignmentsForHIT", "in-process Marketplace", rate(calls, list_in_process)),
    ]
    return rows


def print_table(title: str, rows: list[tuple[str, str, float]]) -> None:
    print(f"\n{title}")
    print(f"| {'operation':<22} | {'path':<30} | {'calls/s':>9} |")
    print(f"|{'-' * 24}|{'-' * 32}|{'-' * 11}|")
    for operation, path, value in rows:
        print(f"| {operation:<22} | {path:<30} | {value:>9.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500, help="calls per measurement")
    parser.add_argument("--threads", type=int, default=4, help="client threads for the concurrent rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = MarketplaceConfig(db_path=str(Path(folder) / "bench.sqlite3"))
        with start_in_thread(config) as running:
            rows = requester_api_rows(running, args.calls, args.threads)
    print_table(f"Requester API throughput ({args.calls} calls each, SQLite file, 127.0.0.1)", rows)


# ---------------------------------------------------------------------------------------------
# The simulated crowd (worker site + bots over HTTP). Added by the worker-site/crowd engineer.
# ---------------------------------------------------------------------------------------------


def _crowd_contract_page(source_ref: str, labels: list[str]) -> str:
    """A HIT page following the template/crowd contract (what the built-in templates embed)."""
    import json as _json

    block = _json.dumps(
        {
            "element": "crowd-image-classifier",
            "name": "category",
            "labels": labels,
            "dataObject": {"source-ref": source_ref},
            "taskInput": {"taskObject": source_ref},
        }
    )
    block = block.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    html = (
        f'<!DOCTYPE html><html><body><script type="application/json" id="crowd-task-input">{block}</script>'
        "<form method='post' action='/mturk/externalSubmit'><input type='hidden' name='assignmentId'>"
        "<input type='hidden' name='taskAnswers'></form></body></html>"
    )
    return (
        '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/'
        f'HTMLQuestion.xsd"><HTMLContent><![CDATA[{html}]]></HTMLContent><FrameHeight>600</FrameHeight></HTMLQuestion>'
    )


def _crowd_publish(
    marketplace, n_objects: int, assignments: int, reward: str, labels: list[str]
) -> tuple[list[str], dict[str, str]]:
    """HITs created in-process (publishing speed is measured elsewhere; this measures the crowd)."""
    hit_type_id = marketplace.dispatch(
        "CreateHITType",
        {
            "Title": "Classify a digit",
            "Description": "Which digit is it?",
            "Reward": reward,
            "AssignmentDurationInSeconds": 3600,
            "AutoApprovalDelayInSeconds": 3 * 86400,
        },
    )["HITTypeId"]
    truth, hit_ids = {}, []
    for i in range(n_objects):
        source = f"s3://bench/digits/{i:05d}.png"
        truth[source] = labels[i % len(labels)]
        hit = marketplace.dispatch(
            "CreateHITWithHITType",
            {
                "HITTypeId": hit_type_id,
                "MaxAssignments": assignments,
                "LifetimeInSeconds": 30 * 86400,
                "Question": _crowd_contract_page(source, labels),
            },
        )["HIT"]
        hit_ids.append(hit["HITId"])
    return hit_ids, truth


def crowd_benchmark(
    n_objects: int = 1797,
    assignments: int = 3,
    workers: int = 30,
    concurrency: int = 8,
    time_scale: float = 1000.0,
    seed: int = 0,
    price_time_scale: float = 60.0,
) -> None:
    """Crowd throughput at the digits demo's size, answer quality by worker model, and price response."""
    import json as _json
    import statistics
    import time as _time

    from broker.marketplace.config import MarketplaceConfig
    from broker.marketplace.crowd import run_crowd
    from broker.marketplace.questions import answers_from_xml
    from broker.marketplace.server import start_in_thread

    labels = [str(d) for d in range(10)]
    with start_in_thread(MarketplaceConfig(db_path=":memory:", time_scale=time_scale)) as running:
        market = running.marketplace
        hit_ids, truth = _crowd_publish(market, n_objects, assignments, "0.04", labels)
        started = _time.perf_counter()
        stats = run_crowd(
            running.worker_site_url,
            n_workers=workers,
            seed=seed,
            truth=truth,
            time_scale=time_scale,
            idle_seconds=1.0,
            concurrency=concurrency,
        )
        wall = _time.perf_counter() - started
        correct: dict[str, list[bool]] = {}
        sources = {h: s for h, s in zip(hit_ids, truth)}
        for hit_id in hit_ids:
            for a in market.dispatch("ListAssignmentsForHIT", {"HITId": hit_id, "MaxResults": 100})["Assignments"]:
                label = _json.loads(answers_from_xml(a["Answer"])["taskAnswers"][0])[0]["category"]["label"]
                kind = stats.worker_models.get(a["WorkerId"], "?")
                correct.setdefault(kind, []).append(label == truth[sources[hit_id]])
    print(
        f"\nSimulated crowd: {n_objects} objects x {assignments} assignments, {workers} workers, "
        f"concurrency {concurrency}, time scale {time_scale:g}"
    )
    print(f"{'assignments':>12} {'returned':>9} {'errors':>7} {'wall s':>8} {'assign/s':>9}")
    print(
        f"{stats.assignments_submitted:>12} {stats.assignments_returned:>9} {stats.error_count:>7} "
        f"{wall:>8.1f} {stats.assignments_submitted / wall:>9.1f}"
    )
    print(f"\n{'model':<10} {'workers':>8} {'answers':>8} {'accuracy':>9}")
    for kind in sorted(correct):
        n_kind = sum(1 for k in stats.worker_models.values() if k == kind)
        print(f"{kind:<10} {n_kind:>8} {len(correct[kind]):>8} {sum(correct[kind]) / len(correct[kind]):>9.3f}")

    # A slower clock here so that simulated minutes reflect the workers' decisions, not HTTP overhead.
    print(f"\nPrice response: 100 HITs x 1 assignment per run, 20 good workers, time scale {price_time_scale:g}")
    print(f"{'reward':>7} {'$/hour @8s':>11} {'median pickup min':>18} {'all done min':>13}")
    for cents in (1, 2, 3, 5, 10):
        with start_in_thread(MarketplaceConfig(db_path=":memory:", time_scale=price_time_scale)) as running:
            market = running.marketplace
            hit_ids, truth = _crowd_publish(market, 100, 1, f"{cents / 100:.2f}", labels)
            run_crowd(
                running.worker_site_url,
                n_workers=20,
                seed=seed,
                truth=truth,
                mix="good=1",
                time_scale=price_time_scale,
                idle_seconds=3.0,
                concurrency=concurrency,
            )
            delays, finished = [], []
            for hit_id in hit_ids:
                hit = market.dispatch("GetHIT", {"HITId": hit_id})["HIT"]
                for a in market.dispatch("ListAssignmentsForHIT", {"HITId": hit_id})["Assignments"]:
                    delays.append((a["AcceptTime"] - hit["CreationTime"]).total_seconds() / 60)
                    finished.append((a["SubmitTime"] - hit["CreationTime"]).total_seconds() / 60)
        print(
            f"{'$%.2f' % (cents / 100):>7} {cents * 3600 / 8 / 100:>11.2f} "
            f"{statistics.median(delays) if delays else float('nan'):>18.1f} "
            f"{max(finished, default=float('nan')):>13.1f}"
        )


if __name__ == "__main__":
    main()
    crowd_benchmark()
