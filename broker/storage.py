"""Reading and writing job files on local disk or S3, behind one set of functions.

A URI is either `s3://bucket/key` (boto3, with the settings' endpoint, profile and region, so
tests can point it at moto's server) or a local path (`file://` accepted). Local writes are
atomic (temp file + rename): a crash never leaves half an output manifest.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# SigV4 presigning: SigV2 presigned URLs are refused by every region opened since 2014.
S3_CONFIG = Config(
    signature_version="s3v4",
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=10,
    read_timeout=60,
)
DEFAULT_PRESIGN_SECONDS = 3600

_clients: dict[tuple[str | None, str | None, str], BaseClient] = {}
_clients_lock = threading.Lock()


class StorageError(Exception):
    """A file could not be read or written; the message names the URI."""


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def is_url(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def split_s3(uri: str) -> tuple[str, str]:
    """'s3://bucket/a/b.jpg' -> ('bucket', 'a/b.jpg')."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"{uri}: not an s3://bucket/key URI")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    """A local path or file:// URI as a Path."""
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    return Path(uri).expanduser()


def resolve_local(value: str, base_dir: str | Path | None) -> str:
    """s3:// and http(s):// stay as they are; a relative local path is made absolute against base_dir."""
    if is_s3(value) or is_url(value):
        return value
    path = local_path(value)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return str(path.resolve()) if path.is_absolute() else str(path)


def join_uri(base: str, *parts: str) -> str:
    """Join path segments onto a local path or an s3:// prefix."""
    if is_s3(base):
        pieces = [base.rstrip("/")] + [part.strip("/") for part in parts if part]
        return "/".join(pieces)
    return str(local_path(base).joinpath(*parts))


def s3_client(settings: Any = None) -> BaseClient:
    """One cached S3 client per (endpoint, profile, region); boto3 clients are thread-safe."""
    endpoint = getattr(settings, "s3_endpoint_url", None) or None
    profile = getattr(settings, "aws_profile", None) or None
    region = getattr(settings, "aws_region", None) or "us-east-1"
    key = (endpoint, profile, region)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            client = session.client("s3", endpoint_url=endpoint, config=S3_CONFIG)
            _clients[key] = client
        return client


def forget_clients() -> None:
    """Drop cached clients (tests that start a fresh moto server)."""
    with _clients_lock:
        _clients.clear()


def read_bytes(uri: str, settings: Any = None) -> bytes:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        try:
            return s3_client(settings).get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            reason = "not found" if code in ("NoSuchKey", "404", "NoSuchBucket") else str(error)
            raise StorageError(f"{uri}: {reason}") from error
        except BotoCoreError as error:
            raise StorageError(f"{uri}: {error}") from error
    path = local_path(uri)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise StorageError(f"{uri}: not found") from None
    except OSError as error:
        raise StorageError(f"{uri}: {error.strerror or error}") from error


def read_text(uri: str, settings: Any = None) -> str:
    data = read_bytes(uri, settings)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StorageError(f"{uri}: not UTF-8 text (byte {error.start})") from error


def write_bytes(
    uri: str, data: bytes, settings: Any = None, *, content_type: str | None = None, durable: bool = True
) -> None:
    """Write a whole object; a local file is replaced atomically, parent folders are created.

    `durable=False` skips the per-file fsync: for batches of many small files, followed by one
    `sync_local_writes()` before anything records them as written.
    """
    if is_s3(uri):
        bucket, key = split_s3(uri)
        extra = {"ContentType": content_type} if content_type else {}
        try:
            s3_client(settings).put_object(Bucket=bucket, Key=key, Body=data, **extra)
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"{uri}: {error}") from error
        return
    path = local_path(uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as temp:
                temp.write(data)
                temp.flush()
                if durable:
                    os.fsync(temp.fileno())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise StorageError(f"{uri}: {error.strerror or error}") from error


def write_text(
    uri: str, text: str, settings: Any = None, *, content_type: str | None = None, durable: bool = True
) -> None:
    write_bytes(uri, text.encode("utf-8"), settings, content_type=content_type, durable=durable)


def sync_local_writes() -> None:
    """Flush every non-durable local write to disk at once (one sync instead of one fsync per file)."""
    os.sync()


def exists(uri: str, settings: Any = None) -> bool:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        try:
            s3_client(settings).head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StorageError(f"{uri}: {error}") from error
    return local_path(uri).exists()


def list_uris(prefix: str, settings: Any = None) -> list[str]:
    """Every file under a local folder or s3:// prefix (all pages), sorted."""
    if is_s3(prefix):
        bucket, key = split_s3(prefix)
        paginator = s3_client(settings).get_paginator("list_objects_v2")
        found = [
            f"s3://{bucket}/{item['Key']}"
            for page in paginator.paginate(Bucket=bucket, Prefix=key)
            for item in page.get("Contents", [])
        ]
        return sorted(found)
    root = local_path(prefix)
    return sorted(str(path) for path in root.rglob("*") if path.is_file()) if root.is_dir() else []


def presign_url(uri: str, settings: Any = None, *, expires_in: int = DEFAULT_PRESIGN_SECONDS) -> str:
    """A URL a browser can open: presigned GET for s3://, file:// for a local path, URLs unchanged."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        return s3_client(settings).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )
    if is_url(uri) or uri.startswith("file://"):
        return uri
    return local_path(uri).resolve().as_uri()


def local_files_url(path: str, worker_site_url: str) -> str:
    """The local marketplace serves files under its file_roots at /local-files/{absolute path}."""
    absolute = str(local_path(path).resolve())
    return f"{worker_site_url.rstrip('/')}/local-files/{quote(absolute.lstrip('/'))}"


def grant_read_access_for(
    settings: Any = None,
    *,
    worker_site_url: str | None = None,
    base_dir: str | Path | None = None,
    expires_in: int = DEFAULT_PRESIGN_SECONDS,
) -> Callable[[str], str]:
    """Ground Truth's `grant_read_access` filter: s3:// -> presigned URL; a local file -> the local
    marketplace's /local-files/ URL when `worker_site_url` is given, else a file:// URL."""

    def grant(uri: str) -> str:
        if not isinstance(uri, str) or not uri:
            return uri
        if is_s3(uri):
            return presign_url(uri, settings, expires_in=expires_in)
        if is_url(uri):
            return uri
        path = resolve_local(uri, base_dir)
        if worker_site_url:
            return local_files_url(path, worker_site_url)
        return presign_url(path, settings)

    return grant
