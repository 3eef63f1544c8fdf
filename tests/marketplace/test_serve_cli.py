"""`broker marketplace serve`: prints the endpoint and keys, serves boto3, keeps state across restarts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta

import boto3
import pytest

from broker.marketplace.clock import Clock
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.server import start_in_thread
from tests.marketplace.conftest import HTML_QUESTION


def start_serve(*args: str) -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "marketplace", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    printed: dict[str, str] = {"text": ""}
    for line in process.stdout:  # type: ignore[union-attr]
        printed["text"] += line
        if match := re.match(r"Requester API \(boto3 endpoint_url\): (\S+)", line):
            printed["endpoint"] = match.group(1)
        elif match := re.match(r"AWS_ACCESS_KEY_ID=(\S+)", line):
            printed["key"] = match.group(1)
        elif match := re.match(r"AWS_SECRET_ACCESS_KEY=(\S+)", line):
            printed["secret"] = match.group(1)
        if "State:" in line:
            break
    return process, printed


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_serve_prints_what_to_use_and_answers_boto3(tmp_path):
    process, printed = start_serve(
        "--db",
        str(tmp_path / "cli.sqlite3"),
        "--balance",
        "12.34",
        "--access-key-id",
        "AKIACLITEST",
        "--secret-access-key",
        "cli-secret",
    )
    try:
        assert printed["key"] == "AKIACLITEST" and printed["secret"] == "cli-secret"
        mturk = boto3.client(
            "mturk",
            endpoint_url=printed["endpoint"],
            region_name="us-east-1",
            aws_access_key_id=printed["key"],
            aws_secret_access_key=printed["secret"],
        )
        assert mturk.get_account_balance()["AvailableBalance"] == "12.34"  # the socket listens before the banner
    finally:
        stop(process)


def test_default_keys_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETPLACE_ACCESS_KEY_ID", "AKIAFROMENV")
    process, printed = start_serve("--db", str(tmp_path / "env.sqlite3"))
    try:
        assert printed["key"] == "AKIAFROMENV"
    finally:
        stop(process)


def test_state_survives_a_server_restart(tmp_path):
    config = MarketplaceConfig(db_path=str(tmp_path / "restart.sqlite3"))
    with start_in_thread(config) as first:
        mturk = first.client()
        hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=60)[
            "HITTypeId"
        ]
        hit = mturk.create_hit_with_hit_type(HITTypeId=hit_type_id, LifetimeInSeconds=600, Question=HTML_QUESTION)[
            "HIT"
        ]
        worker = first.marketplace.register_worker()
        first.marketplace.accept_hit(hit["HITId"], worker)
    with start_in_thread(config) as second:
        again = second.client().get_hit(HITId=hit["HITId"])["HIT"]
        assert again["HITStatus"] == "Unassignable" and again["NumberOfAssignmentsPending"] == 1
        assert second.marketplace.worker_assignments(worker)[0].hit_id == hit["HITId"]


def test_clock_is_aware_utc_and_moves_forward_only():
    clock = Clock(speed=1.0)
    before = clock.now()
    assert before.utcoffset() == timedelta(0)
    assert clock.advance(3600) - before >= timedelta(seconds=3600)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        Clock(speed=0)


def test_serve_prints_the_public_url_and_refuses_bad_proxy_settings(tmp_path):
    process, printed = start_serve("--db", str(tmp_path / "p.sqlite3"), "--public-url", "https://work.example.org/")
    stop(process)
    assert "Worker site (public):               https://work.example.org/\n" in printed["text"]
    for flag, value, wording in (
        ("--forwarded-allow-ips", "10.0.0.1,proxy.example", "'proxy.example' is not an IP address or network"),
        ("--public-url", "work.example.org", "give the site's address, e.g. https://work.example.org"),
    ):
        refused = subprocess.run(
            [sys.executable, "-m", "broker.cli", "marketplace", "serve", "--port", "0", flag, value],
            capture_output=True,
            text=True,
            timeout=60,
        )
        said = " ".join(refused.stderr.replace("│", " ").split())  # typer's box wraps long lines
        assert refused.returncode == 2 and wording in said, said
        assert "Traceback" not in refused.stderr
