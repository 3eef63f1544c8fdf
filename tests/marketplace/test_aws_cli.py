"""The AWS CLI (`aws mturk ...`) against the embedded marketplace, for a requester's everyday calls.

The CLI runs as a separate process with its own temporary config and credentials files, signing
with the marketplace's keys and sent to it by --endpoint-url: nothing reaches AWS.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.marketplace.conftest import ANSWER_XML, HTML_QUESTION

pytestmark = pytest.mark.skipif(importlib.util.find_spec("awscli") is None, reason="awscli is not installed")


class AwsCli:
    """`aws mturk <command>` for one running marketplace, under a throw-away AWS profile."""

    def __init__(self, server: Any, home: Path) -> None:
        home.mkdir()
        (home / "config").write_text("[default]\nregion = us-east-1\noutput = json\n")
        (home / "credentials").write_text(
            f"[default]\naws_access_key_id = {server.access_key_id}\n"
            f"aws_secret_access_key = {server.secret_access_key}\n"
        )
        keep = {"PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "TMPDIR", "SYSTEMROOT"}
        self.env = {key: value for key, value in os.environ.items() if key in keep}
        self.env.update(
            AWS_CONFIG_FILE=str(home / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
            AWS_EC2_METADATA_DISABLED="true",
        )
        self.endpoint_url = server.endpoint_url
        self.home = home

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "awscli", "mturk", *args, "--endpoint-url", self.endpoint_url]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120, check=False)

    def __call__(self, *args: str) -> dict[str, Any]:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}


@pytest.fixture()
def aws(server, tmp_path: Path) -> AwsCli:
    return AwsCli(server, tmp_path / "aws-home")


def test_a_requesters_everyday_calls_through_the_aws_cli(aws, server) -> None:
    assert aws("get-account-balance")["AvailableBalance"] == "10000.00"

    question = aws.home / "question.xml"
    question.write_text(HTML_QUESTION)
    created = [
        aws(
            "create-hit",
            "--title", "Label an image",
            "--description", "Pick the animal",
            "--reward", "0.10",
            "--max-assignments", "2",
            "--assignment-duration-in-seconds", "600",
            "--lifetime-in-seconds", "3600",
            "--question", f"file://{question}",
        )["HIT"]
        for _ in range(3)
    ]  # fmt: skip
    hit_id = created[0]["HITId"]
    assert created[0]["HITStatus"] == "Assignable" and created[0]["Reward"] == "0.10"

    # the CLI follows NextToken to the end: pages of 2 give all 3 HITs
    listed = aws("list-hits", "--page-size", "2")
    assert sorted(h["HITId"] for h in listed["HITs"]) == sorted(h["HITId"] for h in created)
    got = aws("get-hit", "--hit-id", hit_id)["HIT"]
    assert got["HITId"] == hit_id and got["MaxAssignments"] == 2 and got["Title"] == "Label an image"

    market = server.marketplace  # two workers do the HIT on the marketplace's worker side
    assignments = []
    for _ in range(2):
        worker_id = market.register_worker()
        assignment_id = market.accept_hit(hit_id, worker_id)
        market.submit_assignment(assignment_id, worker_id, ANSWER_XML)
        assignments.append(assignment_id)

    submitted = aws("list-assignments-for-hit", "--hit-id", hit_id, "--assignment-statuses", "Submitted")
    assert sorted(a["AssignmentId"] for a in submitted["Assignments"]) == sorted(assignments)
    assert all(a["Answer"] == ANSWER_XML for a in submitted["Assignments"])
    reviewable = aws("list-reviewable-hits")
    assert [h["HITId"] for h in reviewable["HITs"]] == [hit_id]

    assert aws("approve-assignment", "--assignment-id", assignments[0], "--requester-feedback", "thanks") == {}
    assert aws("reject-assignment", "--assignment-id", assignments[1], "--requester-feedback", "blank") == {}
    statuses = aws("get-assignment", "--assignment-id", assignments[0])["Assignment"]["AssignmentStatus"]
    assert statuses == "Approved"
    worker_of_first = market.assignments[assignments[0]].worker_id
    bonus = ("--worker-id", worker_of_first, "--assignment-id", assignments[0], "--bonus-amount", "0.25")
    assert aws("send-bonus", *bonus, "--reason", "great work", "--unique-request-token", "bonus-1") == {}
    assert [b["BonusAmount"] for b in aws("list-bonus-payments", "--hit-id", hit_id)["BonusPayments"]] == ["0.25"]
    # 0.10 reward + 0.02 fee, 0.25 bonus + 0.05 fee
    assert aws("get-account-balance")["AvailableBalance"] == "9999.58"

    other = created[1]["HITId"]
    assert aws("update-expiration-for-hit", "--hit-id", other, "--expire-at", "0") == {}
    assert aws("delete-hit", "--hit-id", other) == {}
    assert other not in [h["HITId"] for h in aws("list-hits")["HITs"]]


def test_the_aws_cli_shows_mturks_error_for_a_missing_hit(aws) -> None:
    """Word for word what the CLI printed for real MTurk in aws/aws-cli#6116, timestamp included."""
    done = aws.run("get-hit", "--hit-id", "3NOSUCHHIT000000000000000000ZZ")
    assert done.returncode != 0 and done.stdout == ""
    assert re.search(
        r"An error occurred \(RequestError\) when calling the GetHIT operation: "
        r"Hit 3NOSUCHHIT000000000000000000ZZ does not exist\. \(\d{13}\)",
        done.stderr,
    ), done.stderr
