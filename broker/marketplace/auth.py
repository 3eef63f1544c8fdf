"""SigV4 verification of requester calls against the configured access keys.

The canonical request and signature are recomputed with botocore's own SigV4Auth, so the
marketplace accepts exactly what boto3 signs; failures answer as AWS JSON services do.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from broker.marketplace.errors import WireError

SERVICE_NAME = "mturk-requester"
AUTH_PATTERN = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]+)$"
)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class SignedRequest:
    """What verification needs from an HTTP request (no framework types)."""

    method: str
    host: str
    raw_path: str
    query_string: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


def _parse_authorization(header: str | None) -> tuple[list[str], list[str], str]:
    if not header:
        raise WireError("MissingAuthenticationTokenException", "Request is missing Authentication Token", 400)
    match = AUTH_PATTERN.match(header.strip())
    if match is None:
        raise WireError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters "
            "with the AWS4-HMAC-SHA256 algorithm.",
            400,
        )
    credential = match["credential"].split("/")
    if len(credential) != 5:
        raise WireError("IncompleteSignatureException", f"Credential {match['credential']!r} is malformed.", 400)
    return credential, match["signed"].split(";"), match["signature"]


def verify(
    request: SignedRequest, keys: Mapping[str, str], region: str, max_skew_seconds: int, now: datetime | None = None
) -> str:
    """Check the SigV4 signature; returns the access key id or raises AWS's error."""
    credential, signed_headers, signature = _parse_authorization(request.headers.get("authorization"))
    access_key, date_stamp, scope_region, scope_service, terminator = credential
    secret = keys.get(access_key)
    if secret is None:
        raise WireError("UnrecognizedClientException", "The security token included in the request is invalid.", 400)
    if terminator != "aws4_request" or scope_service != SERVICE_NAME:
        raise WireError(
            "InvalidSignatureException", f"Credential should be scoped to correct service: '{SERVICE_NAME}'.", 400
        )
    if scope_region != region:
        raise WireError(
            "InvalidSignatureException", f"Credential should be scoped to a valid region, not '{scope_region}'.", 400
        )
    amz_date = request.headers.get("x-amz-date")
    if not amz_date:
        raise WireError(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            400,
        )
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as error:
        raise WireError("IncompleteSignatureException", f"X-Amz-Date {amz_date!r} is malformed.", 400) from error
    if not amz_date.startswith(date_stamp):
        raise WireError("InvalidSignatureException", "Date in Credential scope does not match X-Amz-Date.", 400)
    current = now or datetime.now(UTC)
    if abs((current - signed_at).total_seconds()) > max_skew_seconds:
        raise WireError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {current.strftime('%Y%m%dT%H%M%SZ')} "
            f"({max_skew_seconds // 60} min. skew allowed).",
            400,
        )
    if "host" not in signed_headers:
        raise WireError("InvalidSignatureException", "'Host' must be a signed header.", 400)
    headers = {}
    for name in signed_headers:
        value = request.headers.get(name) if name != "host" else request.headers.get("host", request.host)
        if value is None:
            raise WireError("IncompleteSignatureException", f"Signed header {name!r} is missing from the request.", 400)
        headers[name] = value
    query = f"?{request.query_string}" if request.query_string else ""
    aws_request = AWSRequest(
        method=request.method,
        url=f"http://{headers['host']}{request.raw_path}{query}",
        headers=headers,
        data=request.body,
    )
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret), SERVICE_NAME, scope_region)
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    if not hmac.compare_digest(expected, signature):
        raise WireError("InvalidSignatureException", SIGNATURE_MISMATCH, 400)
    return access_key
