"""Fixtures of the front-half tests: job folders with specs and manifests, and moto's S3 server."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from broker import storage
from broker.settings import Settings, load_settings

from .helpers import EXAMPLES


@pytest.fixture()
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a text file (dedented) into the test's folder and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture()
def write_manifest(tmp_path: Path) -> Callable[..., Path]:
    """Write JSON Lines (dicts are serialised, strings written as they are)."""

    def write(rows: list[Any], name: str = "input.manifest") -> Path:
        path = tmp_path / name
        path.write_text(
            "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), encoding="utf-8"
        )
        return path

    return write


@pytest.fixture()
def image_files(tmp_path: Path) -> list[Path]:
    """Three small PNGs copied from the examples, next to the test's manifest."""
    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for name in ("red-circle.png", "blue-square.png", "blue-circle.png"):
        target = folder / name
        target.write_bytes((EXAMPLES / "images" / name).read_bytes())
        paths.append(target)
    return paths


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on a free local port, for the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture()
def s3_settings(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose S3 endpoint is moto's server, with dummy credentials and a fresh client cache."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("BROKER_SETTINGS", raising=False)
    storage.forget_clients()
    yield load_settings(s3_endpoint_url=moto_endpoint)
    storage.forget_clients()


@pytest.fixture()
def bucket(s3_settings: Settings, request: pytest.FixtureRequest) -> str:
    """A fresh bucket on moto's server, named after the test."""
    name = "front-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    name = "".join(ch for ch in name if ch.isalnum() or ch == "-")
    client = boto3.client("s3", endpoint_url=s3_settings.s3_endpoint_url, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return name
