"""Local and s3:// storage; S3 goes through moto's server over HTTP."""

from __future__ import annotations

import json

import httpx
import pytest

from broker import storage
from broker.manifest import ManifestError, read_manifest
from broker.storage import (
    StorageError,
    grant_read_access_for,
    join_uri,
    list_uris,
    presign_url,
    read_text,
    resolve_local,
    write_bytes,
    write_text,
)


def test_local_write_is_atomic_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "file.txt"
    write_text(str(target), "first")
    write_text(str(target), "second")
    assert target.read_text() == "second"
    assert [path.name for path in target.parent.iterdir()] == ["file.txt"]  # no temp files left behind
    assert read_text(f"file://{target}") == "second"


def test_local_read_errors_name_the_uri(tmp_path):
    with pytest.raises(StorageError, match="missing.txt: not found"):
        read_text(str(tmp_path / "missing.txt"))
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(StorageError, match="not UTF-8"):
        read_text(str(tmp_path / "latin1.txt"))


def test_join_and_resolve(tmp_path):
    assert join_uri("s3://bucket/prefix/", "job", "manifests/output", "output.manifest") == (
        "s3://bucket/prefix/job/manifests/output/output.manifest"
    )
    assert join_uri(str(tmp_path), "job", "x.json") == str(tmp_path / "job" / "x.json")
    assert resolve_local("s3://b/k", tmp_path) == "s3://b/k"
    assert resolve_local("https://x/y.png", tmp_path) == "https://x/y.png"
    assert resolve_local("img/a.png", tmp_path) == str(tmp_path / "img" / "a.png")


def test_grant_read_access_for_local_files(tmp_path):
    image = tmp_path / "a b.png"
    image.write_bytes(b"png")
    assert grant_read_access_for()(str(image)) == image.as_uri()
    via_site = grant_read_access_for(worker_site_url="http://127.0.0.1:8433/")(str(image))
    assert via_site == f"http://127.0.0.1:8433/local-files/{str(image).lstrip('/').replace(' ', '%20')}"
    assert grant_read_access_for()("https://example.org/x.png") == "https://example.org/x.png"


def test_s3_round_trip_through_moto(s3_settings, bucket):
    uri = f"s3://{bucket}/jobs/one/data.json"
    write_text(uri, json.dumps({"ok": True}), s3_settings)
    assert json.loads(read_text(uri, s3_settings)) == {"ok": True}
    assert storage.exists(uri, s3_settings) and not storage.exists(uri + ".nope", s3_settings)
    write_bytes(f"s3://{bucket}/jobs/two.bin", b"\x00\x01", s3_settings)
    assert list_uris(f"s3://{bucket}/jobs/", s3_settings) == [
        f"s3://{bucket}/jobs/one/data.json",
        f"s3://{bucket}/jobs/two.bin",
    ]


def test_s3_missing_key_names_the_uri(s3_settings, bucket):
    with pytest.raises(StorageError, match=rf"s3://{bucket}/absent.manifest: not found"):
        read_text(f"s3://{bucket}/absent.manifest", s3_settings)


def test_presigned_url_fetches_the_object(s3_settings, bucket):
    uri = f"s3://{bucket}/images/cat.png"
    write_bytes(uri, b"\x89PNG fake", s3_settings)
    url = presign_url(uri, s3_settings, expires_in=600)
    assert url.startswith(s3_settings.s3_endpoint_url) and "Signature" in url
    assert httpx.get(url).content == b"\x89PNG fake"
    assert grant_read_access_for(s3_settings)(uri).split("?")[0] == url.split("?")[0]


def test_manifest_from_s3(s3_settings, bucket):
    rows = [{"source-ref": f"s3://{bucket}/img/{index}.jpg", "n": index} for index in range(3)]
    uri = f"s3://{bucket}/input.manifest"
    write_text(uri, "".join(json.dumps(row) + "\n" for row in rows), s3_settings)
    lines, rejected = read_manifest(uri, settings=s3_settings)
    assert [line.data for line in lines] == rows and rejected == []
    write_text(uri, '{"source-ref": "s3://b/k"}\n{"oops": 1}\n', s3_settings)
    with pytest.raises(ManifestError) as caught:
        read_manifest(uri, settings=s3_settings)
    assert [(issue.file, issue.line) for issue in caught.value.issues] == [(uri, 2)]


def test_bad_s3_uri():
    with pytest.raises(StorageError, match="not an s3://bucket/key URI"):
        storage.split_s3("s3:///nobucket")
