"""Sign-up, sign-in, sign-out, sessions and CSRF on the worker site."""

from __future__ import annotations

import re

from broker.marketplace.worker_site.passwords import hash_password, verify_password
from broker.marketplace.worker_site.routes import safe_next

from .site_helpers import create_hit


def test_password_hashes_are_salted_and_verify() -> None:
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("s3cret-pass", first)
    assert not verify_password("s3cret-pasS", first)
    assert not verify_password("s3cret-pass", "not-a-hash")


def test_sign_up_sign_out_sign_in(web) -> None:
    alice = web()
    worker_id = alice.sign_up("alice")
    assert re.fullmatch(r"A[0-9A-Z]{13}", worker_id)
    assert "alice (" in alice.http.get("/").text

    assert alice.post("/signout", {}).status_code == 303
    assert alice.http.get("/dashboard").status_code == 303  # signed out: sent to sign in

    wrong = alice.post("/signin", {"username": "alice", "password": "wrong password!"})
    assert wrong.status_code == 400 and "wrong password" in wrong.text
    right = alice.post("/signin", {"username": "alice", "password": "correct horse battery", "next": "/dashboard"})
    assert right.status_code == 303 and right.headers["location"] == "/dashboard"
    assert f'data-worker-id="{worker_id}"' in alice.http.get("/dashboard").text


def test_sign_up_rejects_taken_username_and_bad_fields(web) -> None:
    web().sign_up("bob")
    again = web().post("/signup", {"username": "BOB", "password": "long enough", "confirm": "long enough"})
    assert again.status_code == 400 and "already taken" in again.text
    short = web().post("/signup", {"username": "carol", "password": "short", "confirm": "short"})
    assert short.status_code == 400 and "Password" in short.text
    mismatch = web().post("/signup", {"username": "carol", "password": "long enough", "confirm": "long enouhg"})
    assert mismatch.status_code == 400 and "confirmation" in mismatch.text


def test_sign_in_issues_a_new_session_token(web) -> None:
    dave = web()
    dave.sign_up("dave")
    before = dave.http.cookies.get("cb_session")
    dave.post("/signout", {})
    dave.post("/signin", {"username": "dave", "password": "correct horse battery"})
    assert dave.http.cookies.get("cb_session") not in (None, before)


def test_posts_without_a_valid_csrf_token_are_refused(web, mturk) -> None:
    hit_type_id, _ = create_hit(mturk)
    erin = web()
    erin.sign_up("erin")
    missing = erin.post(f"/projects/{hit_type_id}/accept", {}, csrf=False)
    forged = erin.post(f"/projects/{hit_type_id}/accept", {"csrf_token": "forged"}, csrf=False)
    assert missing.status_code == 403 and forged.status_code == 403
    assert "CSRF" in missing.text

    other = web()
    other.sign_up("frank")
    stolen = other.csrf()  # a valid token, but of another session
    cross = erin.post(f"/projects/{hit_type_id}/accept", {"csrf_token": stolen}, csrf=False)
    assert cross.status_code == 403
    assert erin.http.get("/dashboard").text.count("/tasks/") == 0  # nothing was accepted

    signup = web().post(
        "/signup", {"username": "gina", "password": "long enough", "confirm": "long enough"}, csrf=False
    )
    assert signup.status_code == 403


def test_sign_in_redirect_stays_on_the_site() -> None:
    assert safe_next("/dashboard") == "/dashboard"
    for hostile in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "", None):
        assert safe_next(hostile) == "/"
