"""Worker-site hardening: capped answer posts, sign-in lockouts on the marketplace clock, bad file paths."""

from __future__ import annotations

import html
import os
import re
from datetime import UTC, datetime, timedelta

import httpx

from broker.marketplace.worker_site.forms import ANSWER_LIMITS
from broker.marketplace.worker_site.signin_limits import ACCOUNT_FAILURES, ADDRESS_FAILURES, LOCKOUT, SignInLimiter

from .site_helpers import create_hit

PASSWORD = "correct horse battery"
ERROR = re.compile(r'<p class="error" id="error-message">([^<]*)</p>')


def accepted(web, mturk) -> tuple[object, str, str]:
    """(worker, hit id, assignment id) of a freshly accepted HIT."""
    _, hit_id = create_hit(mturk)
    worker = web()
    worker.sign_up(f"w{os.urandom(4).hex()}")
    return worker, hit_id, worker.accepted_assignment(worker.accept_hit(hit_id))


def error_text(response: httpx.Response) -> str:
    match = ERROR.search(response.text)
    assert match, response.text[:500]
    return html.unescape(match.group(1))


def assignment_status(mturk, hit_id: str) -> list[str]:
    listed = mturk.list_assignments_for_hit(HITId=hit_id, AssignmentStatuses=["Submitted", "Approved", "Rejected"])
    return [a["AssignmentStatus"] for a in listed["Assignments"]]


# ------------------------------------------------------------------------------------- externalSubmit caps
def test_an_oversized_answer_gets_a_clear_413_page_and_stores_nothing(web, mturk) -> None:
    worker, hit_id, assignment_id = accepted(web, mturk)
    fields = [("assignmentId", assignment_id)] + [(f"f{i}", "x" * 900_000) for i in range(60)]  # 54 MB
    response = worker.submit(fields)
    assert response.status_code == 413
    assert error_text(response).startswith("This submission is ")
    assert f"at most {ANSWER_LIMITS.max_bytes:,} bytes (5 MiB) per form" in error_text(response)
    assert assignment_status(mturk, hit_id) == []  # still Accepted: nothing was submitted

    assert worker.submit([("assignmentId", assignment_id), ("category", "cat")]).status_code == 200
    assert assignment_status(mturk, hit_id) == ["Submitted"]


def test_too_many_fields_get_a_clear_400_page(web, mturk) -> None:
    worker, hit_id, assignment_id = accepted(web, mturk)
    too_many = [("assignmentId", assignment_id)] + [(f"q{i}", "1") for i in range(ANSWER_LIMITS.max_fields)]
    response = worker.submit(too_many)
    assert response.status_code == 400
    assert error_text(response) == (
        f"This form cannot be accepted: Too many fields. Maximum number of fields is {ANSWER_LIMITS.max_fields}."
    )
    assert assignment_status(mturk, hit_id) == []

    response = worker.submit(too_many[: ANSWER_LIMITS.max_fields])  # exactly at the limit
    assert response.status_code == 200
    [assignment] = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["Answer"].count("<Answer>") == ANSWER_LIMITS.max_fields - 1


def test_one_large_field_within_the_cap_is_accepted(web, mturk) -> None:
    """A segmentation mask of a big image comes as one taskAnswers field of a few MB."""
    worker, hit_id, assignment_id = accepted(web, mturk)
    mask = "A" * (3 * 1024 * 1024)
    response = worker.submit([("assignmentId", assignment_id), ("taskAnswers", mask)])
    assert response.status_code == 200, error_text(response)
    [assignment] = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert mask in assignment["Answer"]


def test_the_site_forms_are_capped_too(web) -> None:
    worker = web()
    response = worker.post("/signin", [("username", "x"), ("password", "y" * (2 * 1024 * 1024))])
    assert response.status_code == 413 and "per form" in error_text(response)


# ------------------------------------------------------------------------------------- sign-in limits
def sign_in(worker, username: str, password: str) -> httpx.Response:
    return worker.post("/signin", {"username": username, "password": password, "next": "/"})


def test_wrong_passwords_lock_the_account_until_the_marketplace_clock_passes_the_lockout(web, market) -> None:
    web().sign_up("olga", PASSWORD)
    attacker = web()
    statuses = [sign_in(attacker, "olga", f"guess-{i}").status_code for i in range(ACCOUNT_FAILURES)]
    assert statuses == [400] * (ACCOUNT_FAILURES - 1) + [429]

    locked = sign_in(web(), "OLGA", PASSWORD)  # the right password, another browser, any case of the name
    assert locked.status_code == 429
    assert error_text(locked).startswith("Too many failed sign-ins for this account. Try again after ")
    assert 0 < int(locked.headers["Retry-After"]) <= LOCKOUT.total_seconds()

    market.marketplace.clock.advance(LOCKOUT.total_seconds() + 1)
    assert sign_in(web(), "olga", PASSWORD).status_code == 303


def test_a_right_password_clears_the_count(web) -> None:
    web().sign_up("pavel", PASSWORD)
    worker = web()
    for _ in range(2):
        for i in range(ACCOUNT_FAILURES - 1):
            assert sign_in(worker, "pavel", f"typo-{i}").status_code == 400
        assert sign_in(worker, "pavel", PASSWORD).status_code == 303


def test_other_accounts_are_not_locked_by_one_accounts_failures(web) -> None:
    web().sign_up("quinn", PASSWORD)
    web().sign_up("rosa", PASSWORD)
    for i in range(ACCOUNT_FAILURES):
        sign_in(web(), "quinn", f"guess-{i}")
    assert sign_in(web(), "quinn", PASSWORD).status_code == 429
    assert sign_in(web(), "rosa", PASSWORD).status_code == 303


def test_many_failures_from_one_address_lock_that_address() -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    limiter = SignInLimiter(lambda: now)
    for i in range(ADDRESS_FAILURES - 1):
        assert limiter.failed(f"user{i}", "203.0.113.9") is None  # a different name each time
    lockout = limiter.failed("one-more", "203.0.113.9")
    assert lockout is not None and lockout.scope == "address" and lockout.until == now + LOCKOUT
    assert limiter.locked("never-tried", "203.0.113.9") == lockout
    assert limiter.locked("never-tried", "198.51.100.1") is None


def test_without_an_address_only_the_account_is_limited() -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    limiter = SignInLimiter(lambda: now)
    for i in range(ADDRESS_FAILURES * 2):
        assert limiter.failed(f"user{i}", None) is None
    assert limiter.locked("someone", None) is None


def test_loopback_peers_are_limited_per_account_only(web) -> None:
    """The simulated crowd signs in from 127.0.0.1 before signing up: many unknown names in a row."""
    web().sign_up("vera", PASSWORD)
    for i in range(ADDRESS_FAILURES + 5):
        assert sign_in(web(), f"newbot{i}", PASSWORD).status_code == 400
    assert sign_in(web(), "vera", PASSWORD).status_code == 303
    web().sign_up("newbot0", PASSWORD)


def test_failures_older_than_the_window_do_not_count() -> None:
    moments = [datetime(2026, 1, 5, tzinfo=UTC)]
    limiter = SignInLimiter(lambda: moments[-1])
    for _ in range(ACCOUNT_FAILURES - 1):
        assert limiter.failed("sam", "192.0.2.1") is None
    moments.append(moments[-1] + timedelta(minutes=16))
    assert limiter.failed("sam", "192.0.2.1") is None  # the 4 old failures have left the window
    assert limiter.locked("sam", "192.0.2.1") is None


# ------------------------------------------------------------------------------------- bad file paths
def test_bad_local_file_paths_answer_4xx_never_500(web, files_root) -> None:
    image = files_root / "img" / "a.jpg"
    image.parent.mkdir()
    image.write_bytes(b"\xff\xd8jpeg")
    (files_root / "loop").symlink_to(files_root / "loop")
    client = web().http
    assert client.get(f"/local-files{image}").status_code == 200
    assert client.get(f"/local-files{files_root}/img/a%00.jpg").status_code == 400
    for path in (
        f"{files_root}/img/{'n' * 5000}.jpg",  # a name too long for the file system
        f"{files_root}/img/{'d/' * 3000}a.jpg",  # a path too long
        f"{files_root}/img/%ff%fe.jpg",  # not UTF-8
        f"{files_root}/loop/a.jpg",  # a loop of links
        f"{files_root}/img",  # a directory
        f"{files_root}/img/..%2f..%2fsecret.txt",
    ):
        response = client.get(f"/local-files{path}")
        assert response.status_code == 404, (path[:80], response.status_code)
