"""`broker team create|invite|list|members|add|remove` and `broker report workers --team` on the
embedded marketplace: what they print, and one-line errors for what cannot be done."""

from __future__ import annotations

import html
import json
import re

from typer.testing import CliRunner

from broker.cli import app
from broker.daemon import run_cycle
from broker.stages.submit import submit_job
from tests.engine.conftest import task_answers_xml, write_job

runner = CliRunner()
MEMBER = "AWORKERONE0001"


def _env(settings) -> dict[str, str]:
    return {"BROKER_DB_URL": settings.db_url, "BROKER_LOCAL_ENDPOINT_URL": settings.local_endpoint_url}


def _run(settings, *args: str):
    return runner.invoke(app, list(args), env=_env(settings))


def _one_error_line(result) -> str:
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_team_commands_create_invite_list_and_manage_members(settings, engine, market):
    created = _run(settings, "team", "create", "annotators")
    assert created.exit_code == 0, created.output
    type_id = re.search(r"qualification type (\w+), 0 members", created.output).group(1)
    again = _run(settings, "team", "create", "annotators")  # found again, not made twice
    assert f"qualification type {type_id}, 0 members" in again.output

    invited = _run(settings, "team", "invite", "annotators", "--uses", "2", "--expires", "1h")
    assert invited.exit_code == 0, invited.output
    code = re.search(r"^code: (\w{4}-\w{4}-\w{4})$", invited.output, re.M).group(1)
    assert f"link: {market.worker_site_url}/join/{code}" in invited.output
    assert "team annotators, 2 use(s), expires " in invited.output
    assert market.marketplace.team_for_invite(code).name == "annotators"

    listed = _run(settings, "team", "list")
    assert re.search(rf"annotators\s*│\s*0\s*│\s*1\s*│\s*{type_id}", listed.output), listed.output

    assert _run(settings, "team", "add", "annotators", MEMBER).exit_code == 0
    assert _run(settings, "team", "members", "annotators").output.split() == [MEMBER]
    assert _run(settings, "team", "remove", "annotators", MEMBER).exit_code == 0
    assert _run(settings, "team", "members", "annotators").output.split() == []


def test_team_commands_fail_in_one_line(settings, engine, market):
    assert _run(settings, "team", "create", "annotators").exit_code == 0
    assert "no team named nobody (create it with: broker team create nobody)" in _one_error_line(
        _run(settings, "team", "invite", "nobody")
    )
    assert "team name 'bad name': 1-63 letters" in _one_error_line(_run(settings, "team", "create", "bad name"))
    assert "--expires: not a duration: 'soon'" in _one_error_line(
        _run(settings, "team", "invite", "annotators", "--expires", "soon")
    )
    assert "ExpiresInSeconds must be from 60 seconds to 365 days" in _one_error_line(
        _run(settings, "team", "invite", "annotators", "--expires", "400d")
    )
    assert "marketplace sandbox: invites need the embedded marketplace's worker site" in _one_error_line(
        _run(settings, "team", "invite", "annotators", "--marketplace", "sandbox")
    )
    assert "no team named nobody" in _one_error_line(_run(settings, "team", "add", "nobody", MEMBER))
    assert "--team: no job names team annotators" in _one_error_line(
        _run(settings, "report", "workers", "--team", "annotators")
    )
    assert "give one of: a job name, --all, --team NAME" in _one_error_line(
        _run(settings, "report", "workers", "--all", "--team", "annotators")
    )


def test_report_workers_by_team_counts_the_team_jobs_only(tmp_path, settings, engine, market):
    team_job = write_job(tmp_path / "team", "text-classification", 2, name="team-job", workers_per_object=1)
    spec = team_job.spec_path.read_text() + "workforce: {team: annotators}\n"
    team_job.spec_path.write_text(spec)
    crowd_job = write_job(tmp_path / "crowd", "text-classification", 2, name="crowd-job", workers_per_object=1)
    submit_job(team_job.spec_path, engine, settings)
    submit_job(crowd_job.spec_path, engine, settings)
    assert _run(settings, "team", "create", "annotators").exit_code == 0
    assert _run(settings, "team", "add", "annotators", MEMBER).exit_code == 0
    assert run_cycle(engine, settings, ticks=("publish",)).errors == []

    marketplace = market.marketplace
    truth = {**team_job.truth, **crowd_job.truth}
    for worker in ("AWORKERTWO0002", MEMBER):  # the crowd's worker first: the member is left the team's HITs
        if worker not in marketplace.workers:
            marketplace.register_worker(worker)
        for group in marketplace.list_hit_groups(worker):
            while (hit_id := marketplace.next_hit_for_worker(group.hit_type_id, worker)) is not None:
                page = marketplace.preview_hit(hit_id, worker).html_content
                block = json.loads(html.unescape(re.search(r'id="crowd-task-input">(.*?)</script>', page, re.S)[1]))
                assignment = marketplace.accept_hit(hit_id, worker)
                answer = [{block["name"]: {"label": truth[block["dataObject"]["source"]]}}]
                marketplace.submit_assignment(assignment, worker, task_answers_xml(answer))
    for _ in range(3):
        assert run_cycle(engine, settings).errors == []

    report = _run(settings, "report", "workers", "--team", "annotators", "--csv", str(tmp_path / "team.csv"))
    assert report.exit_code == 0, report.output
    assert "workers of team annotators (jobs team-job)" in report.output.replace("\n", "")
    rows = (tmp_path / "team.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"{MEMBER},2,2,0,")  # the member's 2 answers, both approved
    everyone = _run(settings, "report", "workers", "--all", "--csv", str(tmp_path / "all.csv"))
    assert everyone.exit_code == 0 and len((tmp_path / "all.csv").read_text().splitlines()) == 3
