"""Quality control on the digits demo job with 20% spammers: accuracy and cost with and without it.

Each run labels the first N digits on the embedded marketplace with a simulated crowd (HTTP bots,
price-sensitive arrival) whose mix has 20% uniform spammers. "with QC" adds the spec's
`quality:` block: 10% gold digits mixed in, exclusion by qualification below 60% gold
accuracy after 6 answers (EM when a worker has under 3 gold answers), fresh assignments for
the excluded workers' objects. Accuracy is measured on the real (non-gold) digits.

    python benchmarks/quality.py --objects 200 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

# run as a script, benchmarks/ would shadow the `scoring` package with benchmarks/scoring.py
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

MIX = "good=0.6,sloppy=0.2,spammer=0.2"
QUALITY = {
    "gold": {"manifest": "gold.manifest", "rate": 0.1},
    "exclusion": {"min_answers": 6, "min_accuracy": 0.6, "min_gold_answers": 3, "action": "qualification"},
}
GOLD_POOL = 40


@dataclass
class Outcome:
    mode: str
    objects: int
    accuracy: float
    assignments: int
    cost_cents: int
    excluded: int
    spammers_excluded: int
    spammers: int
    wall_seconds: float

    @property
    def cost_per_correct(self) -> float:
        return self.cost_cents / max(1e-9, self.accuracy * self.objects)


def run(mode: str, n_objects: int, seed: int, crowd_size: int, workers_per_object: int) -> Outcome:
    from sqlmodel import Session, select

    from broker import mturk
    from broker.daemon import jobs_remaining, run_cycle
    from broker.demo import TIME_SCALE, write_spec
    from broker.marketplace.config import MarketplaceConfig
    from broker.marketplace.crowd import run_crowd
    from broker.marketplace.server import start_in_thread
    from broker.settings import load_settings
    from broker.stages.submit import submit_job
    from broker.store import dispose_engine, get_engine
    from broker.store.jobs import job_money
    from broker.store.tables import DataObject, Event
    from broker.tasks.demo_digits import write_digits

    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix=f"quality-{mode}-"))
    manifest, truth = write_digits(folder, n_objects + GOLD_POOL)
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(lines[:n_objects]) + "\n")
    (folder / "gold.manifest").write_text(
        "".join(
            json.dumps({**json.loads(line), "gold-label": truth[json.loads(line)["source-ref"]]}) + "\n"
            for line in lines[n_objects:]
        )
    )
    spec_path = write_spec(folder, manifest, workers_per_object)
    if mode == "with QC":
        spec = yaml.safe_load(spec_path.read_text())
        spec["quality"] = {**QUALITY, "gold": {**QUALITY["gold"], "manifest": str(folder / "gold.manifest")}}
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    db_url = f"sqlite:///{folder}/broker.db"
    config = MarketplaceConfig(db_path=":memory:", file_roots=[str(folder)], time_scale=TIME_SCALE)
    with start_in_thread(config) as market:
        settings = load_settings(db_url=db_url, local_endpoint_url=market.endpoint_url)
        mturk.forget_clients()
        engine = get_engine(db_url)
        job_id = submit_job(spec_path, engine, settings).job_id
        run_cycle(engine, settings, ticks=("publish",))
        stop = threading.Event()
        stats: dict = {}
        thread = threading.Thread(
            target=lambda: stats.update(
                crowd=run_crowd(
                    market.worker_site_url,
                    n_workers=crowd_size,
                    seed=seed,
                    truth=truth,
                    mix=MIX,
                    time_scale=TIME_SCALE,
                    idle_seconds=3600,
                    stop_event=stop,
                )
            ),
            daemon=True,
        )
        thread.start()
        try:
            while jobs_remaining(engine) > 0:
                run_cycle(engine, settings)
                time.sleep(0.5)
        finally:
            stop.set()
            thread.join(timeout=60)
        with Session(engine) as session:
            objects = session.exec(select(DataObject).where(DataObject.job_id == job_id)).all()
            excluded = {
                e.message.split(":")[0]
                for e in session.exec(select(Event).where(Event.job_id == job_id, Event.kind == "exclude"))
            }
            money = job_money(session, job_id)
            from broker.store.tables import Assignment

            assignments = len(session.exec(select(Assignment.id).where(Assignment.job_id == job_id)).all())
        labels = [str(i) for i in range(10)]
        real = [o for o in objects if "gold-label" not in o.data]
        right = sum(
            1
            for o in real
            if o.label_json is not None and labels[json.loads(o.label_json)] == truth[o.data["source-ref"]]
        )
        models = stats["crowd"].worker_models if "crowd" in stats else {}
        spammers = {w for w, kind in models.items() if kind == "spammer"}
        dispose_engine(db_url)
        mturk.forget_clients()
    return Outcome(
        mode,
        len(real),
        right / len(real),
        assignments,
        money.spent_cents,
        len(excluded),
        len(excluded & spammers),
        len(spammers),
        time.monotonic() - started,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crowd-size", type=int, default=30)
    parser.add_argument("--workers-per-object", type=int, default=3)
    args = parser.parse_args()
    outcomes = [
        run(mode, args.objects, args.seed, args.crowd_size, args.workers_per_object)
        for mode in ("without QC", "with QC")
    ]
    print(
        f"digits demo, {args.objects} objects, {args.workers_per_object} workers/object, crowd of "
        f"{args.crowd_size} ({MIX}), seed {args.seed}"
    )
    print(
        f"{'mode':<11} {'accuracy':>8} {'answers':>7} {'cost':>8} {'$/correct':>9} {'excluded':>8} "
        f"{'spammers out':>12} {'wall s':>6}"
    )
    for o in outcomes:
        print(
            f"{o.mode:<11} {o.accuracy:>8.2%} {o.assignments:>7} {'$%.2f' % (o.cost_cents / 100):>8} "
            f"{'$%.4f' % (o.cost_per_correct / 100):>9} {o.excluded:>8} {f'{o.spammers_excluded}/{o.spammers}':>12} "
            f"{o.wall_seconds:>6.0f}"
        )


if __name__ == "__main__":
    main()
