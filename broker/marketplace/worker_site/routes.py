"""The worker site's routes: the pages a worker (or a simulated-crowd bot) uses, over `Marketplace`.

Every MTurk rule (qualifications, blocks, one assignment per worker per HIT, deadlines) lives in
`Marketplace`; this module owns only accounts, sessions, CSRF, rendering and the externalSubmit
wire format. URL map (bots and the broker rely on it):

    GET/POST /signup, /signin; POST /signout          (csrf_token in every POST form)
    GET  /                                             HIT groups
    GET  /projects/{hit_type_id}/preview               next HIT, frame with ASSIGNMENT_ID_NOT_AVAILABLE
    POST /projects/{hit_type_id}/accept, /hits/{hit_id}/accept   -> 303 /tasks/{assignment_id}
    GET  /tasks/{assignment_id}                        <iframe id="hit-frame"> with MTurk's 4 parameters
    GET  /hits/{hit_id}/question?assignmentId=..       raw HTMLContent / rendered QuestionForm
    POST /hits/{hit_id}/questionform                   QuestionForm answers (SelectionIdentifier)
    POST /tasks/{assignment_id}/return
    POST /mturk/externalSubmit                         answers as QuestionFormAnswers XML
    GET  /dashboard, /qualifications[/{id}]; POST /qualifications/{id}/request, /profile
    GET  /join[?code=..], /join/{code}; POST /join/{code}/accept   a team invite: sign up, or join signed in
    GET  /local-files/{absolute path}                  files under config.file_roots only (else 404/400)
    GET  /static/...                                   the site's CSS
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from broker.marketplace.errors import MarketplaceError, NotFound, NotQualified
from broker.marketplace.questions import is_loopback_host
from broker.marketplace.team_ops import InviteRefused, normalise_code
from broker.marketplace.worker_site.answer_xml import external_submit_answers
from broker.marketplace.worker_site.forms import (
    ANSWER_LIMITS,
    SITE_FORM_LIMITS,
    FormLimits,
    FormRejected,
    read_limited,
)
from broker.marketplace.worker_site.passwords import hash_password, verify_password
from broker.marketplace.worker_site.question_form import parse_question_form, question_form_answer_xml
from broker.marketplace.worker_site.signin_limits import SignInLimiter, invite_limiter
from broker.marketplace.worker_site.store import (
    AccountError,
    Session,
    SiteStore,
    site_db_path,
    validate_new_account,
)

if TYPE_CHECKING:
    from broker.marketplace.config import MarketplaceConfig
    from broker.marketplace.state import Marketplace

PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"
SESSION_COOKIE = "cb_session"
SESSION_COOKIE_MAX_AGE = 14 * 24 * 3600
# Site pages may be framed only by the site itself (no clickjacking of Accept/Return buttons).
FRAME_HEADERS = {"Content-Security-Policy": "frame-ancestors 'self'", "X-Content-Type-Options": "nosniff"}
# A requester's HTML runs in an opaque origin, as MTurk serves it from another origin: its scripts
# cannot read the site's pages or CSRF tokens, and its posts carry no session cookie (externalSubmit
# then knows the worker from the assignment, as MTurk does).
HIT_CONTENT_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts allow-forms allow-modals allow-popups "
    "allow-popups-to-escape-sandbox allow-downloads; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
}
ACCEPT_RETRIES = 3
INVITE_UNUSED = (
    "Your account was created, but the invite was used up or withdrawn meanwhile: "
    "ask the requester for a new one and enter it here."
)
Handler = Callable[[Request], Awaitable[Response]]
_HERE = Path(__file__).resolve().parent


def dollars(cents: int | None) -> str:
    return "" if cents is None else f"${cents / 100:,.2f}"


def duration(seconds: int | None) -> str:
    """3900 -> '1 hour 5 minutes', as MTurk shows time allotted."""
    if seconds is None:
        return ""
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts[:2]) or "0 seconds"


def utc_text(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(dollars=dollars, duration=duration, utc=utc_text)
    return env


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def error_status(error: MarketplaceError) -> int:
    if isinstance(error, (NotFound, InviteRefused)):
        return 404
    if isinstance(error, NotQualified):
        return 403
    return 409 if error.http_status < 500 else 503


def frame_src(base: str, hit_id: str, assignment_id: str, submit_to: str, worker_id: str | None) -> str:
    """The four parameters MTurk appends to a HIT's frame URL, in MTurk's order."""
    params = {"assignmentId": assignment_id, "hitId": hit_id, "turkSubmitTo": submit_to}
    if worker_id and assignment_id != PREVIEW_ASSIGNMENT_ID:
        params["workerId"] = worker_id
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode(params)}"


class WorkerSite:
    """Request handlers bound to one marketplace, its config, and the site's account store."""

    def __init__(self, marketplace: Marketplace, config: MarketplaceConfig) -> None:
        self.marketplace = marketplace
        self.config = config
        self.store = SiteStore(site_db_path(config.db_path))
        self.env = _environment()
        self.file_roots = [Path(root).resolve() for root in config.file_roots]
        self.signin_limits = SignInLimiter(marketplace.clock.now)
        self.invite_limits = invite_limiter(marketplace.clock.now)

    # plumbing -------------------------------------------------------------------------
    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Marketplace calls run off the event loop (SQLite, hashing)."""
        return await run_in_threadpool(getattr(self.marketplace, method), *args, **kwargs)

    def session(self, request: Request) -> Session | None:
        return self.store.load_session(request.cookies.get(SESSION_COOKIE))

    def ensure_session(self, session: Session | None) -> Session:
        return session if session is not None else self.store.new_session(None)

    def set_cookie(self, request: Request, response: Response, session: Session | None) -> Response:
        if session is not None and session.is_new:
            response.set_cookie(
                SESSION_COOKIE,
                session.token,
                max_age=SESSION_COOKIE_MAX_AGE,
                path="/",
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        return response

    def render(
        self,
        request: Request,
        session: Session | None,
        name: str,
        status: int = 200,
        *,
        new_session: bool = True,
        **context: Any,
    ) -> Response:
        """Render a page; a session (anonymous if need be) is created so its forms carry a CSRF token.

        `new_session=False` for answers to cookie-less cross-site posts: setting a cookie there
        could replace the worker's real session.
        """
        if new_session:
            session = self.ensure_session(session)
        worker_id = session.worker_id if session else None
        account_name = self.store.username_for(worker_id) if worker_id else None
        html = self.env.get_template(name).render(
            worker_id=worker_id,
            account_name=account_name,
            csrf_token=session.csrf_token if session else "",
            path=request.url.path,
            **context,
        )
        return self.set_cookie(request, HTMLResponse(html, status_code=status, headers=FRAME_HEADERS), session)

    def error_page(
        self, request: Request, session: Session | None, status: int, message: str, *, new_session: bool = True
    ) -> Response:
        return self.render(request, session, "error.html", status=status, new_session=new_session, message=message)

    def redirect(self, request: Request, session: Session | None, url: str) -> Response:
        return self.set_cookie(request, RedirectResponse(url, status_code=303), session)

    def limited(self, handler: Handler, limits: FormLimits, *, cross_site: bool = False) -> Handler:
        """`handler` with its POST body read within `limits`; over them, an error page instead.

        `cross_site`: posts from a HIT's page (no session cookie), answered without a new session.
        """

        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            if request.method != "POST":
                return await handler(request)
            try:
                request = await read_limited(request, limits)
            except FormRejected as error:
                return self.error_page(
                    request, self.session(request), error.status, error.message, new_session=not cross_site
                )
            return await handler(request)

        return endpoint

    @staticmethod
    def limited_address(request: Request) -> str | None:
        """The peer's address for sign-in and invite limits; None for a loopback peer (the simulated
        crowd, or a local reverse proxy that sends no X-Forwarded-For), which only the per-account
        limit applies to. X-Forwarded-For counts only from --forwarded-allow-ips (forwarding.py)."""
        host = request.client.host if request.client else ""
        return None if not host or is_loopback_host(host) else host

    def submit_to(self, request: Request) -> str:
        """The site's own address for the HIT frame: the configured public URL, else this request's
        (its scheme and Host from a trusted proxy's X-Forwarded-Proto/-Host, see forwarding.py)."""
        return self.config.public_url or str(request.base_url).rstrip("/")

    async def checked_form(self, request: Request, session: Session | None) -> FormData | None:
        """The posted form if its csrf_token matches the session's, else None."""
        form = await request.form()
        token = form.get("csrf_token")
        if session is None or not isinstance(token, str) or not hmac.compare_digest(token, session.csrf_token):
            return None
        return form

    def csrf_failure(self, request: Request, session: Session | None) -> Response:
        return self.error_page(
            request, session, 403, "The form's CSRF token is missing or invalid. Reload the page and try again."
        )

    async def worker_post(self, request: Request, action: str) -> tuple[Session, str, FormData] | Response:
        """A signed-in worker's POST with a valid CSRF token as (session, worker id, form), else the refusal page."""
        session = self.session(request)
        form = await self.checked_form(request, session)
        if form is None:
            return self.csrf_failure(request, session)
        assert session is not None
        if session.worker_id is None:
            return self.error_page(request, session, 403, f"Sign in to {action}.")
        return session, session.worker_id, form

    def signin_redirect(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?{urlencode({'next': target})}", status_code=303)

    # accounts -------------------------------------------------------------------------
    async def signup(self, request: Request) -> Response:
        session = self.session(request)
        invite = request.query_params.get("invite", "")
        if request.method == "GET":
            return self.signup_page(request, session, invite=invite)
        form = await self.checked_form(request, session)
        if form is None:
            return self.csrf_failure(request, session)
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        invite = str(form.get("invite", "")).strip()
        if not invite and self.config.invite_only:
            return self.signup_page(
                request, session, 403, error="Sign-up is by invitation only: enter the invite code you were sent."
            )
        if invite:
            refused = await self.check_invite(request, invite)
            if refused is not None:
                return self.signup_page(
                    request, session, refused[0], error=refused[1], username=username, invite=invite
                )
        try:
            validate_new_account(username, password, str(form.get("confirm", "")))
            if self.store.username_taken(username):
                raise AccountError(f"The username {username!r} is already taken.")
            password_hash = await run_in_threadpool(hash_password, password)
            worker_id = await self.call("register_worker")
            self.store.create_account(username, password_hash, worker_id)
        except AccountError as error:
            return self.signup_page(request, session, 400, error=str(error), username=username, invite=invite)
        if invite:
            try:
                await self.call("join_team", invite, worker_id)
            except MarketplaceError:  # the invite was used up meanwhile: the account stays
                return self.start_session(request, session, worker_id, "/join?unused=1")
        return self.start_session(request, session, worker_id, "/")

    def signup_page(self, request: Request, session: Session | None, status: int = 200, **context: Any) -> Response:
        values = {"error": None, "username": "", "invite": "", "invite_only": self.config.invite_only, **context}
        return self.render(request, session, "signup.html", status=status, **values)

    async def signin(self, request: Request) -> Response:
        session = self.session(request)
        next_url = safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return self.render(request, session, "signin.html", error=None, username="", next_url=next_url)
        form = await self.checked_form(request, session)
        if form is None:
            return self.csrf_failure(request, session)
        username = str(form.get("username", "")).strip()
        next_url = safe_next(str(form.get("next", "/")))
        address = self.limited_address(request)
        lockout = self.signin_limits.locked(username, address)
        if lockout is None:
            found = self.store.find_account(username)
            password = str(form.get("password", ""))
            valid = found is not None and await run_in_threadpool(verify_password, password, found[1])
            if valid and found is not None:
                self.signin_limits.succeeded(username)
                return self.start_session(request, session, found[0].worker_id, next_url)
            lockout = self.signin_limits.failed(username, address if found is not None else None)
        if lockout is None:
            error, status = "Unknown username or wrong password.", 400
        else:
            error, status = lockout.message(), 429
        response = self.render(
            request, session, "signin.html", status=status, error=error, username=username, next_url=next_url
        )
        if lockout is not None:
            wait = (lockout.until - self.marketplace.clock.now()).total_seconds()
            response.headers["Retry-After"] = str(max(1, int(wait)))
        return response

    def start_session(self, request: Request, old: Session | None, worker_id: str, target: str) -> Response:
        """Signing in always issues a new session token (the old one is ended)."""
        if old is not None:
            self.store.end_session(old.token)
        self.store.purge_expired_sessions()
        return self.redirect(request, self.store.new_session(worker_id), target)

    async def signout(self, request: Request) -> Response:
        session = self.session(request)
        if await self.checked_form(request, session) is None:
            return self.csrf_failure(request, session)
        assert session is not None
        self.store.end_session(session.token)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # team invites ---------------------------------------------------------------------
    async def check_invite(self, request: Request, code: str, worker_id: str | None = None) -> tuple[int, str] | None:
        """None if the code is a usable invite, else (status, message). Wrong codes count against the
        peer's address (not for loopback peers), so codes cannot be guessed in bulk."""
        address = self.limited_address(request)
        lockout = self.invite_limits.locked(address, None) if address else None
        if lockout is None:
            try:
                await self.call("team_for_invite", code, worker_id)
                return None
            except InviteRefused as error:
                if address is None:
                    return 404, error.message
                lockout = self.invite_limits.failed(address, None)
                if lockout is None:
                    return 404, error.message
        until = lockout.until.strftime("%Y-%m-%d %H:%M:%S UTC")
        return 429, f"Too many invalid invite codes from your network address. Try again after {until}."

    async def join_form(self, request: Request) -> Response:
        """`/join`: type a code (or arrive with ?code=); it leads to the invite's page."""
        session = self.session(request)
        code = request.query_params.get("code", "")
        if code:
            return RedirectResponse(f"/join/{normalise_code(code) or 'invalid'}", status_code=303)
        error = INVITE_UNUSED if request.query_params.get("unused") else None
        return self.render(request, session, "join.html", team=None, code="", error=error)

    async def join_page(self, request: Request) -> Response:
        session = self.session(request)
        code = request.path_params["code"]
        worker_id = session.worker_id if session is not None else None
        refused = await self.check_invite(request, code, worker_id)
        if refused is not None:
            return self.render(request, session, "join.html", status=refused[0], team=None, code="", error=refused[1])
        team = await self.call("team_for_invite", code, worker_id)
        member = worker_id is not None and team.name in await self.call("worker_teams", worker_id)
        return self.render(request, session, "join.html", team=team, code=code, error=None, member=member)

    async def join_team(self, request: Request) -> Response:
        posted = await self.worker_post(request, "join a team")
        if isinstance(posted, Response):
            return posted
        session, worker_id, _ = posted
        code = request.path_params["code"]
        refused = await self.check_invite(request, code, worker_id)
        if refused is not None:
            return self.render(request, session, "join.html", status=refused[0], team=None, code="", error=refused[1])
        try:
            await self.call("join_team", code, worker_id)
        except MarketplaceError as error:
            return self.error_page(request, session, error_status(error), error.message)
        return self.redirect(request, session, "/")

    # HIT groups, preview, accept ------------------------------------------------------
    async def groups(self, request: Request) -> Response:
        session = self.session(request)
        worker_id = session.worker_id if session else None
        groups = await self.call("list_hit_groups", worker_id)
        return self.render(request, session, "groups.html", groups=groups)

    async def preview(self, request: Request) -> Response:
        session = self.session(request)
        worker_id = session.worker_id if session else None
        hit_type_id = request.path_params["hit_type_id"]
        try:
            hit_id = await self.call("next_hit_for_worker", hit_type_id, worker_id)
            if hit_id is None:
                return self.error_page(request, session, 404, "There are no more HITs in this group for you.")
            hit = await self.call("preview_hit", hit_id, worker_id)
        except MarketplaceError as error:
            return self.error_page(request, session, error_status(error), error.message)
        src = frame_src(
            f"/hits/{hit.hit_id}/question", hit.hit_id, PREVIEW_ASSIGNMENT_ID, self.submit_to(request), None
        )
        if hit.question_kind == "ExternalQuestion" and hit.external_url:
            src = frame_src(hit.external_url, hit.hit_id, PREVIEW_ASSIGNMENT_ID, self.submit_to(request), None)
        return self.render(
            request, session, "preview.html", hit=hit, frame_src=src, frame_height=hit.frame_height or 600
        )

    async def accept_group(self, request: Request) -> Response:
        return await self._accept(request, hit_type_id=request.path_params["hit_type_id"])

    async def accept_hit(self, request: Request) -> Response:
        return await self._accept(request, hit_id=request.path_params["hit_id"])

    async def _accept(self, request: Request, *, hit_type_id: str | None = None, hit_id: str | None = None) -> Response:
        posted = await self.worker_post(request, "accept HITs")
        if isinstance(posted, Response):
            return posted
        session, worker_id, _ = posted
        error: MarketplaceError | None = None
        for _ in range(ACCEPT_RETRIES if hit_type_id else 1):
            try:
                target = hit_id or await self.call("next_hit_for_worker", hit_type_id, worker_id)
                if target is None:
                    return self.error_page(request, session, 404, "There are no more HITs in this group for you.")
                assignment_id = await self.call("accept_hit", target, worker_id)
            except MarketplaceError as caught:  # another worker may have taken the last assignment
                error = caught
                if isinstance(caught, (NotFound, NotQualified)):
                    break
                continue
            self.store.record_acceptance(assignment_id, worker_id)
            return self.redirect(request, session, f"/tasks/{assignment_id}")
        assert error is not None
        return self.error_page(request, session, error_status(error), error.message)

    # the work page and the question frame ---------------------------------------------
    async def task(self, request: Request) -> Response:
        session = self.session(request)
        if session is None or session.worker_id is None:
            return self.signin_redirect(request)
        assignment_id = request.path_params["assignment_id"]
        try:
            assignment = await self.call("assignment_for_worker", assignment_id, session.worker_id)
            hit = await self.call("preview_hit", assignment.hit_id, session.worker_id)
        except MarketplaceError as error:
            return self.error_page(request, session, error_status(error), error.message)
        base = (
            hit.external_url
            if hit.question_kind == "ExternalQuestion" and hit.external_url
            else f"/hits/{hit.hit_id}/question"
        )
        src = frame_src(base, hit.hit_id, assignment_id, self.submit_to(request), session.worker_id)
        return self.render(
            request,
            session,
            "task.html",
            hit=hit,
            assignment=assignment,
            frame_src=src,
            frame_height=hit.frame_height or 600,
        )

    async def question(self, request: Request) -> Response:
        """The HIT itself, as the frame loads it: raw HTMLContent, or a rendered QuestionForm."""
        session = self.session(request)
        worker_id = session.worker_id if session else None
        hit_id = request.path_params["hit_id"]
        assignment_id = request.query_params.get("assignmentId", PREVIEW_ASSIGNMENT_ID)
        try:
            if assignment_id != PREVIEW_ASSIGNMENT_ID:
                if worker_id is None:
                    return self.error_page(request, session, 403, "Sign in to work on this HIT.")
                assignment = await self.call("assignment_for_worker", assignment_id, worker_id)
                if assignment.hit_id != hit_id:
                    return self.error_page(request, session, 404, "No such assignment for this HIT.")
            hit = await self.call("preview_hit", hit_id, worker_id)
        except MarketplaceError as error:
            return self.error_page(request, session, error_status(error), error.message)
        if hit.question_kind == "HTMLQuestion":
            return HTMLResponse(hit.html_content or "", headers=HIT_CONTENT_HEADERS)
        if hit.question_kind == "ExternalQuestion" and hit.external_url:
            return RedirectResponse(
                frame_src(hit.external_url, hit_id, assignment_id, self.submit_to(request), worker_id), status_code=303
            )
        try:
            blocks = parse_question_form(hit.question_xml)
        except ValueError as error:
            return self.error_page(request, session, 500, f"This HIT's QuestionForm cannot be shown: {error}")
        return self.render(
            request,
            session,
            "question_form.html",
            blocks=blocks,
            title=hit.title,
            action=f"/hits/{hit_id}/questionform",
            assignment_id=assignment_id,
            preview=assignment_id == PREVIEW_ASSIGNMENT_ID,
            hidden={},
            submit_label="Submit HIT",
        )

    async def return_task(self, request: Request) -> Response:
        posted = await self.worker_post(request, "return HITs")
        if isinstance(posted, Response):
            return posted
        session, _, _ = posted
        try:
            await self.call("return_assignment", request.path_params["assignment_id"], session.worker_id)
        except MarketplaceError as error:
            return self.error_page(request, session, error_status(error), error.message)
        return self.redirect(request, session, "/")

    # submission -----------------------------------------------------------------------
    def submitting_worker(self, session: Session | None, assignment_id: str) -> str | None:
        """The signed-in worker; for a cross-site post (ExternalQuestion) the worker who accepted it."""
        if session is not None and session.worker_id is not None:
            return session.worker_id
        return self.store.worker_of_assignment(assignment_id)

    async def external_submit(self, request: Request) -> Response:
        """MTurk's `POST /mturk/externalSubmit`: every field but assignmentId becomes a FreeText Answer."""
        form = await request.form()
        fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        return await self._submit(request, form, external_submit_answers(fields))

    async def question_form_submit(self, request: Request) -> Response:
        """A rendered QuestionForm: selection questions answer with SelectionIdentifier, as on MTurk."""
        session = self.session(request)
        try:
            hit = await self.call("preview_hit", request.path_params["hit_id"], session.worker_id if session else None)
            blocks = parse_question_form(hit.question_xml)
        except (MarketplaceError, ValueError) as error:
            return self.error_page(request, session, 404, getattr(error, "message", str(error)))
        form = await request.form()
        posted = {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in form.keys()}
        return await self._submit(request, form, question_form_answer_xml(blocks, posted))

    async def _submit(self, request: Request, form: FormData, answer_xml: str) -> Response:
        session = self.session(request)
        assignment_id = str(form.get("assignmentId", "")).strip()
        if not assignment_id or assignment_id == PREVIEW_ASSIGNMENT_ID:
            return self.error_page(
                request,
                session,
                400,
                "This HIT is only being previewed: accept it before submitting.",
                new_session=False,
            )
        worker_id = self.submitting_worker(session, assignment_id)
        if worker_id is None:
            return self.error_page(request, session, 403, "Sign in to submit HITs.", new_session=False)
        try:
            await self.call("submit_assignment", assignment_id, worker_id, answer_xml)
            assignment = await self.call("assignment_for_worker", assignment_id, worker_id)
        except MarketplaceError as error:
            return self.error_page(request, session, error_status(error), error.message, new_session=False)
        return self.render(request, session, "submitted.html", new_session=False, assignment=assignment)

    # worker pages ---------------------------------------------------------------------
    async def dashboard(self, request: Request) -> Response:
        session = self.session(request)
        if session is None or session.worker_id is None:
            return self.signin_redirect(request)
        board = await self.call("worker_dashboard", session.worker_id)
        active = await self.call("worker_assignments", session.worker_id, True)
        teams = await self.call("worker_teams", session.worker_id)
        return self.render(request, session, "dashboard.html", board=board, active=active, teams=teams)

    async def profile(self, request: Request) -> Response:
        posted = await self.worker_post(request, "edit your profile")
        if isinstance(posted, Response):
            return posted
        session, _, form = posted
        country = str(form.get("country", "")).strip().upper()
        subdivision = str(form.get("subdivision", "")).strip().upper() or None
        if len(country) != 2 or not country.isalpha():
            return self.error_page(request, session, 400, "Country: a two-letter ISO 3166-1 code such as US.")
        try:
            await self.call("set_worker_profile", session.worker_id, country, subdivision)
        except MarketplaceError as error:
            return self.error_page(request, session, error_status(error), error.message)
        return self.redirect(request, session, "/dashboard")

    async def qualifications(self, request: Request) -> Response:
        session = self.session(request)
        if session is None or session.worker_id is None:
            return self.signin_redirect(request)
        types = await self.call("list_requestable_qualifications", session.worker_id)
        return self.render(request, session, "qualifications.html", types=types)

    async def _qualification_type(self, worker_id: str, type_id: str) -> Any | None:
        types = await self.call("list_requestable_qualifications", worker_id)
        return next((t for t in types if t.id == type_id), None)

    async def qualification_test(self, request: Request) -> Response:
        session = self.session(request)
        if session is None or session.worker_id is None:
            return self.signin_redirect(request)
        qtype = await self._qualification_type(session.worker_id, request.path_params["qualification_type_id"])
        if qtype is None or not qtype.has_test or not qtype.test_xml:
            return self.error_page(request, session, 404, "This qualification has no test to take.")
        try:
            blocks = parse_question_form(qtype.test_xml)
        except ValueError as error:
            return self.error_page(request, session, 500, f"The test cannot be shown: {error}")
        return self.render(
            request,
            session,
            "question_form.html",
            blocks=blocks,
            title=f"Qualification test: {qtype.name}",
            action=f"/qualifications/{qtype.id}/request",
            assignment_id=None,
            preview=False,
            hidden={"csrf_token": session.csrf_token},
            submit_label="Submit test",
        )

    async def request_qualification(self, request: Request) -> Response:
        posted = await self.worker_post(request, "request qualifications")
        if isinstance(posted, Response):
            return posted
        session, _, form = posted
        type_id = request.path_params["qualification_type_id"]
        qtype = await self._qualification_type(session.worker_id, type_id)
        if qtype is None:
            return self.error_page(request, session, 404, f"No requestable qualification type {type_id}.")
        answer_xml = None
        if qtype.has_test and qtype.test_xml:
            posted = {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in form.keys()}
            answer_xml = question_form_answer_xml(parse_question_form(qtype.test_xml), posted)
        try:
            await self.call("request_qualification", session.worker_id, type_id, answer_xml)
        except MarketplaceError as error:
            return self.error_page(request, session, error_status(error), error.message)
        return self.redirect(request, session, "/qualifications")

    # files of local jobs --------------------------------------------------------------
    async def local_file(self, request: Request) -> Response:
        """Files under config.file_roots only; anything else (or a symlink out) is 404, a malformed path 400."""
        raw = request.path_params["path"]
        if "\x00" in raw:
            return Response("Bad Request: the path contains a NUL character.", status_code=400, media_type="text/plain")
        try:
            candidate = Path("/" + raw.lstrip("/")).resolve()
            for root in self.file_roots:
                if candidate.is_relative_to(root) and candidate.is_file():
                    return FileResponse(candidate)
        except (OSError, ValueError, RuntimeError):  # a name too long, a loop of links (RuntimeError), no access
            pass
        return Response("Not Found", status_code=404, media_type="text/plain")


def build_routes(marketplace: Marketplace, config: MarketplaceConfig) -> list[Route | Mount]:
    """The worker site's routes, for `create_app` to mount beside the requester API."""
    site = WorkerSite(marketplace, config)
    return [
        Route("/", site.groups, methods=["GET"], name="groups"),
        Route("/signup", site.limited(site.signup, SITE_FORM_LIMITS), methods=["GET", "POST"], name="signup"),
        Route("/signin", site.limited(site.signin, SITE_FORM_LIMITS), methods=["GET", "POST"], name="signin"),
        Route("/signout", site.limited(site.signout, SITE_FORM_LIMITS), methods=["POST"], name="signout"),
        Route("/projects/{hit_type_id}/preview", site.preview, methods=["GET"], name="preview"),
        Route(
            "/projects/{hit_type_id}/accept",
            site.limited(site.accept_group, SITE_FORM_LIMITS),
            methods=["POST"],
            name="accept_group",
        ),
        Route(
            "/hits/{hit_id}/accept",
            site.limited(site.accept_hit, SITE_FORM_LIMITS),
            methods=["POST"],
            name="accept_hit",
        ),
        Route("/hits/{hit_id}/question", site.question, methods=["GET"], name="question"),
        Route(
            "/hits/{hit_id}/questionform",
            site.limited(site.question_form_submit, ANSWER_LIMITS, cross_site=True),
            methods=["POST"],
            name="question_form_submit",
        ),
        Route("/tasks/{assignment_id}", site.task, methods=["GET"], name="task"),
        Route(
            "/tasks/{assignment_id}/return",
            site.limited(site.return_task, SITE_FORM_LIMITS),
            methods=["POST"],
            name="return_task",
        ),
        Route(
            "/mturk/externalSubmit",
            site.limited(site.external_submit, ANSWER_LIMITS, cross_site=True),
            methods=["POST"],
            name="external_submit",
        ),
        Route("/dashboard", site.dashboard, methods=["GET"], name="dashboard"),
        Route("/profile", site.limited(site.profile, SITE_FORM_LIMITS), methods=["POST"], name="profile"),
        Route("/qualifications", site.qualifications, methods=["GET"], name="qualifications"),
        Route(
            "/qualifications/{qualification_type_id}",
            site.qualification_test,
            methods=["GET"],
            name="qualification_test",
        ),
        Route(
            "/qualifications/{qualification_type_id}/request",
            site.limited(site.request_qualification, SITE_FORM_LIMITS),
            methods=["POST"],
            name="request_qualification",
        ),
        Route("/join", site.join_form, methods=["GET"], name="join_form"),
        Route("/join/{code}", site.join_page, methods=["GET"], name="join_page"),
        Route(
            "/join/{code}/accept", site.limited(site.join_team, SITE_FORM_LIMITS), methods=["POST"], name="join_team"
        ),
        Route("/local-files/{path:path}", site.local_file, methods=["GET"], name="local_file"),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
