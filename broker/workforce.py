"""The embedded marketplace's workforce API: private teams and their invites.

MTurk has no operation for inviting workers, so the local marketplace adds a few of its own
(`X-Amz-Target: CrowdBrokerWorkforce20240601.<Operation>`) on the requester endpoint, signed
with the requester's keys exactly as boto3 signs MTurk calls. Everything else about a team goes
through MTurk's API: a team's members hold its qualification type (broker.teams).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError
from botocore.httpsession import URLLib3Session

TARGET_PREFIX = "CrowdBrokerWorkforce20240601"
SIGNING_NAME = "mturk-requester"  # the requester endpoint's credential scope
CONTENT_TYPE = "application/x-amz-json-1.1"
TIMEOUT_SECONDS = 30


class WorkforceError(Exception):
    """A refused or failed workforce call; the message is one line for the requester."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class WorkforceClient:
    """Signed JSON calls to one marketplace's workforce API (`target`: a broker.mturk.MarketplaceTarget)."""

    def __init__(self, target: Any) -> None:
        if not getattr(target, "is_local", False) or not target.access_key_id or not target.secret_access_key:
            raise WorkforceError(
                f"marketplace {target.name}: invites need the embedded marketplace's worker site; on MTurk "
                "a team's members are added by WorkerId (broker team add NAME WORKER_ID)"
            )
        self.endpoint_url = str(target.endpoint_url).rstrip("/")
        self.region = target.region
        self.credentials = Credentials(target.access_key_id, target.secret_access_key)
        self.session = URLLib3Session(timeout=TIMEOUT_SECONDS)

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        request = AWSRequest(
            method="POST",
            url=self.endpoint_url + "/",
            data=json.dumps(params).encode("utf-8"),
            headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"{TARGET_PREFIX}.{operation}"},
        )
        SigV4Auth(self.credentials, SIGNING_NAME, self.region).add_auth(request)
        try:
            response = self.session.send(request.prepare())
        except BotoCoreError as error:
            raise WorkforceError(f"cannot reach the marketplace at {self.endpoint_url}: {error}") from error
        try:
            document = json.loads(response.content or b"{}")
        except json.JSONDecodeError as error:
            raise WorkforceError(
                f"{self.endpoint_url} answered HTTP {response.status_code} without JSON (not the embedded marketplace?)"
            ) from error
        if response.status_code >= 400:
            code = str(document.get("TurkErrorCode") or document.get("__type") or response.status_code)
            message = str(document.get("Message") or document.get("message") or "")
            if code == "UnknownOperationException":
                message = f"{self.endpoint_url} has no workforce API (not the embedded marketplace?)"
            raise WorkforceError(message, code)
        return document
