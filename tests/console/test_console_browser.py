"""The requester console in headless Chromium, over a real job on the embedded marketplace.

What the console does at the marketplace is checked there, through boto3 (GetAssignment,
ListWorkerBlocks), and what it records through the broker DB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import expect
from sqlmodel import select
from typer.testing import CliRunner

from broker.cli import app
from broker.console import ConsoleConfig, start_in_thread
from broker.store import reading
from broker.store.tables import Bonus
from tests.console.conftest import HONEST, SPAMMER, keep_screenshot
from tests.engine.conftest import engine, market, settings  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
JOB = "test-job"


def _assignment_status(client, assignment_id: str) -> tuple[str, str | None]:
    assignment = client.get_assignment(AssignmentId=assignment_id)["Assignment"]
    return assignment["AssignmentStatus"], assignment.get("RequesterFeedback")


def _statuses(client, market) -> dict[str, str]:
    return {aid: _assignment_status(client, aid)[0] for aid in market.marketplace.assignments}


def _flash(page) -> str:
    return page.locator("p.flash").inner_text()


# ----------------------------------------------------------------------------------------- the command


def test_broker_console_prints_its_url_and_refuses_requests_without_the_token(waiting_job, tmp_path):
    db = waiting_job.settings.db_url.removeprefix("sqlite:///")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")} | {"PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "broker.cli", "--db", db, "console", "--port", "0"]
    process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("console at http://127.0.0.1:") and "/?token=" in line, line
        url = line.removeprefix("console at ")
        base = url.split("/?", 1)[0]
        with httpx.Client(base_url=base) as anonymous:
            assert anonymous.get("/").status_code == 401
            assert anonymous.get("/api/jobs").status_code == 401
            assert anonymous.get(f"/jobs/{JOB}/review").status_code == 401
            assert anonymous.get("/?token=not-the-token").status_code == 403
            assert anonymous.post(f"/jobs/{JOB}/review", data={"approve_all": "1"}).status_code == 401
        with httpx.Client(base_url=base) as requester:
            opened = requester.get(url)
            assert opened.status_code == 303 and opened.headers["location"] == "/"  # the token leaves the URL
            cookie = opened.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie
            jobs = requester.get("/api/jobs").json()
            assert [(j["name"], j["answered"], j["awaiting_review"]) for j in jobs] == [(JOB, 6, 18)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert {a.status for a in waiting_job.market.marketplace.assignments.values()} == {"Submitted"}


def test_broker_console_without_a_db_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")} | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "console", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no broker DB at broker.db" in lines[0]
    assert not (tmp_path / "broker.db").exists()


# ----------------------------------------------------------------------------------------- pages


def test_token_csrf_jobs_page_and_object_page(console, waiting_job, page, screenshots):
    refused = page.goto(console.base_url + "/")
    assert refused.status == 401 and "broker console" in page.inner_text("#error-message")
    assert page.goto(console.base_url + "/?token=wrong").status == 403

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.set_viewport_size({"width": 1400, "height": 800})
    assert page.goto(console.url).status == 200
    assert urlparse(page.url).query == ""  # the token is not left in the address bar
    row = page.locator(f'#jobs tr[data-job="{JOB}"]')
    assert row.locator('[data-field="published"]').inner_text() == "6/6"
    assert row.locator('[data-field="answered"]').inner_text() == "6"
    assert row.locator('[data-field="consolidated"]').inner_text() == "6"
    assert row.locator('[data-field="awaiting_review"]').inner_text() == "18"
    assert row.locator('[data-field="spent"]').inner_text() == "$0.00"  # nothing approved yet
    keep_screenshot(page, screenshots, "console-jobs.png")

    # CSRF: a post with the session cookie but without (or with a wrong) token changes nothing
    for form in ({"approve_all": "1"}, {"approve_all": "1", "csrf_token": "forged"}):
        response = page.request.post(f"{console.base_url}/jobs/{JOB}/review", form=form, max_redirects=0)
        assert response.status == 403
    blocked = page.request.post(f"{console.base_url}/workers/{SPAMMER}/block", form={"reason": "x"}, max_redirects=0)
    assert blocked.status == 403
    assert set(_statuses(waiting_job.client, waiting_job.market).values()) == {"Submitted"}
    assert waiting_job.client.list_worker_blocks()["WorkerBlocks"] == []

    # live: an answer approved elsewhere (`broker review --approve`) shows without reloading the page
    settings = waiting_job.settings
    env = {"BROKER_DB_URL": settings.db_url, "BROKER_LOCAL_ENDPOINT_URL": settings.local_endpoint_url}
    queue = json.loads(CliRunner().invoke(app, ["review", JOB, "--json"], env=env).output)
    last = next(item["assignment_id"] for item in queue if item["object_index"] == 5)
    assert CliRunner().invoke(app, ["review", JOB, "--approve", last], env=env).exit_code == 0
    cell = f'#jobs tr[data-job="{JOB}"] [data-field="awaiting_review"]'
    page.wait_for_function(f"document.querySelector('{cell}').textContent === '17'", timeout=15_000)
    assert row.locator('[data-field="spent"]').inner_text() == "$0.06"  # reward 5 cents + the 1 cent minimum fee
    assert "live " in page.inner_text("#live")

    page.goto(f"{console.base_url}/jobs/{JOB}")
    assert page.locator("#objects tbody tr").count() == 6
    assert page.locator('#job-progress [data-field="consolidated"]').inner_text() == "6"
    keep_screenshot(page, screenshots, "console-job.png")

    page.goto(f"{console.base_url}/jobs/{JOB}/objects/0")
    truth = waiting_job.files.truth
    red_image = next(src for src, label in truth.items() if src.endswith("img-0.png"))
    assert truth[red_image] == "red"
    assert page.inner_text("#consolidated-label") == "red"
    answers = page.locator("#answers tbody tr")
    assert answers.count() == 3
    by_worker = {answers.nth(i).get_attribute("data-worker"): answers.nth(i).inner_text() for i in range(3)}
    assert set(by_worker) == {*HONEST, SPAMMER}
    assert all("red" in text and "Submitted" not in text for text in by_worker.values())
    assert all("pending" in text for text in by_worker.values())
    frame = page.frame_locator("#hit-frame")
    classifier = frame.locator("crowd-image-classifier")
    classifier.wait_for(timeout=15_000)
    source = classifier.get_attribute("src")
    assert source.startswith("/files/") and source.endswith("img-0.png")  # served by the console, signed
    image = frame.locator("img.crowd-image")
    expect(image).to_have_js_property("naturalWidth", 8)  # the 8x8 PNG loaded inside the sandboxed frame
    assert "could not be loaded" not in frame.locator("crowd-image-classifier").inner_text()
    forged = page.request.get(console.base_url + source.replace("/files/", "/files/0", 1))
    assert forged.status == 404  # a path without the console's signature is not served
    assert page.request.get(console.base_url + source).status == 200
    assert page.locator("#hit-frame").get_attribute("sandbox") == "allow-scripts"
    keep_screenshot(page, screenshots, "console-object.png")
    hosts = {urlparse(url).hostname for url in requests if url.startswith("http")}
    assert hosts <= {"127.0.0.1"}, hosts  # nothing leaves this machine (the HIT's images come from the marketplace)


def test_review_queue_keys_and_by_rule_change_the_assignments_at_the_marketplace(
    console, waiting_job, page, screenshots
):
    client, market = waiting_job.client, waiting_job.market
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(console.url.replace("/?", f"/jobs/{JOB}/review?"))
    rows = page.locator("#queue tr.item")
    assert rows.count() == 18
    first = rows.nth(0).get_attribute("data-assignment")
    assert "current" in rows.nth(0).get_attribute("class")

    with page.expect_navigation():  # each action posts the form and comes back to the queue
        page.keyboard.press("a")  # approve the current answer
    assert _flash(page) == "1 approved, 0 rejected"
    assert _assignment_status(client, first)[0] == "Approved"
    assert page.locator("#queue tr.item").count() == 17

    second = rows.nth(0).get_attribute("data-assignment")
    page.keyboard.press("r")  # no reason yet: nothing is sent, the reason field takes the focus
    assert page.evaluate("document.activeElement.id") == "reason"
    assert _assignment_status(client, second)[0] == "Submitted"
    page.keyboard.type("The label does not match the image.")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("k")
    with page.expect_navigation():
        page.keyboard.press("r")
    assert _flash(page) == "0 approved, 1 rejected"
    assert _assignment_status(client, second) == ("Rejected", "The label does not match the image.")

    # by rule: every answer of one worker, with the reason sent to each
    page.goto(f"{console.base_url}/jobs/{JOB}/review?worker={SPAMMER}")
    assert page.locator("#queue tr.item").count() == 6
    keep_screenshot(page, screenshots, "console-review.png")
    page.fill("#reason", "You answered red for every image.")
    with page.expect_navigation():
        page.click("#reject-all")
    assert _flash(page) == "0 approved, 6 rejected"
    spammer = [a for a in market.marketplace.assignments.values() if a.worker_id == SPAMMER]
    for assignment in spammer:
        assert _assignment_status(client, assignment.id) == ("Rejected", "You answered red for every image.")
    assert page.locator("#queue-empty").count() == 1

    statuses = _statuses(client, market)
    assert sorted(statuses.values()).count("Approved") == 1 and sorted(statuses.values()).count("Rejected") == 7

    # the same numbers in `broker status`: the spammer, all of whose answers were rejected, is flagged
    env = {"BROKER_DB_URL": waiting_job.settings.db_url}
    shown = json.loads(CliRunner().invoke(app, ["status", JOB, "--json"], env=env).output)[0]
    assert (shown["approved"], shown["rejected"], shown["flagged_workers"]) == (1, 7, 1)
    table = CliRunner().invoke(app, ["status"], env=env).output
    assert "flagged" in table
    page.goto(f"{console.base_url}/")
    assert page.locator(f'#jobs tr[data-job="{JOB}"] [data-field="flagged_workers"]').inner_text() == "1"

    # the worker table shows the rejected worker as such, flagged with the reason
    page.goto(f"{console.base_url}/workers?job={JOB}")
    row = page.locator(f"#worker-{SPAMMER}")
    assert "flagged" in row.get_attribute("class")
    assert row.locator('[data-field="status"]').inner_text().startswith("rejected")
    flags = row.locator('[data-field="flags"]').inner_text()
    assert flags == "all 6 answers rejected: You answered red for every image."
    assert page.locator("#workers tr.flagged").count() == 1
    keep_screenshot(page, screenshots, "console-workers-flagged.png")


def test_worker_table_blocks_and_a_bonus_with_the_marketplace_down_records_nothing(
    console, waiting_job, page, screenshots
):
    client, market = waiting_job.client, waiting_job.market
    page.set_viewport_size({"width": 1500, "height": 900})
    page.goto(console.url.replace("/?", f"/workers?job={JOB}&"))
    rows = page.locator("#workers tbody tr")
    assert rows.count() == 3
    for worker in (*HONEST, SPAMMER):
        row = page.locator(f"#worker-{worker}")
        assert row.locator('[data-field="status"]').inner_text() == "active"
        assert row.locator("td").nth(1).inner_text() == "6"
    accuracy = page.locator(f'#worker-{HONEST[0]} [data-field="accuracy"]').inner_text()
    assert "(" in accuracy and "–" in accuracy  # the estimate with its interval

    spammer = page.locator(f"#worker-{SPAMMER}")
    spammer.locator("form.block-form input[name=reason]").fill("Answers unrelated to the images.")
    with page.expect_navigation():
        spammer.locator("button.block").click()
    assert _flash(page) == f"blocked {SPAMMER}"
    blocks = client.list_worker_blocks()["WorkerBlocks"]
    assert [(b["WorkerId"], b["Reason"]) for b in blocks] == [(SPAMMER, "Answers unrelated to the images.")]
    status = page.locator(f'#worker-{SPAMMER} [data-field="status"]').inner_text()
    assert status.startswith("blocked") and "Answers unrelated to the images." in status
    assert page.locator(f"#worker-{SPAMMER} button.unblock").count() == 1
    keep_screenshot(page, screenshots, "console-workers.png")

    with page.expect_navigation():
        page.locator(f"#worker-{SPAMMER} button.unblock").click()
    assert _flash(page) == f"unblocked {SPAMMER}"
    assert client.list_worker_blocks()["WorkerBlocks"] == []
    assert page.locator(f'#worker-{SPAMMER} [data-field="status"]').inner_text() == "active"

    other = page.locator(f"#worker-{HONEST[1]}")
    other.locator("summary").click()
    other.locator("form.message-form input[name=subject]").fill("New batch")
    other.locator("form.message-form input[name=body]").fill("More images are up today.")
    with page.expect_navigation():
        other.locator("button.message").click()
    assert _flash(page) == f"messaged {HONEST[1]}"
    assert [m["subject"] for m in market.marketplace.workers[HONEST[1]].messages] == ["New batch"]

    other = page.locator(f"#worker-{HONEST[1]}")
    other.locator("summary").click()
    paid_for = other.locator("form.bonus-form select[name=assignment_id]").input_value()
    other.locator("form.bonus-form input[name=amount]").fill("0.10")
    other.locator("form.bonus-form input[name=reason]").fill("Thanks for the care.")
    with page.expect_navigation():
        other.locator("button.bonus").click()
    assert _flash(page) == f"bonus $0.10 (+$0.02 fee) sent to {HONEST[1]}"
    assert [(b.worker_id, b.amount_cents) for b in market.marketplace.bonuses.values()] == [(HONEST[1], 10)]
    with reading(waiting_job.engine) as session:
        sent = [(b.worker_id, b.assignment_id, b.amount_cents, b.sent) for b in session.exec(select(Bonus)).all()]
    assert sent == [(HONEST[1], paid_for, 10, True)]

    market.stop()
    honest = page.locator(f"#worker-{HONEST[0]}")
    honest.locator("summary").click()
    honest.locator("form.bonus-form input[name=amount]").fill("0.25")
    honest.locator("form.bonus-form input[name=reason]").fill("Careful work, thanks.")
    with page.expect_navigation():
        honest.locator("button.bonus").click()
    flash = page.locator("p.flash.error")
    assert flash.count() == 1
    text = flash.inner_text()
    assert "\n" not in text and "cannot reach the marketplace" in text and text.startswith("bonus not sent")
    assert "Traceback" not in page.content()
    with reading(waiting_job.engine) as session:
        after = [(b.worker_id, b.assignment_id, b.amount_cents, b.sent) for b in session.exec(select(Bonus)).all()]
    assert after == sent  # a bonus that never reached MTurk is not recorded
    keep_screenshot(page, screenshots, "console-bonus-failure.png")

    # a review with the marketplace down: one line, and the answer still waits for review
    page.goto(f"{console.base_url}/jobs/{JOB}/review")
    waiting = page.locator("#queue tr.item").count()
    with page.expect_navigation():
        page.keyboard.press("a")
    flash = page.locator("p.flash.error")
    assert flash.count() == 1 and "\n" not in flash.inner_text(), flash.all_inner_texts()
    assert "cannot reach the marketplace" in flash.inner_text()
    assert page.locator("#queue tr.item").count() == waiting
    assert "Traceback" not in page.content()


def test_experiments_page_serves_the_pricing_report(tmp_path, market, settings, engine, page, screenshots):  # noqa: F811
    base = ROOT / "config" / "examples" / "pricing-base.yaml"
    spec = tmp_path / "price.yaml"
    arms = [{"name": "low", "reward": "0.01"}, {"name": "high", "reward": "0.05"}]
    spec.write_text(json.dumps({"experiment": "price", "job": str(base), "arms": arms, "objects_per_arm": 4}))
    env = {"BROKER_DB_URL": settings.db_url}
    posted = CliRunner().invoke(app, ["experiment", "pricing", str(spec), "--workdir", str(tmp_path / "arms")], env=env)
    assert posted.exit_code == 0, posted.output
    missing = tmp_path / "other.yaml"
    missing.write_text(json.dumps({"experiment": "other", "job": str(base), "arms": arms}))

    running = start_in_thread(ConsoleConfig(engine=engine, settings=settings, experiments=[spec, missing]))
    try:
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(running.url.replace("/?", "/experiments?"))
        links = page.locator("#experiments a")
        assert [links.nth(i).inner_text() for i in range(2)] == [str(spec), str(missing)]
        with page.expect_navigation():
            links.nth(0).click()
        text = page.inner_text("body")
        assert "Pricing experiment price" in text and "Recommendation" in text
        cells = page.locator("table td").all_inner_texts()
        assert "low" in cells and "high" in cells  # a row per arm
        assert page.locator("svg").count() >= 3  # the report's plots
        keep_screenshot(page, screenshots, "console-experiment.png")
        page.goto(f"{running.base_url}/experiments/1")  # its arms were never posted: one line, no traceback
        assert "arm low has no job 'other-low'" in page.inner_text("#error-message")
    finally:
        running.stop()
