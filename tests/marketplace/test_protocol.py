"""The wire layer alone: parsing and validation against botocore's model, with no business rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from broker.marketplace import protocol
from broker.marketplace.errors import MarketplaceError, WireError

TARGET = "MTurkRequesterServiceV20170117."


def parse(operation, body):
    return protocol.parse_request(TARGET + operation, json.dumps(body).encode())


def test_valid_request_converts_timestamps():
    parsed = parse("UpdateExpirationForHIT", {"HITId": "A" * 30, "ExpireAt": 1_700_000_000})
    assert parsed.operation == "UpdateExpirationForHIT"
    assert parsed.params["ExpireAt"].tzinfo is not None and parsed.params["ExpireAt"].timestamp() == 1_700_000_000


@pytest.mark.parametrize(
    ("operation", "body", "code", "fragment"),
    [
        (
            "CreateHITType",
            {"Title": "t", "Description": "d", "Reward": "$0.05", "AssignmentDurationInSeconds": 60},
            "AWS.ParameterOutOfRange",
            "Reward",
        ),
        (
            "CreateHITType",
            {"Title": "t", "Description": "d", "Reward": "0.05"},
            "AWS.MissingParameters",
            "AssignmentDurationInSeconds",
        ),
        (
            "CreateHITType",
            {"Title": "t", "Description": "d", "Reward": "0.05", "AssignmentDurationInSeconds": "60"},
            "AWS.ValidationError",
            "AssignmentDurationInSeconds",
        ),
        ("ListHITs", {"MaxResults": 101}, "AWS.ParameterOutOfRange", "MaxResults"),
        ("GetHIT", {"HITId": "lower-case"}, "AWS.ParameterOutOfRange", "HITId"),
        ("GetHIT", {"HITId": "A" * 30, "Extra": 1}, "AWS.ValidationError", "Extra"),
        ("ListReviewableHITs", {"Status": "Assignable"}, "AWS.ParameterOutOfRange", "Status"),
        (
            "CreateHITType",
            {
                "Title": "t",
                "Description": "d",
                "Reward": "1",
                "AssignmentDurationInSeconds": 60,
                "QualificationRequirements": [{"QualificationTypeId": "X"}],
            },
            "AWS.MissingParameters",
            "QualificationRequirements.1.Comparator",
        ),
    ],
)
def test_invalid_members_name_the_field(operation, body, code, fragment):
    with pytest.raises(MarketplaceError) as error:
        parse(operation, body)
    assert error.value.code == code
    assert fragment in error.value.message


def test_framing_errors():
    with pytest.raises(WireError) as error:
        protocol.parse_request(TARGET + "GetHIT", b"{not json")
    assert error.value.error_type == "SerializationException"
    with pytest.raises(WireError) as error:
        protocol.parse_request(TARGET + "NoSuchOperation", b"{}")
    assert error.value.error_type == "UnknownOperationException"
    with pytest.raises(WireError):
        protocol.parse_request("OtherService.GetHIT", b"{}")


def test_response_serialisation_uses_epoch_seconds_and_drops_none():
    body = json.loads(protocol.response_body({"A": datetime(2020, 1, 1, tzinfo=UTC), "B": None, "C": [1]}))
    assert body == {"A": 1577836800, "C": [1]}


def test_error_body_carries_turk_error_code():
    body = json.loads(protocol.error_body("RequestError", "bad", "AWS.ParameterOutOfRange"))
    assert body == {"__type": "RequestError", "Message": "bad", "TurkErrorCode": "AWS.ParameterOutOfRange"}


def test_a_json_text_goes_out_as_the_same_bytes_as_a_plain_string():
    question = '<HTMLQuestion>\n<p class="x">café \\ "quoted" \u2603</p>\n</HTMLQuestion>'
    created = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def hit(text, index):
        return {"HITId": f"H{index}", "CreationTime": created, "Question": text, "Gone": None, "MaxAssignments": 3}

    def listing(text):
        hits = [hit(text, i) for i in range(3)]
        nested = {"First": text, "List": [{"Q": text}, 2], "N": 1, "Last": text}
        return {"NumResults": 3, "HITs": hits, "NextToken": "abc", "Nested": nested, "Plain": {"A": [1]}}

    plain = json.dumps(protocol.to_wire(listing(question)), separators=(",", ":")).encode()
    wrapped = protocol.JsonText(question)
    assert protocol.response_body(listing(wrapped)) == plain
    assert protocol.response_body({"HIT": hit(wrapped, 0)}) == protocol.response_body({"HIT": hit(question, 0)})
    assert json.loads(plain)["HITs"][2]["Question"] == question
