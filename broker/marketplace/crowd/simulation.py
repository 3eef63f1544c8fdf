"""The simulated crowd as a discrete-event simulation on the marketplace's own clock.

The same workers, price response and answer models as the threaded crowd (runner.py), but
every action happens at a simulated time taken from an event queue, in one thread: a visit to
the HIT groups, accepting a HIT, submitting it after its work time. The caller interleaves the
crowd with whatever else shares the marketplace (the broker's ticks) by running the crowd up
to a moment, doing its own work, and so on. Nothing depends on the machine's speed or on
thread timing, so a seed gives the same assignments, answers and times on every run.

The crowd works the marketplace in process, through the same worker operations the worker
site calls (list groups, preview, accept, return, submit with externalSubmit's answer XML):
the site's HTML is not rendered, which is what makes a 5,000-assignment run take seconds.
"""

from __future__ import annotations

import base64
import heapq
import io
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx
import numpy as np
from PIL import Image

from broker.marketplace.crowd import models, pricing
from broker.marketplace.crowd.answers import AnswerError, TaskInput
from broker.marketplace.crowd.models import WorkerModelSpec
from broker.marketplace.crowd.page_answer import model_page_answer, page_effort
from broker.marketplace.crowd.pages import ParsedPage, parse_page
from broker.marketplace.crowd.runner import CrowdStats
from broker.marketplace.errors import MarketplaceError
from broker.marketplace.worker_site.answer_xml import external_submit_answers

VISIT = "visit"
FINISH = "finish"
PAGES_KEPT = 512  # parsed HIT pages kept for the HIT's other workers


class SimulatedMarketplace(Protocol):
    """What the crowd uses of broker.marketplace.state.Marketplace (the worker site's contract)."""

    clock: Any

    def register_worker(self, worker_id: str | None = None) -> str: ...
    def list_hit_groups(self, worker_id: str | None) -> list[Any]: ...
    def next_hit_for_worker(self, hit_type_id: str, worker_id: str | None) -> str | None: ...
    def preview_hit(self, hit_id: str, worker_id: str | None) -> Any: ...
    def accept_hit(self, hit_id: str, worker_id: str) -> str: ...
    def return_assignment(self, assignment_id: str, worker_id: str) -> None: ...
    def submit_assignment(self, assignment_id: str, worker_id: str, answer_xml: str) -> None: ...


@dataclass(order=True)
class _Event:
    at: datetime
    sequence: int  # ties in time are taken in the order they were scheduled
    kind: str = field(compare=False)
    worker: int = field(compare=False)
    assignment_id: str = field(compare=False, default="")
    hit_type_id: str = field(compare=False, default="")
    fields: list[tuple[str, str]] = field(compare=False, default_factory=list)


@dataclass
class _Worker:
    index: int
    worker_id: str
    spec: WorkerModelSpec
    rng: np.random.Generator  # decisions (which group, when); answers use their own generators
    exhausted: dict[str, int] = field(default_factory=dict)  # HITTypeId -> hits_available when none was left
    returned: set[str] = field(default_factory=set)  # objects this worker handed back once already
    pickup: float = 0.0  # the pickup probability of the group in the current streak


def simulated_worker_id(seed: int, index: int) -> str:
    """A WorkerId fixed by seed and index ('A' + 13 upper-case letters and digits)."""
    digest = models.stable_hash("worker-id", seed, index).to_bytes(8, "big")
    return "A" + base64.b32encode(digest).decode("ascii").rstrip("=")[:13]


class SimulatedCrowd:
    """A crowd on the marketplace's clock; `run_until(t)` plays every event up to t."""

    def __init__(
        self,
        marketplace: SimulatedMarketplace,
        *,
        specs: list[WorkerModelSpec],
        seed: int,
        truth: Mapping[str, Any] | None = None,
        file_server_url: str | None = None,
    ) -> None:
        self.marketplace = marketplace
        self.seed = seed
        self.truth = dict(truth or {})
        self.stats = CrowdStats()
        self._file_server_url = file_server_url
        self._image_sizes: dict[str, tuple[int, int] | None] = {}
        self._effort: dict[str, float] = {}
        self._pages: dict[str, tuple[str, ParsedPage]] = {}  # hit id -> (html, parse), least recent first
        self._queue: list[_Event] = []
        self._sequence = itertools.count()
        self.workers = [
            _Worker(i, simulated_worker_id(seed, i), spec, models.rng_for("decisions", seed, "crowd", i))
            for i, spec in enumerate(specs)
        ]
        start = self.now()
        for worker in self.workers:
            marketplace.register_worker(worker.worker_id)
            self.stats.worker_models[worker.worker_id] = worker.spec.kind
            self.stats.usernames[worker.worker_id] = worker.worker_id
            self.stats.worker_specs[worker.worker_id] = worker.spec
            arrival = float(worker.rng.exponential(pricing.ARRIVAL_MEAN_SECONDS))
            self._schedule(start + timedelta(seconds=arrival), VISIT, worker)

    # ------------------------------------------------------------------ the event loop
    def now(self) -> datetime:
        return self.marketplace.clock.now()

    def next_event_at(self) -> datetime | None:
        return self._queue[0].at if self._queue else None

    def run_until(self, moment: datetime) -> int:
        """Play every event due by `moment`, moving the clock to each; returns how many ran."""
        played = 0
        while self._queue and self._queue[0].at <= moment:
            event = heapq.heappop(self._queue)
            self.marketplace.clock.advance_to(event.at)
            worker = self.workers[event.worker]
            try:
                if event.kind == VISIT:
                    self._visit(worker)
                else:
                    self._finish(worker, event)
            except MarketplaceError as error:  # e.g. the HIT expired meanwhile: the worker moves on
                self._error(f"{worker.worker_id}: {error}")
                self._come_back(worker, pricing.BREAK_MEAN_SECONDS)
            played += 1
        return played

    def _schedule(self, at: datetime, kind: str, worker: _Worker, **details: Any) -> None:
        heapq.heappush(self._queue, _Event(at, next(self._sequence), kind, worker.index, **details))

    def _come_back(self, worker: _Worker, mean_seconds: float) -> None:
        away = float(worker.rng.exponential(mean_seconds))
        self._schedule(self.now() + timedelta(seconds=away), VISIT, worker)

    def _error(self, message: str) -> None:
        self.stats.error_count += 1
        if len(self.stats.errors) < 200:
            self.stats.errors.append(message)

    # ------------------------------------------------------------------ a worker's day
    def _visit(self, worker: _Worker) -> None:
        """Look at the HIT groups; pick one up (a streak of HITs follows) or stay away a while."""
        listed = self.marketplace.list_hit_groups(worker.worker_id)
        for g in listed:
            if g.hits_available > 0 and not g.qualified and not g.blocked:
                unmet = tuple(f"{r.name} {r.comparator} {r.values}" for r in g.requirements if r.met is False)
                self.stats.note_unqualified(g.hit_type_id, g.title, g.hits_available, worker.worker_id, unmet)
        groups = [
            g
            for g in listed
            if g.hits_available > 0
            and g.qualified
            and not g.blocked
            and g.hits_available > worker.exhausted.get(g.hit_type_id, -1)
        ]
        if not groups:  # nothing to do: come back to look later
            self._come_back(worker, pricing.AWAY_MEAN_SECONDS)
            return
        wages = np.array(
            [
                pricing.wage_cents_per_hour(
                    g.reward_cents, pricing.BASE_SECONDS_PER_TASK * self._group_effort(g.hit_type_id, worker.worker_id)
                )
                for g in groups
            ]
        )
        pickup = np.asarray(pricing.pickup_probability(wages, worker.spec.reservation_cents_per_hour), dtype=float)
        takes = worker.rng.random(len(groups)) < pickup
        if not takes.any():
            self._come_back(worker, pricing.AWAY_MEAN_SECONDS)
            return
        choice = int(np.flatnonzero(takes)[np.argmax(wages[takes])])
        worker.pickup = float(pickup[choice])
        self._take_next(worker, groups[choice].hit_type_id, groups[choice].hits_available)

    def _take_next(self, worker: _Worker, hit_type_id: str, hits_available: int | None = None) -> None:
        """Accept the group's next HIT and start on it (or hand it back at once, as some workers do)."""
        while True:
            hit_id = self.marketplace.next_hit_for_worker(hit_type_id, worker.worker_id)
            if hit_id is None:  # none left that this worker has not done: wait for the group to grow
                if hits_available is None:
                    listed = {g.hit_type_id: g.hits_available for g in self.marketplace.list_hit_groups(None)}
                    hits_available = listed.get(hit_type_id, 0)
                worker.exhausted[hit_type_id] = hits_available
                self._come_back(worker, pricing.BREAK_MEAN_SECONDS)
                return
            assignment_id = self.marketplace.accept_hit(hit_id, worker.worker_id)
            html, page = self._page(hit_id, worker.worker_id)
            try:
                posted = model_page_answer(
                    page, html, assignment_id, worker.spec, self.seed, worker.index, self.truth, self._image_size
                )
            except AnswerError as error:  # hand the HIT back and leave the group alone
                self.marketplace.return_assignment(assignment_id, worker.worker_id)
                self.stats.assignments_returned += 1
                worker.exhausted[hit_type_id] = 2**62
                self._error(f"{assignment_id}: {error}")
                self._come_back(worker, pricing.BREAK_MEAN_SECONDS)
                return
            if posted.generic:
                self.stats.generic_forms += 1
            if posted.key not in worker.returned and models.will_return(
                worker.spec, self.seed, worker.index, posted.key
            ):
                worker.returned.add(posted.key)  # next time this object comes round, the worker does it
                self.marketplace.return_assignment(assignment_id, worker.worker_id)
                self.stats.assignments_returned += 1
                if worker.rng.random() > pricing.streak_probability(worker.pickup):
                    self._come_back(worker, pricing.BREAK_MEAN_SECONDS)
                    return
                continue
            seconds = models.work_seconds(
                worker.spec, self.seed, worker.index, posted.key, posted.effort
            ) + models.hit_overhead_seconds(self.seed, worker.index, posted.key)
            self._schedule(
                self.now() + timedelta(seconds=seconds),
                FINISH,
                worker,
                assignment_id=assignment_id,
                hit_type_id=hit_type_id,
                fields=posted.fields,
            )
            return

    def _finish(self, worker: _Worker, event: _Event) -> None:
        """Submit the finished HIT; then another from the same group, or a break."""
        self.marketplace.submit_assignment(event.assignment_id, worker.worker_id, external_submit_answers(event.fields))
        self.stats.assignments_submitted += 1
        self.stats.per_worker[worker.worker_id] = self.stats.per_worker.get(worker.worker_id, 0) + 1
        self.stats.per_group[event.hit_type_id] = self.stats.per_group.get(event.hit_type_id, 0) + 1
        if worker.rng.random() > pricing.streak_probability(worker.pickup):
            self._come_back(worker, pricing.BREAK_MEAN_SECONDS)
            return
        self._take_next(worker, event.hit_type_id)

    # ------------------------------------------------------------------ what a page looks like
    def _page(self, hit_id: str, worker_id: str) -> tuple[str, ParsedPage]:
        """The HIT's page and its parse; kept for the HIT's next workers (a HIT's content never changes)."""
        cached = self._pages.pop(hit_id, None)
        if cached is None:
            html = self.marketplace.preview_hit(hit_id, worker_id).html_content or ""
            cached = (html, parse_page(html))
        self._pages[hit_id] = cached
        if len(self._pages) > PAGES_KEPT:
            del self._pages[next(iter(self._pages))]
        return cached

    def _group_effort(self, hit_type_id: str, worker_id: str) -> float:
        """How long the group's task looks (relative to one classification), from one preview."""
        if hit_type_id not in self._effort:
            effort = 1.0
            hit_id = self.marketplace.next_hit_for_worker(hit_type_id, worker_id)
            if hit_id is not None:
                html = self.marketplace.preview_hit(hit_id, worker_id).html_content or ""
                effort = page_effort(parse_page(html))
            self._effort[hit_type_id] = effort
        return self._effort[hit_type_id]

    def _image_size(self, task: TaskInput) -> tuple[int, int] | None:
        """An image's real size when neither the page nor the truth states it (read from the file server)."""
        url = str(task.task_input.get("taskObject") or "")
        if not url or url.startswith("s3://") or self._file_server_url is None:
            return None
        url = urljoin(self._file_server_url.rstrip("/") + "/", url)
        if url not in self._image_sizes:
            try:
                response = httpx.get(url, timeout=30.0)
                self._image_sizes[url] = (
                    Image.open(io.BytesIO(response.content)).size if response.status_code == 200 else None
                )
            except (httpx.HTTPError, OSError, ValueError):  # unreadable: the model's default size
                self._image_sizes[url] = None
        return self._image_sizes[url]
