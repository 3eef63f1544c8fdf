"""SQS queues through boto3: streaming input, output queues and MTurk's event notifications.

A queue is named either `sqs://NAME` (looked up with GetQueueUrl at the settings' SQS endpoint)
or by its queue URL. A URL on a host other than AWS (a local moto server, an SQS-compatible
service) is reached at that host, as MTurk itself does when it delivers a notification.
Messages are received in batches of up to 10 and deleted in batches after their effect is
committed, so delivery is at least once; callers make handling a message twice harmless.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

SQS_SCHEME = "sqs://"
SQS_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=20)
MAX_BATCH = 10  # SQS: at most 10 messages per ReceiveMessage / DeleteMessageBatch / SendMessageBatch

_clients: dict[tuple[str | None, str | None, str], BaseClient] = {}
_urls: dict[tuple[str | None, str], str] = {}
_lock = threading.Lock()


class QueueError(Exception):
    """A queue could not be reached or used; the message names the queue."""


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str


def is_queue(uri: str) -> bool:
    """`sqs://NAME`, or an http(s) URL whose path is /ACCOUNT/NAME (an SQS queue URL)."""
    if uri.startswith(SQS_SCHEME):
        return len(uri) > len(SQS_SCHEME) and "/" not in uri[len(SQS_SCHEME) :]
    parts = urlsplit(uri)
    segments = [segment for segment in parts.path.split("/") if segment]
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(segments) == 2


def queue_problem(uri: str) -> str | None:
    """Why `uri` cannot name a queue, or None."""
    if is_queue(uri):
        return None
    return f"{uri!r} is not a queue: give sqs://QUEUE-NAME or a queue URL (http(s)://HOST/ACCOUNT/QUEUE-NAME)"


def _endpoint(uri: str, settings: Any) -> str | None:
    configured = getattr(settings, "sqs_endpoint_url", None) or None
    if uri.startswith(SQS_SCHEME):
        return configured
    parts = urlsplit(uri)
    if (parts.hostname or "").endswith(".amazonaws.com"):
        return configured
    return f"{parts.scheme}://{parts.netloc}"


def sqs_client(uri: str, settings: Any = None) -> BaseClient:
    """One cached client per (endpoint, profile, region); boto3 clients are thread-safe."""
    endpoint = _endpoint(uri, settings)
    profile = getattr(settings, "aws_profile", None) or None
    region = getattr(settings, "aws_region", None) or "us-east-1"
    key = (endpoint, profile, region)
    with _lock:
        client = _clients.get(key)
        if client is None:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            client = session.client("sqs", endpoint_url=endpoint, config=SQS_CONFIG)
            _clients[key] = client
        return client


def forget_clients() -> None:
    """Drop cached clients and queue URLs (tests that start a fresh moto server)."""
    with _lock:
        _clients.clear()
        _urls.clear()


def queue_url(uri: str, settings: Any = None) -> str:
    """The queue URL of `uri` (GetQueueUrl once per sqs://NAME)."""
    if not uri.startswith(SQS_SCHEME):
        return uri
    endpoint = _endpoint(uri, settings)
    with _lock:
        known = _urls.get((endpoint, uri))
    if known:
        return known
    try:
        url = sqs_client(uri, settings).get_queue_url(QueueName=uri[len(SQS_SCHEME) :])["QueueUrl"]
    except (BotoCoreError, ClientError) as error:
        raise QueueError(f"{uri}: {_describe(error)}") from error
    with _lock:
        _urls[(endpoint, uri)] = url
    return url


def receive(uri: str, settings: Any = None, *, limit: int = MAX_BATCH) -> list[Message]:
    """Up to `limit` messages (short poll: returns at once when the queue is empty)."""
    if limit <= 0:
        return []
    url = queue_url(uri, settings)
    try:
        response = sqs_client(uri, settings).receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(limit, MAX_BATCH), WaitTimeSeconds=0
        )
    except (BotoCoreError, ClientError) as error:
        raise QueueError(f"{uri}: {_describe(error)}") from error
    return [Message(m["MessageId"], m["ReceiptHandle"], m.get("Body", "")) for m in response.get("Messages", [])]


def delete(uri: str, messages: Iterable[Message], settings: Any = None) -> None:
    """Delete handled messages, 10 per call; a message that fails comes back and is handled again (harmless)."""
    batch = list(messages)
    url = queue_url(uri, settings)
    client = sqs_client(uri, settings)
    for start in range(0, len(batch), MAX_BATCH):
        entries = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(batch[start : start + MAX_BATCH])
        ]
        try:
            client.delete_message_batch(QueueUrl=url, Entries=entries)
        except (BotoCoreError, ClientError) as error:
            raise QueueError(f"{uri}: {_describe(error)}") from error


def send(uri: str, bodies: list[str], settings: Any = None) -> None:
    """Send message bodies, 10 per call; raises QueueError naming the queue when any is refused."""
    url = queue_url(uri, settings)
    client = sqs_client(uri, settings)
    for start in range(0, len(bodies), MAX_BATCH):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + MAX_BATCH])]
        try:
            response = client.send_message_batch(QueueUrl=url, Entries=entries)
        except (BotoCoreError, ClientError) as error:
            raise QueueError(f"{uri}: {_describe(error)}") from error
        if response.get("Failed"):
            failure = response["Failed"][0]
            raise QueueError(f"{uri}: {failure.get('Code')}: {failure.get('Message')}")


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"{detail.get('Code', 'Error')}: {detail.get('Message', '')}".strip()
    return str(error)
