"""run_crowd: a pool of simulated workers using the worker site until no work is left.

`concurrency` threads each drive one bot at a time (a bot = one worker account with its own
cookies and keep-alive connection). Workers arrive at random times; on each visit a worker
looks at the HIT groups and picks one up with a probability that rises with the wage (reward
per expected second of work). If it passes on everything it stays away for a while (so low
pay means fewer workers around and slower pickup); otherwise it works a streak of HITs, takes
a break and comes back. Work and away times are simulated: waits are divided by time_scale.
The run ends when nobody could work for `idle_seconds` (wall) and nobody is mid-assignment or
due back to reconsider work, at `max_assignments`, or when `stop_event` is set.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import numpy as np
from PIL import Image

from broker.marketplace.crowd import models, pricing
from broker.marketplace.crowd.answers import (
    AnswerError,
    TaskInput,
    task_answers,
    task_input_from_block,
)
from broker.marketplace.crowd.bot import BotBrowser, BotError, HitFrame, shared_transport
from broker.marketplace.crowd.models import WorkerModelSpec
from broker.marketplace.crowd.page_answer import EXTERNAL_SUBMIT, model_page_answer, page_effort
from broker.marketplace.crowd.pages import HitGroupRow
from broker.marketplace.crowd.replay import ReplayTable, load_replay

MAX_ERRORS_KEPT = 200
UNANSWERABLE = 2**62  # an `exhausted` mark no group's HIT count exceeds


COMPARATORS = {
    "GreaterThanOrEqualTo": ">=",
    "GreaterThan": ">",
    "LessThanOrEqualTo": "<=",
    "LessThan": "<",
    "EqualTo": "=",
    "NotEqualTo": "!=",
}
HISTORY_REQUIREMENTS = ("Worker_NumberHITsApproved", "Worker_PercentAssignmentsApproved")


def readable_requirement(text: str) -> str:
    """'Worker_NumberHITsApproved GreaterThanOrEqualTo 500' -> 'Worker_NumberHITsApproved >= 500'."""
    return " ".join(COMPARATORS.get(word, word) for word in text.split())


@dataclass
class UnqualifiedGroup:
    """A HIT group simulated workers saw but could not take, and which requirements they lacked."""

    title: str
    hits_available: int
    lacking: dict[str, set[str]] = field(default_factory=dict)  # requirement -> WorkerIds without it
    workers: set[str] = field(default_factory=set)


@dataclass
class CrowdStats:
    """What a crowd run did. `per_worker` counts submitted assignments by WorkerId."""

    assignments_submitted: int = 0
    assignments_returned: int = 0
    per_worker: dict[str, int] = field(default_factory=dict)
    per_group: dict[str, int] = field(default_factory=dict)  # HITTypeId -> submitted
    wall_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    generic_forms: int = 0  # HITs without the crowd-task-input block, filled generically
    replay_fallbacks: int = 0  # replay HITs answered without a real answer left for their task
    worker_models: dict[str, str] = field(default_factory=dict)  # WorkerId -> model kind
    usernames: dict[str, str] = field(default_factory=dict)  # WorkerId -> the bot's account name
    worker_specs: dict[str, WorkerModelSpec] = field(default_factory=dict)  # WorkerId -> its true model
    unqualified: dict[str, UnqualifiedGroup] = field(default_factory=dict)  # HITTypeId -> who could not take it

    def note_unqualified(
        self, hit_type_id: str, title: str, hits_available: int, worker_id: str, unmet: tuple[str, ...]
    ) -> None:
        """A worker looked at a group with HITs left that it may not take (`unmet`: the requirements it lacks)."""
        group = self.unqualified.setdefault(hit_type_id, UnqualifiedGroup(title, hits_available))
        group.hits_available = hits_available
        group.workers.add(worker_id)
        for requirement in unmet or ("a requirement the site does not list",):
            group.lacking.setdefault(readable_requirement(requirement), set()).add(worker_id)

    def no_work_reasons(self) -> list[str]:
        """Why groups no simulated worker took went untouched: the requirements the workers lacked."""
        crowd = max(len(self.worker_models), 1)
        reasons = []
        for hit_type_id, group in self.unqualified.items():
            if self.per_group.get(hit_type_id):
                continue
            lacking = sorted(group.lacking.items(), key=lambda item: (-len(item[1]), item[0]))
            parts = [
                f"{requirement}, which "
                + ("no" if len(workers) >= crowd else f"{len(workers)} of the {crowd}")
                + (" simulated worker has" if len(workers) >= crowd else " simulated workers lack")
                for requirement, workers in lacking
            ]
            name = f" of {group.title!r}" if group.title else ""
            hint = (
                "; give simulated workers work histories with `broker marketplace serve --worker-history "
                '"approved=1000:1.5,approval=95-100"`'
                if any(requirement.startswith(HISTORY_REQUIREMENTS) for requirement, _ in lacking)
                else ""
            )
            reasons.append(
                f"0 of {group.hits_available} HITs{name} were taken: they require " + "; ".join(parts) + hint
            )
        return reasons


@dataclass
class SimWorker:
    index: int
    spec: WorkerModelSpec
    browser: BotBrowser
    rng: np.random.Generator  # decisions (which group, when); answers use their own generators
    exhausted: dict[str, int] = field(default_factory=dict)  # HITTypeId -> hits_available when refused
    returned: set[str] = field(default_factory=set)  # objects this worker handed back once already
    next_visit: float = 0.0  # time.monotonic() when the worker next comes to the site

    def may_try(self, group: HitGroupRow) -> bool:
        mark = self.exhausted.get(group.hit_type_id)
        return mark is None or group.hits_available > mark


def _password(seed: int, name: str) -> str:
    return hashlib.sha256(f"crowd-broker-sim:{seed}:{name}".encode()).hexdigest()[:32]


def _username(prefix: str, seed: int, name: str) -> str:
    return f"{prefix}-s{seed}-{re.sub(r'[^A-Za-z0-9_.@+-]', '_', name)}"[:64]


class Crowd:
    def __init__(
        self,
        url: str,
        *,
        specs: list[WorkerModelSpec],
        seed: int,
        truth: Mapping[str, Any] | None,
        replay: ReplayTable | None,
        time_scale: float,
        idle_seconds: float,
        max_assignments: int | None,
        stop_event: threading.Event | None,
        concurrency: int,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.url = url.rstrip("/")
        self.seed = seed
        self.truth = dict(truth or {})
        self.replay = replay
        self.time_scale = time_scale
        self.idle_seconds = idle_seconds
        self.max_assignments = max_assignments
        self.stop_event = stop_event or threading.Event()
        self.concurrency = max(1, concurrency)
        self.stats = CrowdStats()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._last_progress = time.monotonic()
        self._in_flight = 0
        self._reserved = 0  # assignments accepted or being accepted, against max_assignments
        self._effort: dict[str, float] = {}
        self._image_sizes: dict[str, tuple[int, int] | None] = {}
        self.transport = shared_transport(self.concurrency * 2 + 4)
        self.workers = [self._make_worker(i, spec, "crowd", f"w{i:04d}") for i, spec in enumerate(specs)]
        self._idle_queue = list(range(len(self.workers)))
        self._pending_return: set[int] = set(self._idle_queue)  # workers whose next visit may find work
        self.replay_workers: dict[str, SimWorker] = {}
        self.fallback_workers: list[SimWorker] = []
        self._used: set[tuple[str, str]] = set()  # (hit_id, replay worker) pairs already dispatched
        self._hit_dispatches: dict[str, int] = {}  # hit_id -> workers currently sent to it
        if replay is not None:
            for i, real in enumerate(replay.workers):
                self.replay_workers[real] = self._make_worker(
                    i, WorkerModelSpec(return_probability=0.0), "replay", real
                )
            base = len(replay.workers)
            self.fallback_workers = [
                self._make_worker(base + k, WorkerModelSpec(return_probability=0.0), "replay", f"fallback{k}")
                for k in range(self.concurrency + 3)
            ]

    def _make_worker(self, index: int, spec: WorkerModelSpec, prefix: str, name: str) -> SimWorker:
        browser = BotBrowser(
            self.url, _username(prefix, self.seed, name), _password(self.seed, f"{prefix}:{name}"), self.transport
        )
        return SimWorker(index, spec, browser, models.rng_for("decisions", self.seed, prefix, index))

    # ------------------------------------------------------------------ bookkeeping
    def _error(self, message: str) -> None:
        with self._lock:
            self.stats.error_count += 1
            if len(self.stats.errors) < MAX_ERRORS_KEPT:
                self.stats.errors.append(message)

    def _register(self, worker: SimWorker, kind: str) -> None:
        worker_id = worker.browser.worker_id or worker.browser.username
        with self._lock:
            self.stats.worker_models.setdefault(worker_id, kind)
            self.stats.usernames.setdefault(worker_id, worker.browser.username)
            self.stats.worker_specs.setdefault(worker_id, worker.spec)

    def _progress(self) -> None:
        with self._lock:
            self._last_progress = time.monotonic()

    def _reserve(self) -> bool:
        """Claim one assignment slot under max_assignments."""
        with self._lock:
            if self.max_assignments is not None and self._reserved >= self.max_assignments:
                return False
            self._reserved += 1
            self._in_flight += 1
            return True

    def _release(self, submitted: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if not submitted:
                self._reserved -= 1
            self._last_progress = time.monotonic()

    def should_stop(self) -> bool:
        if self._done.is_set() or self.stop_event.is_set():
            return True
        with self._lock:
            if self.max_assignments is not None and self.stats.assignments_submitted >= self.max_assignments:
                self._done.set()
            elif self._in_flight == 0 and time.monotonic() - self._last_interest() > self.idle_seconds:
                self._done.set()
        return self._done.is_set()

    def _last_interest(self) -> float:
        """Last progress, or later: when a worker who passed on available work is due back to reconsider.

        A worker already due whom no thread has taken yet (a busy machine) counts as interest now:
        the crowd is not idle while someone is about to look.
        """
        pending = [w.next_visit for w in self.workers if w.index in self._pending_return]
        now = time.monotonic()
        if any(visit <= now for visit in pending) and self._idle_queue:
            return now
        return max([self._last_progress, *(visit for visit in pending if visit > self._last_progress)])

    def _sleep(self, seconds: float) -> bool:
        """Simulated waiting; False if the run was stopped meanwhile."""
        return not self.stop_event.wait(max(seconds, 0.0))

    def _pause_idle(self) -> None:
        self.stop_event.wait(min(0.25, max(self.idle_seconds / 8, 0.01)))

    # ------------------------------------------------------------------ running
    def run(self) -> CrowdStats:
        started = time.monotonic()
        self._last_progress = started
        for worker in self.workers:  # arrivals spread out in (simulated) time
            worker.next_visit = started + float(worker.rng.exponential(pricing.ARRIVAL_MEAN_SECONDS)) / self.time_scale
        loop = self._replay_loop if self.replay is not None else self._model_loop
        try:
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="crowd") as pool:
                futures = [pool.submit(loop, k) for k in range(self.concurrency)]
                for future in futures:
                    future.result()
        finally:
            self.transport.close()
        self.stats.wall_seconds = time.monotonic() - started
        return self.stats

    def _checkout(self) -> SimWorker | None:
        """The idle worker due back soonest, once it is due; None if nobody is due yet."""
        with self._lock:
            if not self._idle_queue:
                return None
            position = min(range(len(self._idle_queue)), key=lambda i: self.workers[self._idle_queue[i]].next_visit)
            worker = self.workers[self._idle_queue[position]]
            if worker.next_visit > time.monotonic():
                return None
            self._idle_queue.pop(position)
            return worker

    def _checkin(self, worker: SimWorker, outcome: str) -> None:
        """Back to the pool; the worker returns after a simulated away time that depends on the visit."""
        away_seconds = self._away(worker, outcome)
        with self._lock:
            worker.next_visit = time.monotonic() + away_seconds / self.time_scale
            self._idle_queue.append(worker.index)
            if outcome == "idle":
                self._pending_return.discard(worker.index)
            else:
                self._pending_return.add(worker.index)

    def _away(self, worker: SimWorker, outcome: str) -> float:
        if outcome == "declined":
            return float(worker.rng.exponential(pricing.AWAY_MEAN_SECONDS))
        if outcome == "worked":
            return float(worker.rng.exponential(pricing.BREAK_MEAN_SECONDS))
        return 0.0

    def _model_loop(self, thread_index: int) -> None:
        while not self.should_stop():
            worker = self._checkout()
            if worker is None:
                self.stop_event.wait(0.02)
                continue
            outcome = "idle"
            try:
                outcome = self._visit(worker)
            except (BotError, httpx.HTTPError) as error:
                self._error(f"{worker.browser.username}: {error}")
            finally:
                self._checkin(worker, outcome)
            if outcome == "idle":
                self._pause_idle()

    # ------------------------------------------------------------------ model workers
    def _visit(self, worker: SimWorker) -> str:
        """One visit of a worker to the site: look, maybe pick a group, work a streak."""
        browser = worker.browser
        browser.sign_in()
        self._register(worker, worker.spec.kind)
        listed = browser.hit_groups()
        for g in listed:
            if g.hits_available > 0 and not g.qualified and not g.blocked:
                with self._lock:
                    self.stats.note_unqualified(
                        g.hit_type_id, g.title, g.hits_available, browser.worker_id or browser.username, g.unmet
                    )
        groups = [g for g in listed if g.hits_available > 0 and g.qualified and not g.blocked and worker.may_try(g)]
        if not groups:
            return "idle"
        wages = np.array(
            [
                pricing.wage_cents_per_hour(
                    g.reward_cents, pricing.BASE_SECONDS_PER_TASK * self._group_effort(browser, g)
                )
                for g in groups
            ]
        )
        pickup = np.asarray(pricing.pickup_probability(wages, worker.spec.reservation_cents_per_hour), dtype=float)
        takes = worker.rng.random(len(groups)) < pickup
        self._progress()  # a worker who could work is looking: the crowd is not idle
        if not takes.any():
            return "declined"
        choice = int(np.flatnonzero(takes)[np.argmax(wages[takes])])
        group, p = groups[choice], float(pickup[choice])
        while not self.should_stop():
            if not self._reserve():
                return "worked"
            submitted = False
            try:
                assignment_id = browser.accept_next(group.hit_type_id)
                if assignment_id is None:
                    worker.exhausted[group.hit_type_id] = group.hits_available
                    return "worked"
                submitted = self._work(worker, assignment_id, group.hit_type_id)
            finally:
                self._release(submitted)
            if worker.rng.random() > pricing.streak_probability(p):
                break
        return "worked"

    def _group_effort(self, browser: BotBrowser, group: HitGroupRow) -> float:
        """How long the group's task looks (relative to one classification), from one preview."""
        cached = self._effort.get(group.hit_type_id)
        if cached is not None:
            return cached
        effort = 1.0
        try:
            preview = browser.preview(group.hit_type_id)
        except httpx.HTTPError:
            preview = None
        if preview is not None:
            _, _, page = preview
            effort = page_effort(page)
        self._effort[group.hit_type_id] = effort
        return effort

    def _work(
        self,
        worker: SimWorker,
        assignment_id: str,
        hit_type_id: str,
        replay_label: str | None = None,
        fallback_task: str | None = None,
    ) -> bool:
        """Do one accepted assignment: read the HIT, answer, wait the work time, submit (or return)."""
        browser = worker.browser
        try:
            frame = browser.open_task(assignment_id)
        except (BotError, httpx.HTTPError) as error:  # the page did not load: hand the HIT back, as a person would
            try:
                browser.return_task(assignment_id)
            except (BotError, httpx.HTTPError):  # the site is down: the assignment is abandoned at its deadline
                pass
            else:
                with self._lock:
                    self.stats.assignments_returned += 1
            worker.exhausted[hit_type_id] = UNANSWERABLE
            raise BotError(f"{assignment_id}: the HIT's page did not load: {error}") from error
        try:
            fields, action, key, effort = self._answer(worker, frame, replay_label, fallback_task)
        except AnswerError as error:  # hand the HIT back rather than leave it accepted and unanswered
            browser.return_task(assignment_id)
            worker.exhausted[hit_type_id] = UNANSWERABLE  # and do not pick the group up again
            with self._lock:
                self.stats.assignments_returned += 1
            raise BotError(f"{assignment_id}: {error}") from error
        if key not in worker.returned and models.will_return(worker.spec, self.seed, worker.index, key):
            worker.returned.add(key)  # next time this object comes round, the worker does it
            browser.return_task(assignment_id)
            with self._lock:
                self.stats.assignments_returned += 1
            return False
        seconds = models.work_seconds(worker.spec, self.seed, worker.index, key, effort)
        seconds += models.hit_overhead_seconds(self.seed, worker.index, key)
        if not self._sleep(seconds / self.time_scale):
            browser.return_task(assignment_id)  # stopped mid-work: hand the HIT back, leave nothing dangling
            with self._lock:
                self.stats.assignments_returned += 1
            return False
        browser.submit(action, fields)
        with self._lock:
            self.stats.assignments_submitted += 1
            worker_id = browser.worker_id or browser.username
            self.stats.per_worker[worker_id] = self.stats.per_worker.get(worker_id, 0) + 1
            self.stats.per_group[hit_type_id] = self.stats.per_group.get(hit_type_id, 0) + 1
        return True

    def _answer(
        self, worker: SimWorker, frame: HitFrame, replay_label: str | None, fallback_task: str | None
    ) -> tuple[list[tuple[str, str]], str, str, float]:
        """(form fields, action URL, object key, effort) for this HIT page."""
        submit_url = frame.submit_to.rstrip("/") + EXTERNAL_SUBMIT
        block = frame.page.task_input
        if block is not None and (replay_label is not None or fallback_task is not None):
            task = task_input_from_block(block)
            if replay_label is not None:
                answer: Any = {"label": replay_label} if task.labels or task.element else replay_label
                if task.element.endswith("multi-select"):
                    answer = {"labels": [replay_label]}
            else:
                answer = self._fallback_answer(worker, task, str(fallback_task))
            fields = [
                ("assignmentId", frame.assignment_id),
                ("taskAnswers", json.dumps(task_answers(answer, task.name))),
            ]
            return fields, submit_url, task.key, task.effort
        posted = model_page_answer(
            frame.page,
            frame.html,
            frame.assignment_id,
            worker.spec,
            self.seed,
            worker.index,
            self.truth,
            lambda task: self._image_size(worker, task, frame),
        )
        action = posted.action
        if posted.generic:
            with self._lock:
                self.stats.generic_forms += 1
        if action is None or urlsplit(action).path.endswith(EXTERNAL_SUBMIT):
            action = submit_url
        else:
            action = urljoin(frame.frame_url, action)
        return posted.fields, action, posted.key, posted.effort

    def _image_size(self, worker: SimWorker, task: TaskInput, frame: HitFrame) -> tuple[int, int] | None:
        """The image's real size for image tools, as the browser knows it after loading the image."""
        url = frame.page.element_srcs.get(task.element) or str(task.task_input.get("taskObject") or "")
        if not url or url.startswith("s3://"):
            return None
        url = urljoin(frame.frame_url, url)
        if url not in self._image_sizes:
            size = None
            try:
                response = worker.browser.client.get(url)
                if response.status_code == 200:
                    size = Image.open(io.BytesIO(response.content)).size
            except (httpx.HTTPError, OSError, ValueError):  # unreadable: the model's default size
                size = None
            self._image_sizes[url] = size
        return self._image_sizes[url]

    # ------------------------------------------------------------------ replay
    def _fallback_answer(self, worker: SimWorker, task: TaskInput, task_key: str) -> Any:
        """No real answer left for this task: draw from the task's real answers (else any label)."""
        assert self.replay is not None
        distribution = self.replay.label_distribution(task_key)
        rng = models.rng_for("replay-fallback", self.seed, worker.index, task_key)
        if distribution:
            labels = sorted(distribution)
            weights = np.array([distribution[label] for label in labels], dtype=float)
            label = labels[int(rng.choice(len(labels), p=weights / weights.sum()))]
        else:
            pool = task.labels or self.replay.labels()
            label = pool[int(rng.integers(0, len(pool)))]
        if task.element.endswith("multi-select"):
            return {"labels": [label]}
        return {"label": label} if task.labels or task.element else label

    def _replay_loop(self, thread_index: int) -> None:
        """Scout (anonymously) the next HIT of each group in turn and hand it to a real worker."""
        assert self.replay is not None
        scout = BotBrowser(self.url, "anonymous", "", self.transport)  # closed with the shared transport
        turn = thread_index
        while not self.should_stop():
            try:
                groups = [g for g in scout.hit_groups() if g.hits_available > 0]
                if not groups:
                    self._pause_idle()
                    continue
                group = groups[turn % len(groups)]
                turn += 1
                if not self._replay_one(scout, group):
                    self._pause_idle()
            except (BotError, httpx.HTTPError) as error:
                self._error(f"replay: {error}")
                self._pause_idle()

    def _replay_one(self, scout: BotBrowser, group: HitGroupRow) -> bool:
        """Preview the group's next HIT, find a real worker who answered its task, let them do it."""
        assert self.replay is not None
        preview = scout.preview(group.hit_type_id)
        if preview is None:
            return False
        hit_id, html, page = preview
        task_key = task_input_from_block(page.task_input).key if page.task_input is not None else ""
        candidates = [(w, label) for w, label in self.replay.answers.get(task_key, []) if (hit_id, w) not in self._used]
        chosen: tuple[SimWorker, str | None] | None = None
        with self._lock:
            for real, label in candidates:
                worker = self.replay_workers[real]
                if (hit_id, real) not in self._used and worker.browser.lock.acquire(blocking=False):
                    self._used.add((hit_id, real))
                    chosen = (worker, label)
                    break
            if chosen is None and not candidates and not self._hit_dispatches.get(hit_id):
                # only once the real workers sent to this HIT are done does it truly lack answers
                for worker in self.fallback_workers:
                    name = worker.browser.username
                    if (hit_id, name) not in self._used and worker.browser.lock.acquire(blocking=False):
                        self._used.add((hit_id, name))
                        chosen = (worker, None)
                        break
            if chosen is not None:
                self._hit_dispatches[hit_id] = self._hit_dispatches.get(hit_id, 0) + 1
        if chosen is None:
            return False
        worker, label = chosen
        try:
            worker.browser.sign_in()
            self._register(worker, "replay" if label is not None else "replay-fallback")
            if not self._reserve():
                return False
            submitted = False
            try:
                assignment_id = worker.browser.accept_hit(hit_id)
                if assignment_id is None:
                    return False
                self._progress()
                submitted = self._work(
                    worker,
                    assignment_id,
                    group.hit_type_id,
                    replay_label=label,
                    fallback_task=None if label is not None else task_key,
                )
                if submitted and label is None:
                    with self._lock:
                        self.stats.replay_fallbacks += 1
            finally:
                self._release(submitted)
            return True
        finally:
            with self._lock:
                self._hit_dispatches[hit_id] -= 1
            worker.browser.lock.release()


def run_crowd(
    worker_site_url: str,
    *,
    n_workers: int,
    seed: int,
    truth: Mapping[str, Any] | None = None,
    mix: str | Mapping[str, float] = models.DEFAULT_MIX,
    replay_csv: str | None = None,
    time_scale: float = 1.0,
    idle_seconds: float = 5.0,
    max_assignments: int | None = None,
    stop_event: threading.Event | None = None,
    concurrency: int = 8,
) -> CrowdStats:
    """Run the simulated crowd against a worker site until no work is left; see the module docstring."""
    replay = load_replay(replay_csv) if replay_csv else None
    specs = [] if replay is not None else models.worker_specs(n_workers, seed, mix)
    crowd = Crowd(
        worker_site_url,
        specs=specs,
        seed=seed,
        truth=truth,
        replay=replay,
        time_scale=time_scale,
        idle_seconds=idle_seconds,
        max_assignments=max_assignments,
        stop_event=stop_event,
        concurrency=concurrency,
    )
    return crowd.run()
