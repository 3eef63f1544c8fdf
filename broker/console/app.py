"""The requester console: a Starlette + jinja2 app over the broker DB, for one requester on this machine.

Access: the token `broker console` prints opens a session (an HttpOnly, SameSite=Strict cookie);
any request without that session is refused (401 without a token, 403 with a wrong one). Every
POST form carries the session's CSRF token, checked before anything is done. Pages may not be
framed (X-Frame-Options: DENY); a HIT is shown in a sandboxed srcdoc frame without
allow-same-origin, so its scripts run in an opaque origin and cannot read the console.

URL map:

    GET  /                                  jobs, live (console.js polls /api/jobs)
    GET  /api/jobs, /api/jobs/{job}         the jobs' figures as JSON
    GET  /jobs/{job}[?offset=N]             progress, auto-label iterations, objects
    GET  /jobs/{job}/objects/{index}        the HIT as workers saw it, every answer, the label
    GET  /jobs/{job}/review                 answers waiting for review (filters: worker, max_agreement, flag)
    POST /jobs/{job}/review                 approve / reject: one, the ticked ones, or all the filters keep
    GET  /workers[?job=JOB]                 accuracy + interval, flags, status; block/unblock/bonus/message
    POST /workers/{worker}/{action}         block, unblock, bonus, message
    GET  /experiments, /experiments/{n}     pricing experiments given with --experiment, their HTML report
    GET  /files/{signature}/{path}          a local file a page named (HIT images), by a signed URL
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from broker.commands import REVIEW_FLAGS
from broker.console import views
from broker.spec import SpecError
from broker.store.engine import Engine
from broker.store.jobs import UnknownJobError

SESSION_COOKIE = "broker_console"
PAGE_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
MAX_FORM_FIELDS = 2000  # a review page ticks at most one box per answer it lists
_HERE = Path(__file__).resolve().parent

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class ConsoleSession:
    csrf_token: str
    flashes: list[views.ActionResult] = field(default_factory=list)
    last_reason: str = ""  # the review queue keeps the reason typed last, for the next rejections


@dataclass
class ConsoleConfig:
    """What the console serves: the broker DB, the settings (marketplaces, S3), the access token,
    and pricing experiment specs whose reports it shows."""

    engine: Engine
    settings: Any
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    experiments: list[Path] = field(default_factory=list)


class Console:
    """Request handlers over one broker DB, with the sessions the access token opened."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config
        self.engine = config.engine
        self.settings = config.settings
        self.sessions: dict[str, ConsoleSession] = {}
        self.flagged = views.FlaggedCounts()
        self.signer = views.FileSigner(secrets.token_bytes(32))
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters.update(usd=views.usd, pct=_pct)

    # access -------------------------------------------------------------------------------
    def session(self, request: Request) -> ConsoleSession | None:
        key = request.cookies.get(SESSION_COOKIE)
        return self.sessions.get(key) if key else None

    def guarded(self, handler: Callable[[Request, ConsoleSession], Awaitable[Response]]) -> Handler:
        """Only a session the token opened gets through; a POST also needs the session's CSRF token."""

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            given = request.query_params.get("token")
            if given is not None:
                if not hmac.compare_digest(given.encode(), self.config.token.encode()):
                    return self.refuse(403, "wrong access token: use the link `broker console` printed")
                return self.open_session(request)
            session = self.session(request)
            if session is None:
                return self.refuse(401, "open the link `broker console` printed (it carries the access token)")
            if request.method == "POST":
                form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
                token = form.get("csrf_token")
                if not isinstance(token, str) or not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
                    return self.refuse(403, "this form's CSRF token is missing or wrong: reload the page and try again")
            return await handler(request, session)

        return endpoint

    def open_session(self, request: Request) -> Response:
        key = secrets.token_urlsafe(32)
        self.sessions[key] = ConsoleSession(csrf_token=secrets.token_urlsafe(32))
        rest = {k: v for k, v in request.query_params.multi_items() if k != "token"}
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
        response.set_cookie(SESSION_COOKIE, key, httponly=True, samesite="strict", path="/")
        return response

    def refuse(self, status: int, message: str) -> Response:
        html = self.env.get_template("error.html").render(status=status, message=message, csrf_token="", flashes=[])
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    async def failed(self, request: Request, exc: Exception) -> Response:
        """An unexpected failure: one line on the page (the traceback goes to the console's log)."""
        return self.refuse(500, f"the console failed on {request.url.path}: {type(exc).__name__}: {exc}"[:300])

    # rendering ----------------------------------------------------------------------------
    def render(self, session: ConsoleSession, name: str, code: int = 200, **context: Any) -> Response:
        flashes, session.flashes = session.flashes, []
        html = self.env.get_template(name).render(csrf_token=session.csrf_token, flashes=flashes, **context)
        return HTMLResponse(html, status_code=code, headers=PAGE_HEADERS)

    def back(self, session: ConsoleSession, result: views.ActionResult, url: str) -> Response:
        session.flashes.append(result)
        return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)

    def not_found(self, session: ConsoleSession, message: str) -> Response:
        return self.render(session, "error.html", 404, status=404, message=message)

    # pages --------------------------------------------------------------------------------
    async def jobs(self, request: Request, session: ConsoleSession) -> Response:
        jobs = await run_in_threadpool(views.jobs_overview, self.engine, self.flagged)
        return self.render(session, "jobs.html", jobs=jobs, experiments=bool(self.config.experiments))

    async def jobs_json(self, request: Request, session: ConsoleSession) -> Response:
        jobs = await run_in_threadpool(views.jobs_overview, self.engine, self.flagged)
        return JSONResponse(jobs, headers=PAGE_HEADERS)

    async def job_json(self, request: Request, session: ConsoleSession) -> Response:
        try:
            job = await run_in_threadpool(views.job_overview, self.engine, request.path_params["job"], self.flagged)
        except UnknownJobError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404, headers=PAGE_HEADERS)
        return JSONResponse(job, headers=PAGE_HEADERS)

    async def job(self, request: Request, session: ConsoleSession) -> Response:
        name = request.path_params["job"]
        offset = _int(request.query_params.get("offset"), 0)
        try:
            page = await run_in_threadpool(views.job_page, self.engine, name, offset)
            summary = await run_in_threadpool(views.job_overview, self.engine, name, self.flagged)
        except UnknownJobError as exc:
            return self.not_found(session, str(exc))
        return self.render(session, "job.html", page=page, job=summary)

    async def object(self, request: Request, session: ConsoleSession) -> Response:
        name, index = request.path_params["job"], request.path_params["index"]
        try:
            page = await run_in_threadpool(views.object_page, self.engine, self.settings, name, index, self.signer)
        except UnknownJobError as exc:
            return self.not_found(session, str(exc))
        if page is None:
            return self.not_found(session, f"job {name} has no object {index}")
        return self.render(session, "object.html", page=page)

    async def review(self, request: Request, session: ConsoleSession) -> Response:
        name = request.path_params["job"]
        params = request.query_params
        worker, max_agreement, flag = params.get("worker", ""), params.get("max_agreement", ""), params.get("flag", "")
        rule = views.review_filter(worker, max_agreement, flag)
        try:
            job, items, shown = await run_in_threadpool(
                views.review_items, self.engine, self.settings, name, rule, self.signer
            )
        except UnknownJobError as exc:
            return self.not_found(session, str(exc))
        return self.render(
            session,
            "review.html",
            job=job.name,
            items=items,
            shown=shown,
            reason=session.last_reason,
            worker=worker,
            max_agreement=max_agreement,
            flag=flag,
            flags=REVIEW_FLAGS,
            cursor=_int(params.get("cursor"), 0),
        )

    async def review_post(self, request: Request, session: ConsoleSession) -> Response:
        name = request.path_params["job"]
        form = await request.form()
        request_ = _review_request(form)
        filters = {k: _text(form, k) for k in ("worker", "max_agreement", "flag") if _text(form, k)}
        back = f"/jobs/{name}/review?" + urlencode({**filters, "cursor": _text(form, "cursor") or "0"})
        if request_ is None:
            return self.back(session, views.ActionResult("no action chosen", error=True), back)
        session.last_reason = request_.reason
        try:
            result = await run_in_threadpool(views.review, self.engine, self.settings, name, request_)
        except UnknownJobError as exc:
            return self.not_found(session, str(exc))
        return self.back(session, result, back)

    async def workers(self, request: Request, session: ConsoleSession) -> Response:
        name = request.query_params.get("job") or None
        try:
            page = await run_in_threadpool(views.workers_page, self.engine, name)
        except UnknownJobError as exc:
            return self.not_found(session, str(exc))
        return self.render(session, "workers.html", page=page)

    async def worker_action(self, request: Request, session: ConsoleSession) -> Response:
        worker_id, action = request.path_params["worker"], request.path_params["action"]
        form = await request.form()
        job = _text(form, "job")
        back = "/workers" + (f"?{urlencode({'job': job})}" if job else "") + f"#worker-{worker_id}"
        reason = _text(form, "reason")
        if action == "block":
            call: Callable[[], views.ActionResult] = functools.partial(
                views.block, self.engine, self.settings, worker_id, reason
            )
        elif action == "unblock":
            call = functools.partial(views.unblock, self.engine, self.settings, worker_id, reason)
        elif action == "bonus":
            call = functools.partial(
                views.bonus,
                self.engine,
                self.settings,
                worker_id,
                _text(form, "assignment_id"),
                _text(form, "amount"),
                reason,
            )
        elif action == "message":
            call = functools.partial(
                views.message, self.engine, self.settings, worker_id, _text(form, "subject"), _text(form, "body")
            )
        else:
            return self.not_found(session, f"no worker action {action!r}")
        return self.back(session, await run_in_threadpool(call), back)

    async def file(self, request: Request) -> Response:
        """A local file a console page named (signed URL; no session: HIT frames send no cookie)."""
        path = self.signer.path(request.path_params["signature"], request.path_params["path"])
        if path is None:
            return Response("not found", status_code=404, headers=PAGE_HEADERS)
        return FileResponse(path, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private"})

    async def experiments(self, request: Request, session: ConsoleSession) -> Response:
        specs = [str(path) for path in self.config.experiments]
        return self.render(session, "experiments.html", specs=specs)

    async def experiment(self, request: Request, session: ConsoleSession) -> Response:
        number = request.path_params["number"]
        if not 0 <= number < len(self.config.experiments):
            return self.not_found(session, f"no experiment {number}: give specs with `broker console --experiment`")
        path = self.config.experiments[number]
        try:
            _, html = await run_in_threadpool(views.experiment_report, self.engine, str(path))
        except SpecError as exc:
            return self.render(session, "error.html", 400, status=400, message=str(exc).splitlines()[0])
        except ValueError as exc:
            return self.render(session, "error.html", 409, status=409, message=f"{path}: {exc}")
        # the report is self-contained (inline SVG plots, no script): served as it would be from a file
        return HTMLResponse(html, headers={**PAGE_HEADERS, "Content-Security-Policy": "script-src 'none'"})


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _review_request(form: FormData) -> views.ReviewRequest | None:
    """Which button was pressed: approve/reject one answer, the ticked ones, or all the filters keep."""
    reason = _text(form, "reason")
    rule = views.review_filter(_text(form, "worker"), _text(form, "max_agreement"), _text(form, "flag"))
    for verdict, approve in (("approve", True), ("reject", False)):
        one = _text(form, f"{verdict}_one")
        if one:
            return views.ReviewRequest(approve, (one,), False, reason, rule)
        if f"{verdict}_selected" in form:
            chosen = tuple(v for v in form.getlist("selected") if isinstance(v, str) and v)
            return views.ReviewRequest(approve, chosen, False, reason, rule)
        if f"{verdict}_all" in form:
            return views.ReviewRequest(approve, (), True, reason, rule)
    return None


def create_app(config: ConsoleConfig) -> tuple[Starlette, Console]:
    """The console's ASGI app and its handlers (tests reach the sessions through the latter)."""
    console = Console(config)
    g = console.guarded
    routes = [
        Route("/", g(console.jobs)),
        Route("/api/jobs", g(console.jobs_json)),
        Route("/api/jobs/{job}", g(console.job_json)),
        Route("/jobs/{job}", g(console.job)),
        Route("/jobs/{job}/objects/{index:int}", g(console.object)),
        Route("/jobs/{job}/review", g(console.review)),
        Route("/jobs/{job}/review", g(console.review_post), methods=["POST"]),
        Route("/workers", g(console.workers)),
        Route("/workers/{worker}/{action}", g(console.worker_action), methods=["POST"]),
        Route("/experiments", g(console.experiments)),
        Route("/experiments/{number:int}", g(console.experiment)),
        Route("/files/{signature}/{path:path}", console.file),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={Exception: console.failed}), console
