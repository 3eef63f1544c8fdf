"""SigV4 verification: wrong keys and signatures get the errors real AWS JSON endpoints give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

TARGET = "MTurkRequesterServiceV20170117.GetAccountBalance"


def client(server, key_id, secret, region="us-east-1"):
    return boto3.client(
        "mturk",
        endpoint_url=server.endpoint_url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def error_of(call):
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"], error.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_correct_keys_are_accepted(server):
    assert client(server, server.access_key_id, server.secret_access_key).get_account_balance()["AvailableBalance"]


def test_unknown_access_key(server):
    assert error_of(client(server, "AKIAUNKNOWN", server.secret_access_key).get_account_balance) == (
        "UnrecognizedClientException",
        400,
    )


def test_wrong_secret(server):
    assert error_of(client(server, server.access_key_id, "not-the-secret").get_account_balance) == (
        "InvalidSignatureException",
        400,
    )


def test_wrong_region_scope(server):
    code, status = error_of(
        client(server, server.access_key_id, server.secret_access_key, region="eu-west-1").get_account_balance
    )
    assert (code, status) == ("InvalidSignatureException", 400)


def signed(server, body=b"{}", when=None, tamper=None):
    request = AWSRequest(
        "POST",
        server.endpoint_url + "/",
        data=body,
        headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.1"},
    )
    signer = SigV4Auth(Credentials(server.access_key_id, server.secret_access_key), "mturk-requester", "us-east-1")
    if when is not None:
        from unittest import mock

        with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            signer.add_auth(request)
    else:
        signer.add_auth(request)
    headers = dict(request.headers)
    if tamper:
        tamper(headers)
    return headers


def test_tampered_body_is_rejected(server):
    headers = signed(server, b"{}")
    response = httpx.post(server.endpoint_url + "/", content=b'{"x":1}', headers=headers)
    assert response.status_code == 400 and response.json()["__type"] == "InvalidSignatureException"


def test_expired_signature(server):
    headers = signed(server, when=datetime.now(UTC) - timedelta(hours=1))
    response = httpx.post(server.endpoint_url + "/", content=b"{}", headers=headers)
    assert response.status_code == 400
    assert (
        response.json()["__type"] == "InvalidSignatureException" and "Signature expired" in response.json()["message"]
    )


def test_missing_and_malformed_authorization(server):
    unsigned = httpx.post(server.endpoint_url + "/", content=b"{}", headers={"X-Amz-Target": TARGET})
    assert unsigned.json()["__type"] == "MissingAuthenticationTokenException"

    def garble(headers):
        headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=nonsense"

    garbled = httpx.post(server.endpoint_url + "/", content=b"{}", headers=signed(server, tamper=garble))
    assert garbled.json()["__type"] == "IncompleteSignatureException"


def test_worker_site_session_gives_no_requester_access(server):
    worker_id = server.marketplace.register_worker()
    response = httpx.post(
        server.endpoint_url + "/", content=b"{}", headers={"X-Amz-Target": TARGET}, cookies={"session": worker_id}
    )
    assert response.status_code == 400 and response.json()["__type"] == "MissingAuthenticationTokenException"


def test_verify_without_a_socket():
    from broker.marketplace import auth
    from broker.marketplace.errors import WireError

    request = AWSRequest(
        "POST",
        "http://mturk.local:8765/",
        data=b'{"HITId":"X"}',
        headers={"X-Amz-Target": "MTurkRequesterServiceV20170117.GetHIT"},
    )
    SigV4Auth(Credentials("AKIDLOCAL", "secret"), "mturk-requester", "us-east-1").add_auth(request)
    headers = {key.lower(): value for key, value in request.headers.items()}
    headers["host"] = "mturk.local:8765"
    signed = auth.SignedRequest("POST", "mturk.local:8765", "/", "", headers, b'{"HITId":"X"}')
    assert auth.verify(signed, {"AKIDLOCAL": "secret"}, "us-east-1", 900) == "AKIDLOCAL"
    with pytest.raises(WireError) as error:
        auth.verify(signed, {"AKIDLOCAL": "other"}, "us-east-1", 900)
    assert error.value.error_type == "InvalidSignatureException"
    moved = auth.SignedRequest("POST", "mturk.local:8765", "/other", "", headers, b'{"HITId":"X"}')
    with pytest.raises(WireError):
        auth.verify(moved, {"AKIDLOCAL": "secret"}, "us-east-1", 900)
