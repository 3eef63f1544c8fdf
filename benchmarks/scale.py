"""Scale-out: N objects x 3 workers, `broker run` daemons on PostgreSQL against the embedded
marketplace at `--rate-limit` calls a second per access key. For 1 and 2 daemons: wall time, calls
per assignment by operation, efficiency = (calls made / rate limit) / wall time, peak memory per
daemon, PostgreSQL rows written and bytes per assignment, and a projection to 10 million objects.

    nice -n 10 python benchmarks/scale.py --postgres-url postgresql://broker@127.0.0.1:5432/postgres \\
        --objects 2000 --daemons 1 2 --rate-limit 100

Each run gets a new database on the server. The marketplace and its crowd run in a child process;
the crowd answers each new HIT at once through the marketplace's worker-side methods (accept,
submit QuestionFormAnswers), not through the HTML worker site (the "direct" crowd mode), so the
crowd is never what the run waits for. The daemons share the broker's own rate limit, set to the
marketplace's (`local_calls_per_second`), so calls are spaced rather than throttled.
Calls are the broker's own counts (mturk_call_count: HTTP attempts, retries included);
`throttled` are those the marketplace refused. Wall time runs from the daemons' start (the job
already submitted) until every daemon exited with the job Completed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pipeline  # noqa: E402  (the crowd's answers and labels: one definition for both benchmarks)

ASSIGNMENTS_PER_OBJECT = 3
PROJECTED_OBJECTS = 10_000_000
TICKS = {"publish": 1, "collect": 2, "review": 2, "consolidate": 10, "quality": 5, "autolabel": 5}
TICKS |= {"output": 10, "finalize": 2}


def serve(seed: int, n_objects: int, n_workers: int, rate: float) -> None:
    """The child: the marketplace at `rate` calls a second, and the direct crowd (pipeline.serve's)."""
    from broker.marketplace import server
    from broker.marketplace.config import FaultConfig, MarketplaceConfig

    limited = MarketplaceConfig(db_path=":memory:", faults=FaultConfig(rate_limit_per_second=rate))
    real_start = server.start_in_thread

    def start_limited(config: MarketplaceConfig):  # pipeline.serve builds its own config: use ours
        running = real_start(limited)
        serve.running = running  # type: ignore[attr-defined]
        return running

    server.start_in_thread = start_limited
    pipeline.serve(seed, n_objects, n_workers)
    print(json.dumps({"rate_limited": serve.running.faults.rate_limited}), flush=True)  # type: ignore[attr-defined]


def _sql(url: str, query: str, *params: object) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def _rows_written(url: str) -> int:
    return int(_sql(url, "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_user_tables")[0][0])


def run(server_url: str, n_objects: int, n_daemons: int, rate: float, seed: int, crowd: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    name = "scale_" + uuid.uuid4().hex[:10]
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    _sql(plain, f"CREATE DATABASE {name}")
    db_plain = plain.rsplit("/", 1)[0] + "/" + name
    db_url = db_plain.replace("postgresql://", "postgresql+psycopg://")
    manifest = folder / "input.manifest"
    manifest.write_text(
        "".join(json.dumps({"source": f"review number {i}: it was fine"}) + "\n" for i in range(n_objects))
    )
    spec = {
        "job_name": "scale-bench",
        "task_type": "text-classification",
        "labels": pipeline.LABELS,
        "input_manifest": str(manifest),
        "output": str(folder / "output"),
        "workers_per_object": ASSIGNMENTS_PER_OBJECT,
        "reward": "0.02",
        "title": "Sentiment",
        "description": "Pick the sentiment.",
        "lifetime_seconds": 86_400,
        "max_concurrent_hits": n_objects,
    }
    (folder / "job.yaml").write_text(yaml.safe_dump(spec))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--objects", str(n_objects), "--seed", str(seed)]
        + ["--crowd", str(crowd), "--rate-limit", str(rate)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        endpoint = child.stdout.readline().strip()
        settings = folder / "settings.yaml"
        settings.write_text(
            yaml.safe_dump(
                {
                    "db_url": db_url,
                    "local_endpoint_url": endpoint,
                    "local_calls_per_second": rate,
                    "ticks": {f"{stage}_seconds": seconds for stage, seconds in TICKS.items()},
                }
            )
        )
        broker = [sys.executable, "-m", "broker.cli", "--settings", str(settings)]
        subprocess.run([*broker, "submit", str(folder / "job.yaml")], env=env, check=True, capture_output=True)
        time.sleep(1.5)  # PostgreSQL's statistics: the submit's rows are counted before the baseline
        rows0, size0 = _rows_written(db_plain), int(_sql(db_plain, "SELECT pg_database_size(current_database())")[0][0])
        started, quiet = time.perf_counter(), subprocess.DEVNULL
        daemons = [
            subprocess.Popen([*broker, "run"], env=env, cwd=folder, stdout=quiet, stderr=quiet)
            for _ in range(n_daemons)
        ]
        peak_kib, cpu = [], []
        for daemon in daemons:
            _, status, usage = os.wait4(daemon.pid, 0)
            peak_kib.append(usage.ru_maxrss)
            cpu.append(usage.ru_utime + usage.ru_stime)
            daemon.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        time.sleep(1.5)
        rows = _rows_written(db_plain) - rows0
        size = int(_sql(db_plain, "SELECT pg_database_size(current_database())")[0][0])
        counted = "SELECT operation, sum(calls), sum(throttled) FROM mturk_call_count GROUP BY 1"
        calls = {op: (int(c), int(t)) for op, c, t in _sql(db_plain, counted)}
        status = _sql(db_plain, "SELECT status FROM job")[0][0]
        assignments = int(_sql(db_plain, "SELECT count(*) FROM assignment")[0][0])
    finally:
        child.stdin.close()
        market_stats = json.loads(child.stdout.readline() or "{}")
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # the daemons and submit so far
        child.wait(timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        market_cpu = (after.ru_utime + after.ru_stime) - (reaped.ru_utime + reaped.ru_stime)
    total = sum(c for c, _ in calls.values())
    return {
        "objects": n_objects,
        "daemons": n_daemons,
        "rate_limit": rate,
        "job_status": status,
        "assignments": assignments,
        "wall_seconds": wall,
        "calls": total,
        "throttled": sum(t for _, t in calls.values()),
        "rate_limited_by_marketplace": market_stats.get("rate_limited"),
        "calls_by_operation": {op: c for op, (c, _) in sorted(calls.items())},
        "efficiency": total / rate / wall,
        "peak_rss_mib_per_daemon": [round(k / 1024, 1) for k in peak_kib],
        "daemon_cpu_seconds": [round(c, 1) for c in cpu],
        "marketplace_and_crowd_cpu_seconds": round(market_cpu, 1),  # the child: server and direct crowd
        # what one daemon could sustain on a core of its own: the calls over its CPU time
        "calls_per_daemon_cpu_second": total / max(sum(cpu), 1e-9),
        "rows_written_per_assignment": rows / max(assignments, 1),
        "db_bytes_per_assignment": (size - size0) / max(assignments, 1),  # growth while the job ran
        "db_bytes_after_submit": size0,
        "daemon_exit_codes": [d.returncode for d in daemons],
    }


def projection(result: dict, rates: tuple[float, ...] = (10.0, 100.0)) -> list[str]:
    """A 10-million-object job from one run's per-assignment figures."""
    assignments = PROJECTED_OBJECTS * ASSIGNMENTS_PER_OBJECT
    per_assignment = result["calls"] / result["assignments"]
    calls = per_assignment * assignments
    lines = [f"10M objects x {ASSIGNMENTS_PER_OBJECT}: {assignments:,} assignments, {calls:,.0f} calls"]
    for rate in rates:
        days = calls / rate / 86_400
        lines.append(f"  at {rate:g} calls/s: {days:,.1f} days of calls")
    lines.append(
        f"  DB: {result['db_bytes_per_assignment'] * assignments / 1e9:,.1f} GB"
        f" ({result['db_bytes_per_assignment']:,.0f} bytes per assignment, indexes included)"
    )
    lines.append(f"  rows written: {result['rows_written_per_assignment'] * assignments:,.0f}")
    return lines


def table(results: list[dict]) -> str:
    lines = []
    for r in results:
        market = r["marketplace_and_crowd_cpu_seconds"]
        lines.append(
            f"{r['objects']} objects x {ASSIGNMENTS_PER_OBJECT}, {r['daemons']} daemon(s),"
            f" rate limit {r['rate_limit']:g}/s:"
            f" {r['job_status']}, {r['assignments']} assignments, wall {r['wall_seconds']:.1f} s,"
            f" {r['calls']} calls ({r['throttled']} throttled), efficiency {r['efficiency']:.2f}"
        )
        per = {op: round(c / max(r["assignments"], 1), 3) for op, c in r["calls_by_operation"].items()}
        lines.append(f"  calls per assignment: {per} (total {r['calls'] / max(r['assignments'], 1):.3f})")
        lines.append(
            f"  daemon CPU seconds: {r['daemon_cpu_seconds']} ({r['calls_per_daemon_cpu_second']:.0f} calls per"
            f" CPU-second of the daemons); marketplace and crowd CPU seconds: {market}"
            f" ({r['calls'] / max(market, 1e-9):.0f} calls per CPU-second)"
        )
        lines.append(
            f"  peak RSS per daemon (MiB): {r['peak_rss_mib_per_daemon']}; PostgreSQL rows written per assignment:"
            f" {r['rows_written_per_assignment']:.2f}; DB bytes per assignment: {r['db_bytes_per_assignment']:.0f}"
        )
        lines += ["  " + line for line in projection(r)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-url", help="a PostgreSQL server (any database on it); each run makes its own")
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--daemons", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rate-limit", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crowd", type=int, default=40, help="simulated workers (direct mode)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.seed, args.objects, args.crowd, args.rate_limit)
        return
    if not args.postgres_url:
        parser.error("--postgres-url is required")
    results = [run(args.postgres_url, args.objects, n, args.rate_limit, args.seed, args.crowd) for n in args.daemons]
    print(table(results))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
