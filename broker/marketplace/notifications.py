"""MTurk event notifications delivered to SQS (or SNS) through boto3, off the request thread.

Message bodies are MTurk's: {"Events": [{"EventType", "EventTimestamp", "HITId", "AssignmentId",
"HITTypeId"}], "EventDocId", "SourceAccount", "CustomerId", "EventDocVersion"}.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.core import Event, Notifier
from broker.marketplace.errors import ValidationFailed

log = logging.getLogger(__name__)
SUPPORTED_VERSIONS = ("2006-05-05", "2014-08-15")
TEST_ONLY_EVENTS = ("Ping",)
BACKGROUND_ATTEMPTS = 5  # queued events: retried with backoff off the request thread
TEST_ATTEMPTS = 2  # SendTestEventNotification answers the caller, so it fails fast


class NotificationFailed(Exception):
    """A notification could not be delivered to its destination."""


def validate_specification(specification: dict[str, Any], allow_ping: bool = False) -> None:
    """MTurk's checks on a NotificationSpecification, naming the bad field."""
    transport = specification["Transport"]
    destination = specification["Destination"]
    if transport == "SQS":
        parts = urlsplit(destination)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.count("/") < 2:
            raise ValidationFailed(f"Notification.Destination {destination!r} is not an SQS queue URL.")
    elif transport == "SNS":
        if not destination.startswith("arn:aws:sns:") or destination.count(":") < 5:
            raise ValidationFailed(f"Notification.Destination {destination!r} is not an SNS topic ARN.")
    elif transport == "Email":
        if "@" not in destination:
            raise ValidationFailed(f"Notification.Destination {destination!r} is not an email address.")
    if specification["Version"] not in SUPPORTED_VERSIONS:
        raise ValidationFailed(
            f"Notification.Version {specification['Version']!r} is not supported; "
            f"use one of {', '.join(SUPPORTED_VERSIONS)}."
        )
    event_types = specification["EventTypes"]
    if not event_types:
        raise ValidationFailed("Notification.EventTypes must list at least one event type.")
    if not allow_ping and any(event in TEST_ONLY_EVENTS for event in event_types):
        raise ValidationFailed("The Ping event is only valid for SendTestEventNotification.")


def event_document(events: list[Event], version: str, config: MarketplaceConfig) -> dict[str, Any]:
    """The JSON document MTurk puts in the message body."""
    entries = []
    for event in events:
        entry: dict[str, Any] = {
            "EventType": event.event_type,
            "EventTimestamp": event.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if event.hit_id:
            entry["HITId"] = event.hit_id
        if event.assignment_id:
            entry["AssignmentId"] = event.assignment_id
        entry["HITTypeId"] = event.hit_type_id
        entries.append(entry)
    digest = hashlib.sha1(json.dumps(entries, sort_keys=True).encode()).hexdigest()
    return {
        "Events": entries,
        "EventDocId": digest,
        "SourceAccount": config.requester_account_id,
        "CustomerId": "A" + hashlib.sha1(config.access_key_id.encode()).hexdigest()[:12].upper(),
        "EventDocVersion": version,
    }


class AwsNotifier(Notifier):
    """Sends event documents with boto3 on one background thread; `flush()` waits for them."""

    def __init__(self, config: MarketplaceConfig, endpoint_url: str | None = None) -> None:
        self.config = config
        self.endpoint_url = endpoint_url
        self.emails: list[tuple[str, dict[str, Any]]] = []
        self._clients: dict[tuple[str, str | None, str, int], Any] = {}
        self._clients_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mturk-notify")
        self._pending: list[Future[None]] = []
        self._random = random.Random(config.faults.seed)
        self.delivered = 0
        self.dropped = 0
        self.failed = 0

    def _client(self, service: str, endpoint_url: str | None, region: str, attempts: int) -> Any:
        key = (service, endpoint_url, region, attempts)
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = boto3.client(
                    service,
                    endpoint_url=endpoint_url,
                    region_name=region,
                    aws_access_key_id=self.config.notification_access_key_id,
                    aws_secret_access_key=self.config.notification_secret_access_key,
                    config=BotoConfig(
                        retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=5, read_timeout=10
                    ),
                )
            return self._clients[key]

    def _endpoint_for_queue(self, queue_url: str) -> tuple[str | None, str]:
        parts = urlsplit(queue_url)
        host = parts.hostname or ""
        if host.endswith(".amazonaws.com"):
            labels = host.split(".")
            region = labels[1] if len(labels) > 3 else self.config.region
            return self.endpoint_url, region
        return self.endpoint_url or f"{parts.scheme}://{parts.netloc}", self.config.region

    def send(self, specification: dict[str, Any], events: list[Event], attempts: int = BACKGROUND_ATTEMPTS) -> None:
        """Deliver now, on the caller's thread; raises NotificationFailed."""
        document = event_document(events, specification["Version"], self.config)
        body = json.dumps(document)
        transport, destination = specification["Transport"], specification["Destination"]
        try:
            if transport == "SQS":
                endpoint, region = self._endpoint_for_queue(destination)
                self._client("sqs", endpoint, region, attempts).send_message(QueueUrl=destination, MessageBody=body)
            elif transport == "SNS":
                region = destination.split(":")[3] or self.config.region
                self._client("sns", self.endpoint_url, region, attempts).publish(TopicArn=destination, Message=body)
            else:
                self.emails.append((destination, document))
                log.info("notification email to %s: %s", destination, body)
        except (BotoCoreError, ClientError) as error:
            self.failed += 1
            raise NotificationFailed(f"Could not deliver to {transport} {destination}: {error}") from error
        self.delivered += 1

    def deliver(self, specification: dict[str, Any], events: list[Event], test: bool = False) -> None:
        if test:
            self.send(specification, events, attempts=TEST_ATTEMPTS)
            return
        if self._random.random() < self.config.faults.drop_notification_probability:
            self.dropped += 1
            return
        self._pending.append(self._executor.submit(self._send_logged, specification, events))

    def _send_logged(self, specification: dict[str, Any], events: list[Event]) -> None:
        try:
            self.send(specification, events)
        except NotificationFailed as error:
            log.warning("%s", error)

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every queued notification has been attempted."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result(timeout=timeout)

    def close(self) -> None:
        self.flush()
        self._executor.shutdown(wait=True)
