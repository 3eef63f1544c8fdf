"""A bot's browser: one worker account using the worker site over HTTP, page by page.

It signs up or in, reads the HIT-group list, previews, accepts (following the 303 to the
task page), loads the HIT frame, and posts the form to `{turkSubmitTo}/mturk/externalSubmit`
with the fields the page would post. Cookies persist per bot; keep-alive connections come
from the crowd's shared pool.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from broker.marketplace.crowd.pages import Form, HitGroupRow, ParsedPage, parse_page

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
FORM_HEADERS = {"content-type": "application/x-www-form-urlencoded"}


def shared_transport(max_connections: int) -> httpx.HTTPTransport:
    """One keep-alive connection pool for many bots (cookies stay per bot, in its Client)."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.HTTPTransport(limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])


class BotError(RuntimeError):
    """The site answered a bot in a way a person would notice (an error page, a wrong status)."""


@dataclass
class HitFrame:
    """The HIT as the worker sees it inside the task page's iframe."""

    assignment_id: str
    hit_id: str
    submit_to: str  # turkSubmitTo
    frame_url: str
    html: str
    page: ParsedPage
    return_form: Form | None


def _error_text(response: httpx.Response) -> str:
    page = parse_page(response.text) if "html" in response.headers.get("content-type", "") else None
    message = page.text_ids.get("error-message") if page else None
    return (
        f"HTTP {response.status_code} {response.request.method} {response.request.url.path}: "
        f"{message or response.text[:200]}"
    )


class BotBrowser:
    def __init__(
        self, base_url: str, username: str, password: str, transport: httpx.HTTPTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.username = username
        self.password = password
        self.client = httpx.Client(
            base_url=self.base_url, timeout=TIMEOUT, follow_redirects=False, transport=transport or shared_transport(1)
        )
        self.csrf_token: str | None = None
        self.worker_id: str | None = None
        self.lock = threading.Lock()  # one thread drives a bot at a time

    def close(self) -> None:
        self.client.close()

    # ---------------------------------------------------------------- helpers
    def _remember(self, page: ParsedPage) -> ParsedPage:
        for form in page.forms:
            for control in form.fields:
                if control.name == "csrf_token" and control.value:
                    self.csrf_token = control.value
        worker = page.data.get("worker-id", {}).get("worker-id")
        if worker:
            self.worker_id = worker
        return page

    def get_page(self, path: str) -> tuple[httpx.Response, ParsedPage]:
        response = self.client.get(path)
        return response, self._remember(parse_page(response.text))

    def _post(self, path: str, data: dict[str, str] | list[tuple[str, str]]) -> httpx.Response:
        """A urlencoded form post, field order (and repeated names) kept as a browser sends them."""
        pairs = list(data.items()) if isinstance(data, dict) else data
        return self.client.post(path, content=urlencode(pairs), headers=FORM_HEADERS)

    # ---------------------------------------------------------------- accounts
    def sign_in(self) -> str:
        """Sign in, creating the account on first use; returns the WorkerId."""
        if self.worker_id:
            return self.worker_id
        self.get_page("/signin")
        response = self._post(
            "/signin",
            {"csrf_token": self.csrf_token or "", "username": self.username, "password": self.password, "next": "/"},
        )
        if response.status_code != 303:
            self.get_page("/signup")
            response = self._post(
                "/signup",
                {
                    "csrf_token": self.csrf_token or "",
                    "username": self.username,
                    "password": self.password,
                    "confirm": self.password,
                },
            )
            if response.status_code != 303:
                raise BotError(_error_text(response))
        self.get_page("/")
        if not self.worker_id:
            raise BotError(f"{self.username}: signed in but the site shows no worker id")
        return self.worker_id

    # ---------------------------------------------------------------- HITs
    def hit_groups(self) -> list[HitGroupRow]:
        response, page = self.get_page("/")
        if response.status_code != 200:
            raise BotError(_error_text(response))
        return page.groups

    def preview(self, hit_type_id: str) -> tuple[str, str, ParsedPage] | None:
        """(hit_id, frame html, parsed frame) of the group's next HIT, or None when none is left."""
        response, page = self.get_page(f"/projects/{hit_type_id}/preview")
        if response.status_code != 200 or not page.iframe_src:
            return None
        hit_id = parse_qs(urlsplit(page.iframe_src).query).get("hitId", [""])[0]
        frame = self.client.get(urljoin(self.base_url, page.iframe_src))
        if frame.status_code != 200:
            return None
        return hit_id, frame.text, parse_page(frame.text)

    def _follow_accept(self, response: httpx.Response) -> str | None:
        location = response.headers.get("location", "")
        if response.status_code == 303 and "/tasks/" in location:
            return location.rsplit("/tasks/", 1)[1]
        if response.status_code in (403, 404, 409):
            return None
        raise BotError(_error_text(response))

    def accept_next(self, hit_type_id: str) -> str | None:
        """Accept the group's next HIT; None when there is none for this worker (or not allowed)."""
        return self._follow_accept(self._post(f"/projects/{hit_type_id}/accept", {"csrf_token": self.csrf_token or ""}))

    def accept_hit(self, hit_id: str) -> str | None:
        return self._follow_accept(self._post(f"/hits/{hit_id}/accept", {"csrf_token": self.csrf_token or ""}))

    def open_task(self, assignment_id: str) -> HitFrame:
        response, page = self.get_page(f"/tasks/{assignment_id}")
        if response.status_code != 200 or not page.iframe_src:
            raise BotError(_error_text(response))
        frame_url = urljoin(self.base_url, page.iframe_src)
        params = parse_qs(urlsplit(frame_url).query)
        frame = self.client.get(frame_url, follow_redirects=True)
        if frame.status_code != 200:
            raise BotError(_error_text(frame))
        return HitFrame(
            assignment_id=assignment_id,
            hit_id=params.get("hitId", [""])[0],
            submit_to=params.get("turkSubmitTo", [self.base_url.rstrip("/")])[0],
            frame_url=str(frame.url),
            html=frame.text,
            page=parse_page(frame.text),
            return_form=page.form(action_suffix=f"/tasks/{assignment_id}/return"),
        )

    def submit(self, action: str, fields: list[tuple[str, str]]) -> None:
        response = self._post(action, fields)
        if response.status_code != 200 or "hit-submitted" not in response.text:
            raise BotError(_error_text(response))

    def return_task(self, assignment_id: str) -> None:
        response = self._post(f"/tasks/{assignment_id}/return", {"csrf_token": self.csrf_token or ""})
        if response.status_code != 303:
            raise BotError(_error_text(response))
