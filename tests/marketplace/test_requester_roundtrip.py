"""A boto3 `mturk` client round trip for every one of the 39 operations over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import botocore.session
import pytest

from tests.marketplace.conftest import ANSWER_XML, HTML_QUESTION

QUESTION_FORM_TEST = (
    '<QuestionForm xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd">'
    "<Question><QuestionIdentifier>q1</QuestionIdentifier><QuestionContent><Text>2+2?</Text></QuestionContent>"
    "<AnswerSpecification><SelectionAnswer><Selections>"
    "<Selection><SelectionIdentifier>four</SelectionIdentifier><Text>4</Text></Selection>"
    "<Selection><SelectionIdentifier>five</SelectionIdentifier><Text>5</Text></Selection>"
    "</Selections></SelectionAnswer></AnswerSpecification></Question></QuestionForm>"
)
ANSWER_KEY = (
    '<AnswerKey xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/AnswerKey.xsd">'
    "<Question><QuestionIdentifier>q1</QuestionIdentifier>"
    "<AnswerOption><SelectionIdentifier>four</SelectionIdentifier><AnswerScore>1</AnswerScore></AnswerOption>"
    "</Question><QualificationValueMapping><PercentageMapping><MaximumSummedScore>1</MaximumSummedScore>"
    "</PercentageMapping></QualificationValueMapping></AnswerKey>"
)
UPLOAD_ANSWER = (
    '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd">'
    "<Answer><QuestionIdentifier>photo</QuestionIdentifier><UploadedFileKey>uploads/photo-1.jpg</UploadedFileKey></Answer>"
    "</QuestionFormAnswers>"
)


def test_every_operation_round_trips_over_http(server, mturk, moto_endpoint):
    called: set[str] = set()
    mturk.meta.events.register("before-call.mturk", lambda model, **_: called.add(model.name))
    market = server.marketplace

    assert mturk.get_account_balance()["AvailableBalance"] == "10000.00"

    # Qualification types: one scored by an answer key, one granted by the requester.
    scored = mturk.create_qualification_type(
        Name="Arithmetic",
        Description="Add numbers",
        QualificationTypeStatus="Active",
        Test=QUESTION_FORM_TEST,
        AnswerKey=ANSWER_KEY,
        TestDurationInSeconds=300,
    )["QualificationType"]
    manual = mturk.create_qualification_type(
        Name="Trusted",
        Description="Hand-picked workers",
        QualificationTypeStatus="Active",
        RetryDelayInSeconds=60,
    )["QualificationType"]
    assert (
        mturk.get_qualification_type(QualificationTypeId=scored["QualificationTypeId"])["QualificationType"]["Test"]
        == QUESTION_FORM_TEST
    )
    updated = mturk.update_qualification_type(
        QualificationTypeId=manual["QualificationTypeId"], Description="Picked by hand"
    )
    assert updated["QualificationType"]["Description"] == "Picked by hand"
    names = {
        q["Name"]
        for q in mturk.list_qualification_types(MustBeRequestable=True, MustBeOwnedByCaller=True)["QualificationTypes"]
    }
    assert names == {"Arithmetic", "Trusted"}

    hit_type_id = mturk.create_hit_type(
        Title="Label",
        Description="Label it",
        Reward="0.25",
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=86400,
        QualificationRequirements=[
            {
                "QualificationTypeId": scored["QualificationTypeId"],
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [100],
            }
        ],
    )["HITTypeId"]
    assert len(hit_type_id) == 30 and hit_type_id.isalnum() and hit_type_id.isupper()
    hit = mturk.create_hit_with_hit_type(
        HITTypeId=hit_type_id, MaxAssignments=3, LifetimeInSeconds=3600, Question=HTML_QUESTION
    )["HIT"]
    other = mturk.create_hit(
        Title="Photo",
        Description="Upload a photo",
        Reward="0.50",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        Question=HTML_QUESTION,
        MaxAssignments=1,
    )["HIT"]
    assert mturk.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Assignable"
    assert {h["HITId"] for h in mturk.list_hits()["HITs"]} == {hit["HITId"], other["HITId"]}
    assert [
        h["HITId"]
        for h in mturk.list_hits_for_qualification_type(QualificationTypeId=scored["QualificationTypeId"])["HITs"]
    ] == [hit["HITId"]]

    # Workers qualify: one by the test, one granted by the requester.
    alice, bob = market.register_worker(), market.register_worker()
    market.request_qualification(
        alice,
        scored["QualificationTypeId"],
        (
            '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd">'
            "<Answer><QuestionIdentifier>q1</QuestionIdentifier><SelectionIdentifier>four</SelectionIdentifier></Answer></QuestionFormAnswers>"
        ),
    )
    mturk.associate_qualification_with_worker(
        QualificationTypeId=scored["QualificationTypeId"], WorkerId=bob, IntegerValue=100, SendNotification=False
    )
    assert (
        mturk.get_qualification_score(QualificationTypeId=scored["QualificationTypeId"], WorkerId=alice)[
            "Qualification"
        ]["IntegerValue"]
        == 100
    )
    holders = mturk.list_workers_with_qualification_type(QualificationTypeId=scored["QualificationTypeId"])[
        "Qualifications"
    ]
    assert {q["WorkerId"] for q in holders} == {alice, bob}

    assignment_a = market.accept_hit(hit["HITId"], alice)
    market.submit_assignment(assignment_a, alice, ANSWER_XML)
    assignment_b = market.accept_hit(hit["HITId"], bob)
    market.submit_assignment(assignment_b, bob, ANSWER_XML)
    listed = mturk.list_assignments_for_hit(HITId=hit["HITId"], AssignmentStatuses=["Submitted"])["Assignments"]
    assert {a["AssignmentId"] for a in listed} == {assignment_a, assignment_b}
    got = mturk.get_assignment(AssignmentId=assignment_a)
    assert got["Assignment"]["Answer"] == ANSWER_XML and got["HIT"]["HITId"] == hit["HITId"]
    mturk.approve_assignment(AssignmentId=assignment_a, RequesterFeedback="Thanks")
    mturk.reject_assignment(AssignmentId=assignment_b, RequesterFeedback="Wrong label")
    mturk.approve_assignment(AssignmentId=assignment_b, OverrideRejection=True)
    statuses = {
        a["AssignmentId"]: a["AssignmentStatus"]
        for a in mturk.list_assignments_for_hit(HITId=hit["HITId"])["Assignments"]
    }
    assert statuses == {assignment_a: "Approved", assignment_b: "Approved"}

    mturk.send_bonus(
        WorkerId=alice, BonusAmount="1.00", AssignmentId=assignment_a, Reason="Great work", UniqueRequestToken="bonus-1"
    )
    bonuses = mturk.list_bonus_payments(HITId=hit["HITId"])["BonusPayments"]
    assert [(b["WorkerId"], b["BonusAmount"]) for b in bonuses] == [(alice, "1.00")]
    failures = mturk.notify_workers(Subject="Hello", MessageText="More HITs soon", WorkerIds=[alice, "ANEVERWORKED00"])[
        "NotifyWorkersFailureStatuses"
    ]
    assert [f["WorkerId"] for f in failures] == ["ANEVERWORKED00"]
    assert market.worker_dashboard(alice).messages[0].subject == "Hello"

    mturk.create_worker_block(WorkerId=bob, Reason="Spam")
    assert mturk.list_worker_blocks()["WorkerBlocks"] == [{"WorkerId": bob, "Reason": "Spam"}]
    mturk.delete_worker_block(WorkerId=bob, Reason="Appeal accepted")
    assert mturk.list_worker_blocks()["WorkerBlocks"] == []

    market.request_qualification(alice, manual["QualificationTypeId"], None)
    market.request_qualification(bob, manual["QualificationTypeId"], None)
    requests = mturk.list_qualification_requests(QualificationTypeId=manual["QualificationTypeId"])[
        "QualificationRequests"
    ]
    by_worker = {r["WorkerId"]: r["QualificationRequestId"] for r in requests}
    mturk.accept_qualification_request(QualificationRequestId=by_worker[alice], IntegerValue=7)
    mturk.reject_qualification_request(QualificationRequestId=by_worker[bob], Reason="Not yet")
    assert (
        mturk.get_qualification_score(QualificationTypeId=manual["QualificationTypeId"], WorkerId=alice)[
            "Qualification"
        ]["IntegerValue"]
        == 7
    )
    mturk.disassociate_qualification_from_worker(
        QualificationTypeId=manual["QualificationTypeId"], WorkerId=alice, Reason="Expired"
    )
    assert (
        mturk.get_qualification_score(QualificationTypeId=manual["QualificationTypeId"], WorkerId=alice)[
            "Qualification"
        ]["Status"]
        == "Revoked"
    )

    # The upload HIT: an answer with a file, then review status and expiry changes.
    uploader = market.register_worker()
    upload_assignment = market.accept_hit(other["HITId"], uploader)
    market.submit_assignment(upload_assignment, uploader, UPLOAD_ANSWER)
    url = mturk.get_file_upload_url(AssignmentId=upload_assignment, QuestionIdentifier="photo")["FileUploadURL"]
    assert url.startswith(server.endpoint_url) and url.endswith("uploads/photo-1.jpg")
    reviewable = mturk.list_reviewable_hits(HITTypeId=mturk.get_hit(HITId=other["HITId"])["HIT"]["HITTypeId"])["HITs"]
    assert [h["HITId"] for h in reviewable] == [other["HITId"]]
    mturk.update_hit_review_status(HITId=other["HITId"], Revert=False)
    assert mturk.get_hit(HITId=other["HITId"])["HIT"]["HITStatus"] == "Reviewing"
    assert mturk.list_review_policy_results_for_hit(HITId=other["HITId"])["HITId"] == other["HITId"]

    mturk.create_additional_assignments_for_hit(
        HITId=hit["HITId"], NumberOfAdditionalAssignments=2, UniqueRequestToken="extend-1"
    )
    assert mturk.get_hit(HITId=hit["HITId"])["HIT"]["MaxAssignments"] == 5
    mturk.update_expiration_for_hit(HITId=hit["HITId"], ExpireAt=datetime(2015, 1, 1, tzinfo=UTC))
    assert mturk.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Reviewable"
    mturk.update_hit_type_of_hit(HITId=hit["HITId"], HITTypeId=mturk.get_hit(HITId=other["HITId"])["HIT"]["HITTypeId"])
    assert mturk.get_hit(HITId=hit["HITId"])["HIT"]["Title"] == "Photo"

    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queue_url = sqs.create_queue(QueueName="roundtrip-events")["QueueUrl"]
    specification = {
        "Destination": queue_url,
        "Transport": "SQS",
        "Version": "2006-05-05",
        "EventTypes": ["AssignmentSubmitted"],
    }
    mturk.update_notification_settings(HITTypeId=hit_type_id, Notification=specification, Active=True)
    mturk.send_test_event_notification(Notification=specification, TestEventType="Ping")
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(messages[0]["Body"])["Events"][0]["EventType"] == "Ping"

    mturk.delete_hit(HITId=hit["HITId"])
    assert mturk.get_hit(HITId=hit["HITId"])["HIT"]["HITStatus"] == "Disposed"
    mturk.delete_qualification_type(QualificationTypeId=manual["QualificationTypeId"])
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.get_qualification_type(QualificationTypeId=manual["QualificationTypeId"])

    # 25c + 25c rewards (fee 5c each), $1 bonus (fee 20c), 50c not approved yet.
    assert mturk.get_account_balance()["AvailableBalance"] == f"{(1_000_000 - 30 - 30 - 120) / 100:.2f}"
    all_operations = set(botocore.session.get_session().get_service_model("mturk").operation_names)
    assert len(all_operations) == 39
    assert called == all_operations


def test_timestamps_are_aware_and_match_the_marketplace_clock(server, mturk):
    hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.01", AssignmentDurationInSeconds=60)[
        "HITTypeId"
    ]
    hit = mturk.create_hit_with_hit_type(HITTypeId=hit_type_id, LifetimeInSeconds=120, Question=HTML_QUESTION)["HIT"]
    assert hit["Expiration"] - hit["CreationTime"] == timedelta(seconds=120)
    assert abs(hit["CreationTime"] - server.marketplace.clock.now()) < timedelta(seconds=5)
