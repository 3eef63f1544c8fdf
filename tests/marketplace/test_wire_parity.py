"""MTurk's wire behaviour that third-party clients rely on: not-found codes, the last page's NextToken,
the timestamped error messages and the HTTPS rule for ExternalQuestion."""

from __future__ import annotations

import re
from typing import Any

import pytest

from broker.marketplace.errors import NotFound
from tests.marketplace.conftest import HTML_QUESTION, make_hit, make_hit_type, work

EXTERNAL_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
MISSING = "3NOSUCHENTITY0000000000000000Z"
STAMP = re.compile(r" \((\d{13})\)$")


def external_question(url: str) -> str:
    return (
        f'<ExternalQuestion xmlns="{EXTERNAL_NS}"><ExternalURL>{url}</ExternalURL>'
        "<FrameHeight>400</FrameHeight></ExternalQuestion>"
    )


def turk_error(call: Any) -> tuple[str, str]:
    """(TurkErrorCode, Message) of a call that must fail with MTurk's RequestError."""
    with pytest.raises(Exception) as raised:
        call()
    response = raised.value.response  # type: ignore[attr-defined]
    assert response["Error"]["Code"] == "RequestError"
    return response["TurkErrorCode"], response["Error"]["Message"]


@pytest.fixture()
def qualification_type_id(mturk) -> str:
    return mturk.create_qualification_type(Name="Q", Description="d", QualificationTypeStatus="Active")[
        "QualificationType"
    ]["QualificationTypeId"]


# ------------------------------------------------------------------------------------- not-found codes
@pytest.mark.parametrize(
    ("operation", "params", "code", "message"),
    [
        ("get_hit", {"HITId": MISSING}, "HITDoesNotExist", f"Hit {MISSING} does not exist."),
        ("delete_hit", {"HITId": MISSING}, "HITDoesNotExist", f"Hit {MISSING} does not exist."),
        ("list_assignments_for_hit", {"HITId": MISSING}, "HITDoesNotExist", f"Hit {MISSING} does not exist."),
        (
            "update_expiration_for_hit",
            {"HITId": MISSING, "ExpireAt": 0},
            "HITDoesNotExist",
            f"Hit {MISSING} does not exist.",
        ),
        (
            "create_additional_assignments_for_hit",
            {"HITId": MISSING, "NumberOfAdditionalAssignments": 1},
            "HITDoesNotExist",
            f"Hit {MISSING} does not exist.",
        ),
        (
            "create_hit_with_hit_type",
            {"HITTypeId": MISSING, "LifetimeInSeconds": 600, "Question": HTML_QUESTION},
            "HITTypeDoesNotExist",
            f"HITType {MISSING} does not exist.",
        ),
        (
            "get_assignment",
            {"AssignmentId": MISSING},
            "AssignmentDoesNotExist",
            f"Assignment {MISSING} does not exist.",
        ),
        (
            "approve_assignment",
            {"AssignmentId": MISSING},
            "AssignmentDoesNotExist",
            f"Assignment {MISSING} does not exist.",
        ),
        (
            "reject_assignment",
            {"AssignmentId": MISSING, "RequesterFeedback": "no"},
            "AssignmentDoesNotExist",
            f"Assignment {MISSING} does not exist.",
        ),
        (
            "get_qualification_type",
            {"QualificationTypeId": MISSING},
            "QualificationTypeDoesNotExist",
            f"QualificationType {MISSING} does not exist.",
        ),
        (
            "accept_qualification_request",
            {"QualificationRequestId": MISSING},
            "QualificationRequestDoesNotExist",
            f"QualificationRequest {MISSING} does not exist.",
        ),
    ],
)
def test_missing_objects_answer_with_the_code_of_their_kind(mturk, operation, params, code, message) -> None:
    turk_code, text = turk_error(lambda: getattr(mturk, operation)(**params))
    assert turk_code == f"AWS.MechanicalTurk.{code}"
    assert STAMP.sub("", text) == message


def test_a_worker_without_the_qualification_gets_mturks_qualification_code_and_wording(
    mturk, qualification_type_id
) -> None:
    """Clients test the message's start ('You requested a Qualification that does not exist.') to tell
    'not granted yet' from a real failure."""
    for call in (
        lambda: mturk.get_qualification_score(QualificationTypeId=qualification_type_id, WorkerId="A1NOBODY"),
        lambda: mturk.disassociate_qualification_from_worker(
            QualificationTypeId=qualification_type_id, WorkerId="A1NOBODY"
        ),
    ):
        code, text = turk_error(call)
        assert code == "AWS.MechanicalTurk.QualificationDoesNotExist"
        assert text.startswith("You requested a Qualification that does not exist. (")
    mturk.associate_qualification_with_worker(
        QualificationTypeId=qualification_type_id, WorkerId="A1NOBODY", IntegerValue=3
    )
    score = mturk.get_qualification_score(QualificationTypeId=qualification_type_id, WorkerId="A1NOBODY")
    assert score["Qualification"]["IntegerValue"] == 3


def test_every_not_found_kind_has_its_own_code() -> None:
    assert NotFound("HIT", "x").code == "AWS.MechanicalTurk.HITDoesNotExist"
    assert NotFound("Worker", "x").code == "AWS.MechanicalTurk.WorkerDoesNotExist"
    with pytest.raises(ValueError, match="unknown entity kind"):
        NotFound("Hit", "x")


# ------------------------------------------------------------------------------------- error timestamps
def test_error_messages_end_with_the_servers_time_in_milliseconds(server, mturk) -> None:
    before = int(server.marketplace.clock.now().timestamp() * 1000)
    _, text = turk_error(lambda: mturk.get_hit(HITId=MISSING))
    after = int(server.marketplace.clock.now().timestamp() * 1000)
    stamp = STAMP.search(text)
    assert stamp is not None, text
    assert before <= int(stamp.group(1)) <= after
    assert text == f"Hit {MISSING} does not exist. ({stamp.group(1)})"


def test_timestamped_messages_keep_the_broker_able_to_recover_a_duplicate_hit(mturk) -> None:
    """The broker reads the existing HIT's id from HitAlreadyExists: the 13-digit stamp must not fool it."""
    from broker import mturk as broker_mturk  # the broker's own error helpers, applied to a real error

    hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=60)[
        "HITTypeId"
    ]
    params = {
        "HITTypeId": hit_type_id,
        "LifetimeInSeconds": 600,
        "Question": HTML_QUESTION,
        "UniqueRequestToken": "tok-1",
    }
    hit_id = mturk.create_hit_with_hit_type(**params)["HIT"]["HITId"]
    with pytest.raises(mturk.exceptions.RequestError) as error:
        mturk.create_hit_with_hit_type(**params)
    assert STAMP.search(error.value.response["Error"]["Message"])
    assert broker_mturk.is_hit_already_exists(error.value)
    assert broker_mturk.hit_id_from_error(error.value) == hit_id


def test_the_broker_still_tells_a_paid_bonus_from_a_failure(server, mturk) -> None:
    """The review/quality stages settle a bonus whose token MTurk has seen; any other error is a failure."""
    from broker.actions.bonuses import token_already_used  # the broker's branch on MTurk's answer

    hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=60)[
        "HITTypeId"
    ]
    hit_id = mturk.create_hit_with_hit_type(HITTypeId=hit_type_id, LifetimeInSeconds=600, Question=HTML_QUESTION)[
        "HIT"
    ]["HITId"]
    worker_id, assignment_id = work(server.marketplace, hit_id)
    bonus = {"WorkerId": worker_id, "AssignmentId": assignment_id, "BonusAmount": "0.10", "Reason": "good"}
    mturk.send_bonus(**bonus, UniqueRequestToken="bonus-1")
    with pytest.raises(mturk.exceptions.RequestError) as repeated:
        mturk.send_bonus(**bonus, UniqueRequestToken="bonus-1")
    assert token_already_used(repeated.value)
    with pytest.raises(mturk.exceptions.RequestError) as missing:
        mturk.send_bonus(**{**bonus, "AssignmentId": MISSING}, UniqueRequestToken="bonus-2")
    assert missing.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.AssignmentDoesNotExist"
    assert not token_already_used(missing.value)


# ------------------------------------------------------------------------------------- NextToken
def list_every_page_like_mephisto(mturk) -> tuple[list[dict], list[int]]:
    """mephisto's cleanup loop: read NextToken from every non-empty page, stop at an empty one."""
    page = mturk.list_hits(MaxResults=100)
    hits, sizes = list(page["HITs"]), [len(page["HITs"])]
    while len(page["HITs"]) > 0:
        page = mturk.list_hits(MaxResults=100, NextToken=page["NextToken"])
        hits += page["HITs"]
        sizes.append(len(page["HITs"]))
    return hits, sizes


def test_a_mephisto_style_loop_reads_every_hit_and_ends_on_the_empty_page(mturk) -> None:
    assert list_every_page_like_mephisto(mturk) == ([], [0])
    hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.01", AssignmentDurationInSeconds=60)[
        "HITTypeId"
    ]
    created = [
        mturk.create_hit_with_hit_type(HITTypeId=hit_type_id, LifetimeInSeconds=600, Question=HTML_QUESTION)["HIT"][
            "HITId"
        ]
        for _ in range(130)
    ]
    hits, sizes = list_every_page_like_mephisto(mturk)
    assert sizes == [100, 30, 0]
    assert [h["HITId"] for h in hits] == created


LIST_OPERATIONS = [
    "list_hits",
    "list_reviewable_hits",
    "list_hits_for_qualification_type",
    "list_assignments_for_hit",
    "list_bonus_payments",
    "list_worker_blocks",
    "list_qualification_types",
    "list_workers_with_qualification_type",
    "list_qualification_requests",
]


@pytest.mark.parametrize("operation", LIST_OPERATIONS)
def test_every_list_operation_sends_next_token_on_its_last_page_with_results(market, clock, operation) -> None:
    qualification_type_id = market.create_qualification_type(
        {"Name": "Q", "Description": "d", "QualificationTypeStatus": "Active"}
    )["QualificationType"]["QualificationTypeId"]
    hit_type_id = make_hit_type(
        market,
        QualificationRequirements=[{"QualificationTypeId": qualification_type_id, "Comparator": "Exists"}],
    )
    hit_id = make_hit(market, hit_type_id, MaxAssignments=3)
    make_hit(market, hit_type_id)
    make_hit(market, hit_type_id)  # 3 of each kind of thing: pages of 2 are one full page and one short page
    workers = []
    for _ in range(3):
        worker = market.register_worker()
        market.associate_qualification_with_worker(
            {"QualificationTypeId": qualification_type_id, "WorkerId": worker, "IntegerValue": 1}
        )
        workers.append(work(market, hit_id, worker)[1])
    for assignment_id in workers:
        market.approve_assignment({"AssignmentId": assignment_id})
        worker_id = market.assignments[assignment_id].worker_id
        bonus = {"WorkerId": worker_id, "AssignmentId": assignment_id, "BonusAmount": "0.01", "Reason": "thanks"}
        market.send_bonus(bonus)
        market.create_worker_block({"WorkerId": worker_id, "Reason": "test"})
    requestable = market.create_qualification_type(
        {"Name": "R", "Description": "d", "QualificationTypeStatus": "Active", "RetryDelayInSeconds": 1}
    )["QualificationType"]["QualificationTypeId"]
    market.create_qualification_type({"Name": "S", "Description": "d", "QualificationTypeStatus": "Active"})
    for worker in [market.register_worker() for _ in range(3)]:
        market.request_qualification(worker, requestable, None)
    clock.advance(3601)  # the HIT expires: it is Reviewable
    params: dict[str, Any] = {
        "list_hits": {},
        "list_reviewable_hits": {"HITTypeId": hit_type_id},
        "list_hits_for_qualification_type": {"QualificationTypeId": qualification_type_id},
        "list_assignments_for_hit": {"HITId": hit_id},
        "list_bonus_payments": {"HITId": hit_id},
        "list_worker_blocks": {},
        "list_qualification_types": {"MustBeRequestable": False, "MustBeOwnedByCaller": True},
        "list_workers_with_qualification_type": {"QualificationTypeId": qualification_type_id},
        "list_qualification_requests": {"QualificationTypeId": requestable},
    }[operation]
    first = getattr(market, operation)({**params, "MaxResults": 2})
    assert first["NumResults"] == 2 and "NextToken" in first
    last = getattr(market, operation)({**params, "MaxResults": 2, "NextToken": first["NextToken"]})
    assert last["NumResults"] == 1 and "NextToken" in last  # the last page with results still has one
    empty = getattr(market, operation)({**params, "MaxResults": 2, "NextToken": last["NextToken"]})
    assert empty["NumResults"] == 0 and "NextToken" not in empty


# ------------------------------------------------------------------------------------- ExternalQuestion
@pytest.mark.parametrize(
    "url",
    [
        "https://tasks.example.org/label",
        "http://127.0.0.1:8765/task?x=1",
        "http://127.5.6.7/task",
        "http://localhost:3000/task",
        "http://[::1]:8080/task",
    ],
)
def test_external_questions_need_https_except_on_loopback(mturk, url) -> None:
    hit = mturk.create_hit(
        Title="t",
        Description="d",
        Reward="0.05",
        AssignmentDurationInSeconds=60,
        LifetimeInSeconds=600,
        Question=external_question(url),
    )["HIT"]
    assert hit["HITStatus"] == "Assignable"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/task",
        "http://10.0.0.5/task",
        "http://192.168.1.2:8080/task",
        "http://localhost.example.com/task",
        "http://127.0.0.1.nip.io/task",
        "ftp://127.0.0.1/task",
    ],
)
def test_plain_http_external_questions_are_refused_as_mturk_refuses_them(mturk, url) -> None:
    code, text = turk_error(
        lambda: mturk.create_hit(
            Title="t",
            Description="d",
            Reward="0.05",
            AssignmentDurationInSeconds=60,
            LifetimeInSeconds=600,
            Question=external_question(url),
        )
    )
    assert code == "AWS.MechanicalTurk.InvalidParameterValue"
    assert STAMP.sub("", text) == (
        f'The value "{url}" is not valid for the parameter ExternalURL. This URL must use the HTTPS protocol.'
    )
    assert mturk.list_hits()["NumResults"] == 0


def test_a_malformed_external_url_is_an_xml_error_not_a_fault(mturk) -> None:
    code, text = turk_error(
        lambda: mturk.create_hit(
            Title="t",
            Description="d",
            Reward="0.05",
            AssignmentDurationInSeconds=60,
            LifetimeInSeconds=600,
            Question=external_question("http://[::1/task"),
        )
    )
    assert code == "AWS.MechanicalTurk.XMLParseError" and "absolute ExternalURL" in text
