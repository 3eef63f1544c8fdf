"""Notifications delivered to SQS through boto3, against moto's server."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from broker.marketplace.config import FaultConfig, MarketplaceConfig
from broker.marketplace.server import start_in_thread
from tests.marketplace.conftest import ANSWER_XML, HTML_QUESTION

ALL_EVENTS = [
    "AssignmentAccepted",
    "AssignmentAbandoned",
    "AssignmentReturned",
    "AssignmentSubmitted",
    "AssignmentRejected",
    "AssignmentApproved",
    "HITCreated",
    "HITExpired",
    "HITReviewable",
    "HITExtended",
    "HITDisposed",
]


@pytest.fixture()
def sqs(moto_endpoint):
    return boto3.client(
        "sqs",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def drain(sqs, queue_url):
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def spec(queue_url, events):
    return {"Destination": queue_url, "Transport": "SQS", "Version": "2006-05-05", "EventTypes": events}


def test_every_event_type_reaches_sqs_in_mturks_format(server, mturk, sqs):
    queue_url = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    market = server.marketplace
    hit_type_id = mturk.create_hit_type(
        Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=60, AutoApprovalDelayInSeconds=3600
    )["HITTypeId"]
    mturk.update_notification_settings(HITTypeId=hit_type_id, Notification=spec(queue_url, ALL_EVENTS), Active=True)
    hit_id = mturk.create_hit_with_hit_type(
        HITTypeId=hit_type_id, MaxAssignments=4, LifetimeInSeconds=600, Question=HTML_QUESTION
    )["HIT"]["HITId"]
    w = [market.register_worker() for _ in range(4)]
    market.return_assignment(market.accept_hit(hit_id, w[0]), w[0])
    market.accept_hit(hit_id, w[1])
    market.clock.advance(61)
    rejected = market.accept_hit(hit_id, w[2])
    market.submit_assignment(rejected, w[2], ANSWER_XML)
    mturk.reject_assignment(AssignmentId=rejected, RequesterFeedback="no")
    approved = market.accept_hit(hit_id, w[3])
    market.submit_assignment(approved, w[3], ANSWER_XML)
    mturk.approve_assignment(AssignmentId=approved)
    mturk.create_additional_assignments_for_hit(HITId=hit_id, NumberOfAdditionalAssignments=1)
    market.clock.advance(600)
    mturk.delete_hit(HITId=hit_id)
    server.notifier.flush()

    documents = drain(sqs, queue_url)
    events = [event for document in documents for event in document["Events"]]
    assert {e["EventType"] for e in events} == set(ALL_EVENTS)
    for document in documents:
        assert set(document) == {"Events", "EventDocId", "SourceAccount", "CustomerId", "EventDocVersion"}
        assert document["EventDocVersion"] == "2006-05-05"
    for event in events:
        assert event["HITId"] == hit_id and event["HITTypeId"] == hit_type_id
        assert event["EventTimestamp"].endswith("Z")
    assert {e["AssignmentId"] for e in events if e["EventType"] == "AssignmentApproved"} == {approved}


@pytest.mark.parametrize("event_type", ALL_EVENTS + ["Ping"])
def test_send_test_event_notification_for_every_type(server, mturk, sqs, event_type):
    queue_url = sqs.create_queue(QueueName=f"test-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    mturk.send_test_event_notification(Notification=spec(queue_url, [event_type]), TestEventType=event_type)
    (document,) = drain(sqs, queue_url)
    assert document["Events"][0]["EventType"] == event_type


def test_unreachable_queue_fails_the_test_notification_cleanly(mturk):
    with pytest.raises(mturk.exceptions.RequestError) as error:
        mturk.send_test_event_notification(
            Notification=spec("http://127.0.0.1:9/123456789012/missing", ["Ping"]), TestEventType="Ping"
        )
    assert error.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.NotificationDeliveryFailed"


def test_ping_is_only_for_test_notifications_and_destinations_are_checked(mturk):
    hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=60)[
        "HITTypeId"
    ]
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.update_notification_settings(HITTypeId=hit_type_id, Notification=spec("http://127.0.0.1:9/1/q", ["Ping"]))
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.update_notification_settings(HITTypeId=hit_type_id, Notification=spec("not a url", ["HITCreated"]))


def test_dropped_notifications_setting(tmp_path, sqs):
    queue_url = sqs.create_queue(QueueName=f"drop-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    config = MarketplaceConfig(
        db_path=str(tmp_path / "d.sqlite3"), faults=FaultConfig(drop_notification_probability=0.5, seed=7)
    )
    with start_in_thread(config) as running:
        mturk = running.client()
        hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=60)[
            "HITTypeId"
        ]
        mturk.update_notification_settings(HITTypeId=hit_type_id, Notification=spec(queue_url, ["HITCreated"]))
        for _ in range(40):
            mturk.create_hit_with_hit_type(HITTypeId=hit_type_id, LifetimeInSeconds=600, Question=HTML_QUESTION)
        running.notifier.flush()
        received = len(drain(sqs, queue_url))
        assert received == running.notifier.delivered == 40 - running.notifier.dropped
        assert 0 < received < 40


def test_sns_transport_publishes_to_the_topic(tmp_path, moto_endpoint, sqs):
    sns = boto3.client(
        "sns",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    topic_arn = sns.create_topic(Name=f"topic-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"sns-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    config = MarketplaceConfig(db_path=str(tmp_path / "sns.sqlite3"))
    with start_in_thread(config, notification_endpoint_url=moto_endpoint) as running:
        mturk = running.client()
        hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.05", AssignmentDurationInSeconds=60)[
            "HITTypeId"
        ]
        mturk.update_notification_settings(
            HITTypeId=hit_type_id,
            Notification={
                "Destination": topic_arn,
                "Transport": "SNS",
                "Version": "2014-08-15",
                "EventTypes": ["HITCreated"],
            },
        )
        hit_id = mturk.create_hit_with_hit_type(HITTypeId=hit_type_id, LifetimeInSeconds=600, Question=HTML_QUESTION)[
            "HIT"
        ]["HITId"]
        running.notifier.flush()
    (document,) = drain(sqs, queue_url)
    assert document["Events"][0] == {
        **document["Events"][0],
        "EventType": "HITCreated",
        "HITId": hit_id,
        "HITTypeId": hit_type_id,
    }
    assert document["EventDocVersion"] == "2014-08-15"
