"""A private team's job through the daemon's ticks: publishing waits, with a one-line reason, until the
team exists; then only the team's member, who joined by an invite on the worker site, sees and works
the HITs over HTTP; the broker collects, reviews and consolidates them, and the team's worker report
counts that member's work."""

from __future__ import annotations

import html
import json
import re

from sqlmodel import Session, select

from broker import mturk
from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus
from broker.reports.workers import team_jobs, worker_report
from broker.stages.submit import submit_job
from broker.store.tables import Event, Hit, Job
from broker.store.views import all_jobs
from broker.teams import create_team, invite, list_teams
from tests.engine.conftest import write_job
from tests.worker_site.site_helpers import WebWorker

PASSWORD = "correct horse battery"


def _task_input(page_html: str) -> dict:
    match = re.search(r'<script type="application/json" id="crowd-task-input">(.*?)</script>', page_html, re.S)
    assert match, "no crowd-task-input block in the HIT"
    return json.loads(html.unescape(match.group(1)))


def _work_every_hit(worker: WebWorker, truth: dict) -> int:
    """Accept the worker's HIT groups until none is left, answering each HIT with its true label."""
    done = 0
    while (match := re.search(r'data-hit-type-id="([^"]+)"', worker.http.get("/").text)) is not None:
        assignment_id = worker.accepted_assignment(worker.accept_group(match.group(1)))
        src, params = worker.frame_params(worker.http.get(f"/tasks/{assignment_id}").text)
        block = _task_input(worker.http.get(src).text)
        data = block["dataObject"]
        answer = [{block.get("name") or block.get("element"): {"label": truth[data.get("source")]}}]
        posted = worker.submit([("assignmentId", params["assignmentId"]), ("taskAnswers", json.dumps(answer))])
        assert posted.status_code == 200, posted.text
        done += 1
    return done


def test_a_team_job_is_worked_by_its_member_only_through_the_daemon(tmp_path, market, settings, engine):
    files = write_job(
        tmp_path / "job",
        "text-classification",
        4,
        name="team-job",
        workers_per_object=1,
        workforce={"team": "annotators"},
    )
    job_id = submit_job(files.spec_path, engine, settings).job_id

    waiting = run_cycle(engine, settings, ticks=("publish",))
    [reason] = [error for error in waiting.errors if "workforce.team" in error]
    assert reason.endswith(
        "workforce.team: no team named annotators on marketplace local (create it with: broker team create annotators)"
    )
    assert "\n" not in reason
    with Session(engine) as session:
        assert session.exec(select(Hit)).all() == []
        assert any("no team named annotators" in e.message for e in session.exec(select(Event)).all())

    target = mturk.resolve_target("local", settings)
    client = mturk.client_for(target)
    team = create_team(client, target, "annotators")
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []
    with Session(engine) as session:
        assert len(session.exec(select(Hit)).all()) == 4
    [hit_type] = market.marketplace.hit_types.values()
    assert {
        "QualificationTypeId": team.qualification_type_id,
        "Comparator": "Exists",
        "ActionsGuarded": "DiscoverPreviewAndAccept",
    } in hit_type.qualification_requirements

    outsider, member = WebWorker(market.worker_site_url), WebWorker(market.worker_site_url)
    try:
        outsider.sign_up("outsider")
        assert _work_every_hit(outsider, files.truth) == 0  # nothing listed for a non-member
        code = invite(target, "annotators").code
        assert member.http.get(f"/join/{code}").status_code == 200
        joined = member.post(
            "/signup", {"username": "member", "password": PASSWORD, "confirm": PASSWORD, "invite": code}
        )
        assert joined.status_code == 303
        member_id = re.search(r'data-worker-id="([^"]+)"', member.http.get("/").text).group(1)
        assert _work_every_hit(member, files.truth) == 4
    finally:
        outsider.close()
        member.close()

    for _ in range(4):
        assert run_cycle(engine, settings).errors == []
        with Session(engine) as session:
            if session.get(Job, job_id).status == JobStatus.COMPLETED:
                break
    with Session(engine) as session:
        assert session.get(Job, job_id).status == JobStatus.COMPLETED
    assert {a.worker_id for a in market.marketplace.assignments.values()} == {member_id}
    assert sorted(a.status for a in market.marketplace.assignments.values()) == ["Approved"] * 4

    manifest = files.output_dir / "team-job" / "manifests" / "output" / "output.manifest"
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == 4
    assert all(line["team-job-metadata"]["class-name"] == files.truth[line["source"]] for line in lines)

    [listed] = list_teams(client, target)
    assert (listed.name, listed.members, listed.open_invites) == ("annotators", 1, 0)
    with Session(engine) as session:
        jobs = team_jobs(all_jobs(session), "annotators")
        assert [job.name for job in jobs] == ["team-job"]
        assert team_jobs(all_jobs(session), "reviewers") == []
        rows = worker_report(session, jobs).rows
    assert [(row.worker_id, row.assignments, row.approved) for row in rows] == [(member_id, 4, 4)]
