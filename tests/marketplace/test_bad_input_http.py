"""Bad input over HTTP: MTurk's (or AWS's) error, nothing stored, and the server keeps serving."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.marketplace.conftest import HTML_QUESTION

HTML_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
EXTERNAL_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"


@pytest.fixture()
def hit_type_id(mturk):
    return mturk.create_hit_type(Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=60)["HITTypeId"]


@pytest.mark.parametrize(
    ("overrides", "code", "fragment"),
    [
        (
            {
                "Question": (
                    f'<HTMLQuestion xmlns="{HTML_NS}"><HTMLContent><![CDATA[{"x" * 65_600}]]></HTMLContent>'
                    "<FrameHeight>0</FrameHeight></HTMLQuestion>"
                )
            },
            "AWS.ParameterOutOfRange",
            "65535",
        ),
        ({"Question": "<HTMLQuestion><unclosed>"}, "AWS.MechanicalTurk.XMLParseError", "Question"),
        ({"Question": "<html><body>hi</body></html>"}, "AWS.MechanicalTurk.XMLParseError", "root element"),
        (
            {"Question": f'<HTMLQuestion xmlns="{HTML_NS}"><HTMLContent>x</HTMLContent></HTMLQuestion>'},
            "AWS.MechanicalTurk.XMLParseError",
            "FrameHeight",
        ),
        (
            {
                "Question": f'<ExternalQuestion xmlns="{EXTERNAL_NS}"><ExternalURL>http://example.com/task</ExternalURL><FrameHeight>400</FrameHeight></ExternalQuestion>'
            },
            "AWS.MechanicalTurk.InvalidParameterValue",
            "This URL must use the HTTPS protocol.",
        ),
        ({"LifetimeInSeconds": 10}, "AWS.ParameterOutOfRange", "LifetimeInSeconds"),
        ({"LifetimeInSeconds": 366 * 86400}, "AWS.ParameterOutOfRange", "LifetimeInSeconds"),
        ({"MaxAssignments": 0}, "AWS.ParameterOutOfRange", "MaxAssignments"),
        ({"RequesterAnnotation": "x" * 256}, "AWS.ParameterOutOfRange", "RequesterAnnotation"),
        (
            {"AssignmentReviewPolicy": {"PolicyName": "ScoreMyKnownAnswers/2011-09-01"}},
            "AWS.MechanicalTurk.ReviewPolicyNotSupported",
            "not supported",
        ),
    ],
)
def test_bad_hits_get_mturk_errors_and_are_not_stored(mturk, hit_type_id, overrides, code, fragment):
    params = {"HITTypeId": hit_type_id, "LifetimeInSeconds": 600, "Question": HTML_QUESTION, **overrides}
    with pytest.raises(mturk.exceptions.RequestError) as error:
        mturk.create_hit_with_hit_type(**params)
    assert error.value.response["TurkErrorCode"] == code
    assert fragment in error.value.response["Error"]["Message"]
    assert mturk.list_hits()["NumResults"] == 0
    assert (
        mturk.create_hit_with_hit_type(HITTypeId=hit_type_id, LifetimeInSeconds=600, Question=HTML_QUESTION)["HIT"][
            "HITStatus"
        ]
        == "Assignable"
    )


@pytest.mark.parametrize(
    ("reward", "ok"), [("$0.05", False), ("0.005", False), ("-1", False), ("5", True), ("0.5", True), ("12.34", True)]
)
def test_reward_format(mturk, reward, ok):
    def call():
        return mturk.create_hit_type(Title="t", Description="d", Reward=reward, AssignmentDurationInSeconds=60)

    if ok:
        assert call()["HITTypeId"]
    else:
        with pytest.raises(mturk.exceptions.RequestError):
            call()


def test_unknown_operation_and_malformed_json_over_http(server, mturk):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def signed_post(target, body):
        request = AWSRequest(
            "POST",
            server.endpoint_url + "/",
            data=body,
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
        )
        SigV4Auth(Credentials(server.access_key_id, server.secret_access_key), "mturk-requester", "us-east-1").add_auth(
            request
        )
        return httpx.post(server.endpoint_url + "/", content=body, headers=dict(request.headers))

    unknown = signed_post("MTurkRequesterServiceV20170117.DropAllTables", b"{}")
    assert unknown.status_code == 400 and unknown.json()["__type"] == "UnknownOperationException"
    malformed = signed_post("MTurkRequesterServiceV20170117.GetHIT", b"{oops")
    assert malformed.status_code == 400 and malformed.json()["__type"] == "SerializationException"
    assert mturk.get_account_balance()["AvailableBalance"] == "10000.00"


def test_missing_hit_is_a_request_error(mturk):
    with pytest.raises(mturk.exceptions.RequestError) as error:
        mturk.get_hit(HITId="A" * 30)
    assert error.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.HITDoesNotExist"
    assert isinstance(error.value, ClientError)


def test_oversized_body_is_refused_and_the_server_keeps_serving(server, mturk):
    response = httpx.post(
        server.endpoint_url + "/",
        content=b"x" * (1024 * 1024 + 1),
        headers={"X-Amz-Target": "MTurkRequesterServiceV20170117.GetHIT"},
    )
    assert response.status_code == 413 and response.json()["__type"] == "RequestEntityTooLargeException"
    assert mturk.get_account_balance()["AvailableBalance"] == "10000.00"
