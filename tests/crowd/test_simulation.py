"""The discrete-event crowd on the marketplace's own clock: complete, repeatable, price-sensitive."""

from __future__ import annotations

import json
from datetime import timedelta

from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.crowd import models
from broker.marketplace.crowd.simulation import SimulatedCrowd, simulated_worker_id
from broker.marketplace.server import start_in_thread

from .crowd_helpers import contract_page, publish, task_answers

LABELS = ["cat", "dog", "bird"]


def _pages(n: int, offset: int = 0) -> tuple[list[str], dict[str, str]]:
    sources = [f"s3://bucket/images/{i:03d}.jpg" for i in range(offset, offset + n)]
    truth = {s: LABELS[i % 3] for i, s in enumerate(sources)}
    return [contract_page("crowd-image-classifier", LABELS, {"source-ref": s}) for s in sources], truth


def _run(seed: int, n_pages: int = 12, mix: str = models.DEFAULT_MIX) -> tuple[list[tuple], SimulatedCrowd]:
    """Publish n pages x 3 assignments, let a 10-worker crowd finish them; the work as comparable rows."""
    pages, truth = _pages(n_pages)
    config = MarketplaceConfig(db_path=":memory:", simulated_clock=True, id_seed=seed)
    with start_in_thread(config) as market:
        mturk = market.client()
        _, hit_ids = publish(mturk, pages, reward="0.05", assignments=3)
        clock = market.marketplace.clock
        start = clock.now()
        crowd = SimulatedCrowd(market.marketplace, specs=models.worker_specs(10, seed, mix), seed=seed, truth=truth)
        while crowd.stats.assignments_submitted < 3 * n_pages:
            assert crowd.run_until(clock.now() + timedelta(hours=1)) > 0 or crowd.next_event_at() is not None
        rows = []
        for hit_index, hit_id in enumerate(hit_ids):
            for a in mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]:
                [answer] = json.loads(a["Answer"].split("<FreeText>")[1].split("</FreeText>")[0].replace("&quot;", '"'))
                rows.append(
                    (
                        hit_index,
                        a["WorkerId"],
                        answer["category"]["label"],
                        (a["AcceptTime"] - start).total_seconds(),
                        (a["SubmitTime"] - start).total_seconds(),
                    )
                )
        assert len(task_answers(mturk, hit_ids)) == 3 * n_pages
    return sorted(rows), crowd


def test_the_crowd_does_every_assignment_once_per_worker_on_simulated_time() -> None:
    rows, crowd = _run(seed=3)
    assert len(rows) == 36 and crowd.stats.error_count == 0
    assert len({(hit, worker) for hit, worker, *_ in rows}) == 36  # nobody works a HIT twice
    assert {worker for _, worker, *_ in rows} <= {simulated_worker_id(3, i) for i in range(10)}
    for _, _, label, accepted, submitted in rows:
        assert label in LABELS
        # the work takes simulated seconds (at least the HIT's overhead), not the machine's milliseconds
        assert 0 <= accepted and submitted - accepted >= 1.0


def test_the_same_seed_gives_the_same_work_and_another_seed_other_work() -> None:
    first, _ = _run(seed=4)
    again, _ = _run(seed=4)
    other, _ = _run(seed=5)
    assert first == again
    assert [row[:3] for row in other] != [row[:3] for row in first]


def test_better_paid_work_finishes_sooner() -> None:
    poor_pages, poor_truth = _pages(20)
    rich_pages, rich_truth = _pages(20, offset=20)
    config = MarketplaceConfig(db_path=":memory:", simulated_clock=True, id_seed=1)
    with start_in_thread(config) as market:
        mturk = market.client()
        _, poor_hits = publish(mturk, poor_pages, reward="0.01", assignments=1, title="Poorly paid")
        _, rich_hits = publish(mturk, rich_pages, reward="0.50", assignments=1, title="Well paid")
        clock = market.marketplace.clock
        start = clock.now()
        crowd = SimulatedCrowd(
            market.marketplace, specs=models.worker_specs(8, 1), seed=1, truth={**poor_truth, **rich_truth}
        )
        crowd.run_until(start + timedelta(days=2))

        def last_submit(hit_ids: list[str]) -> float:
            times = [a["SubmitTime"] for h in hit_ids for a in mturk.list_assignments_for_hit(HITId=h)["Assignments"]]
            assert len(times) == len(hit_ids)  # both groups were finished in the end
            return (max(times) - start).total_seconds()

        assert last_submit(rich_hits) < last_submit(poor_hits)
