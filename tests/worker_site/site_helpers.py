"""Worker-site test helpers: HTMLQuestion HITs and a raw-HTTP web worker."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

HTML_QUESTION_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
SIMPLE_FORM = (
    "<!DOCTYPE html><html><body><form method='post' action='/mturk/externalSubmit'>"
    "<input type='hidden' name='assignmentId' id='assignmentId' value=''>"
    "<label><input type='radio' name='category' value='cat'> cat</label>"
    "<label><input type='radio' name='category' value='dog'> dog</label>"
    "<input type='text' name='comment'>"
    "<input type='submit' id='submitButton' value='Submit'></form>"
    "<script>const p = new URLSearchParams(location.search);"
    "document.getElementById('assignmentId').value = p.get('assignmentId');"
    "document.forms[0].action = p.get('turkSubmitTo') + '/mturk/externalSubmit';</script></body></html>"
)


def html_question(html: str, frame_height: int = 450) -> str:
    return (
        f'<HTMLQuestion xmlns="{HTML_QUESTION_NS}"><HTMLContent><![CDATA[{html}]]></HTMLContent>'
        f"<FrameHeight>{frame_height}</FrameHeight></HTMLQuestion>"
    )


def create_hit(
    mturk, html: str = SIMPLE_FORM, *, reward: str = "0.05", max_assignments: int = 2, **extra
) -> tuple[str, str]:
    """(HITTypeId, HITId) of a new HTMLQuestion HIT."""
    hit = mturk.create_hit(
        Title=extra.pop("Title", "Classify an animal"),
        Description="Pick cat or dog.",
        Reward=reward,
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=86400,
        MaxAssignments=max_assignments,
        Question=extra.pop("Question", html_question(html)),
        **extra,
    )["HIT"]
    return hit["HITTypeId"], hit["HITId"]


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FRAME = re.compile(r'<iframe id="hit-frame" src="([^"]+)"')


class WebWorker:
    """A person at a browser, seen as raw HTTP: every status code is visible to the test."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.worker_id: str | None = None

    def csrf(self, path: str | None = None) -> str:
        path = path or "/signin"  # the sign-in form carries the session's token, signed in or not
        match = CSRF.search(self.http.get(path).text)
        assert match, f"no csrf token on {path}"
        return match.group(1)

    def post(self, path: str, fields: list[tuple[str, str]] | dict[str, str], csrf: bool = True) -> httpx.Response:
        pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
        if csrf:
            pairs.insert(0, ("csrf_token", self.csrf()))
        from urllib.parse import urlencode

        return self.http.post(
            path, content=urlencode(pairs), headers={"content-type": "application/x-www-form-urlencoded"}
        )

    def sign_up(self, username: str, password: str = "correct horse battery") -> str:
        response = self.post("/signup", {"username": username, "password": password, "confirm": password})
        assert response.status_code == 303, response.text
        match = re.search(r'data-worker-id="([^"]+)"', self.http.get("/").text)
        assert match
        self.worker_id = match.group(1)
        return self.worker_id

    def accept_group(self, hit_type_id: str) -> httpx.Response:
        return self.post(f"/projects/{hit_type_id}/accept", {})

    def accept_hit(self, hit_id: str) -> httpx.Response:
        return self.post(f"/hits/{hit_id}/accept", {})

    def accepted_assignment(self, response: httpx.Response) -> str:
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith("/tasks/")
        return location.removeprefix("/tasks/")

    def frame_params(self, page_html: str) -> tuple[str, dict[str, str]]:
        match = FRAME.search(page_html)
        assert match, "no hit-frame iframe"
        src = match.group(1).replace("&amp;", "&")
        return src, {k: v[0] for k, v in parse_qs(urlsplit(src).query).items()}

    def submit(self, fields: list[tuple[str, str]]) -> httpx.Response:
        return self.post("/mturk/externalSubmit", fields, csrf=False)

    def close(self) -> None:
        self.http.close()


def browser_sign_up(page, site: str, username: str, password: str = "a long password") -> str:
    """Sign a new worker up in a Playwright page on the worker site; returns the WorkerId."""
    page.goto(f"{site}/signup")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.fill("input[name=confirm]", password)
    page.click("#signup-form button[type=submit]")
    page.wait_for_url(f"{site}/")
    return page.get_attribute("#worker-id", "data-worker-id")
