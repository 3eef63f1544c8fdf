"""Private teams on the worker site over HTTP: invite sign-up, joining signed in, invite-only sign-up,
guessing limits, a team HIT hidden from and refused to non-members, and forwarded headers from proxies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.server import RunningMarketplace, start_in_thread
from broker.marketplace.worker_site.signin_limits import INVITE_FAILURES

from .site_helpers import FRAME, WebWorker, create_hit
from .team_helpers import invite_code, make_team, team_requirement

PASSWORD = "correct horse battery"


def sign_up_with(worker: WebWorker, username: str, code: str):
    """The invite page's sign-up form, posted (to /signup, with the code in its `invite` field)."""
    return worker.post("/signup", {"username": username, "password": PASSWORD, "confirm": PASSWORD, "invite": code})


def worker_id_of(worker: WebWorker) -> str:
    match = re.search(r'data-worker-id="([^"]+)"', worker.http.get("/").text)
    assert match, "not signed in"
    return match.group(1)


def test_a_team_hit_is_seen_and_worked_by_members_only(market, mturk, web) -> None:
    make_team(market, mturk)
    code = invite_code(market)
    hit_type_id, hit_id = create_hit(mturk, QualificationRequirements=[team_requirement(mturk)], max_assignments=3)
    _, public_hit = create_hit(mturk, Title="Open to everyone")

    outsider, member = web(), web()
    outsider.sign_up("outsider")
    page = member.http.get(f"/join/{code}")
    assert page.status_code == 200 and 'id="team-name">annotators<' in page.text
    signed_up = sign_up_with(member, "member", code)
    assert signed_up.status_code == 303 and signed_up.headers["location"] == "/"
    member_id = worker_id_of(member)

    assert hit_type_id in member.http.get("/").text
    listing = outsider.http.get("/").text
    assert hit_type_id not in listing and "Open to everyone" in listing
    assert hit_type_id not in web().http.get("/").text  # nor to a visitor who is not signed in
    for response in (
        outsider.http.get(f"/projects/{hit_type_id}/preview"),
        outsider.http.get(f"/hits/{hit_id}/question"),
        outsider.accept_group(hit_type_id),
        outsider.accept_hit(hit_id),
    ):
        assert response.status_code == 403, response.text
        assert "crowd-broker team: annotators" in response.text
    assert mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"] == []

    assignment_id = member.accepted_assignment(member.accept_group(hit_type_id))
    _, params = member.frame_params(member.http.get(f"/tasks/{assignment_id}").text)
    submitted = member.submit([("assignmentId", params["assignmentId"]), ("category", "cat")])
    assert submitted.status_code == 200
    [assignment] = mturk.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert (assignment["WorkerId"], assignment["AssignmentStatus"]) == (member_id, "Submitted")
    assert "annotators" in member.http.get("/dashboard").text


def test_a_signed_in_worker_joins_with_a_typed_code_and_a_csrf_token(market, mturk, web) -> None:
    make_team(market, mturk)
    code = invite_code(market)
    hit_type_id, _ = create_hit(mturk, QualificationRequirements=[team_requirement(mturk)])
    worker = web()
    worker.sign_up("already-here")
    assert hit_type_id not in worker.http.get("/").text

    typed = worker.http.get("/join", params={"code": f" {code.lower().replace('-', '')} "})
    assert typed.status_code == 303 and typed.headers["location"] == f"/join/{code.replace('-', '')}"
    page = worker.http.get(typed.headers["location"])
    assert 'id="join-form"' in page.text and 'id="signup-form"' not in page.text
    forged = worker.post(f"/join/{code}/accept", {}, csrf=False)
    assert forged.status_code == 403 and hit_type_id not in worker.http.get("/").text
    joined = worker.post(f"/join/{code}/accept", {})
    assert joined.status_code == 303 and hit_type_id in worker.http.get("/").text
    assert 'id="already-member"' in worker.http.get(f"/join/{code}").text  # an invite with no use left still shows

    latecomer = web()
    latecomer.sign_up("latecomer")
    refused = latecomer.http.get(f"/join/{code}")  # its one use is spent
    assert refused.status_code == 404 and "used already" in refused.text


def test_a_bad_invite_leaves_no_account_behind(market, mturk, web) -> None:
    make_team(market, mturk)
    code = invite_code(market)
    market.marketplace.revoke_team_invite(market.marketplace.list_team_invites("annotators")[0].invite_id)
    worker = web()
    for bad in (code, "ZZZZ-ZZZZ-ZZZZ"):
        response = sign_up_with(worker, "hopeful", bad)
        assert response.status_code == 404
        assert 'id="error-message"' in response.text
    assert not market.marketplace.workers  # no account was made for either


@pytest.fixture()
def private_site() -> Iterator[RunningMarketplace]:
    with start_in_thread(MarketplaceConfig(db_path=":memory:", invite_only=True)) as running:
        yield running


def test_an_invite_only_site_signs_up_invited_workers_only(private_site) -> None:
    mturk = private_site.client()
    make_team(private_site, mturk)
    code = invite_code(private_site)
    uninvited, invited = WebWorker(private_site.worker_site_url), WebWorker(private_site.worker_site_url)
    try:
        assert 'id="invite-only"' in uninvited.http.get("/signup").text
        refused = uninvited.post("/signup", {"username": "drifter", "password": PASSWORD, "confirm": PASSWORD})
        assert refused.status_code == 403 and "by invitation only" in refused.text
        assert sign_up_with(invited, "invited", code).status_code == 303
        assert private_site.marketplace.worker_teams(worker_id_of(invited)) == ["annotators"]
        assert len(private_site.marketplace.workers) == 1
    finally:
        uninvited.close()
        invited.close()


def test_wrong_codes_lock_out_an_address_but_not_another(market, mturk, web) -> None:
    """Behind a trusted proxy (loopback here) the client's own address, from X-Forwarded-For, is limited."""
    make_team(market, mturk)
    code = invite_code(market)
    guesser = web()
    guesser.http.headers["X-Forwarded-For"] = "203.0.113.7"
    for n in range(INVITE_FAILURES - 1):
        assert guesser.http.get(f"/join/ZZZZ-ZZZZ-{n:04d}").status_code == 404
    assert guesser.http.get("/join/ZZZZ-ZZZZ-ZZZZ").status_code == 429  # the limit's wrong code starts the lockout
    locked = guesser.http.get(f"/join/{code}")  # the right code included
    assert locked.status_code == 429 and "Too many invalid invite codes" in locked.text
    neighbour = web()
    neighbour.http.headers["X-Forwarded-For"] = "198.51.100.4"
    assert neighbour.http.get(f"/join/{code}").status_code == 200
    direct = web()  # a loopback peer without forwarded headers (the simulated crowd) is not limited by address
    assert direct.http.get(f"/join/{code}").status_code == 200


def _frame_submit_to(worker: WebWorker, hit_type_id: str, headers: dict[str, str]) -> str:
    assignment_id = worker.accepted_assignment(worker.accept_group(hit_type_id))
    page = worker.http.get(f"/tasks/{assignment_id}", headers=headers).text
    src = FRAME.search(page).group(1).replace("&amp;", "&")
    return parse_qs(urlsplit(src).query)["turkSubmitTo"][0]


def test_a_trusted_proxy_sets_scheme_and_host_of_the_urls_the_site_builds(market, mturk, web) -> None:
    hit_type_id, _ = create_hit(mturk, max_assignments=2)
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "work.example.org", "X-Forwarded-For": "203.0.113.9"}
    worker = web()
    worker.sign_up("proxied")
    assert _frame_submit_to(worker, hit_type_id, proxied) == "https://work.example.org"
    # a new visitor's session cookie is Secure when they came through https, and only then
    assert "secure" in cookie_attributes(web().http.get("/signin", headers=proxied))
    assert "secure" not in cookie_attributes(web().http.get("/signin"))


def cookie_attributes(response) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in response.headers["set-cookie"].split(";")[1:]}


def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    config = MarketplaceConfig(db_path=":memory:", forwarded_allow_ips=["10.9.9.9"])  # loopback not trusted
    with start_in_thread(config) as running:
        mturk = running.client()
        hit_type_id, _ = create_hit(mturk)
        worker = WebWorker(running.worker_site_url)
        try:
            worker.sign_up("direct")
            spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
            assert _frame_submit_to(worker, hit_type_id, spoofed) == running.worker_site_url
        finally:
            worker.close()
