"""HIT and assignment lifecycle with the test clock: expiry, abandonment, auto-approval, deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.marketplace.errors import MarketplaceError
from tests.marketplace.conftest import ANSWER_XML, make_hit, make_hit_type, work


def status(market, hit_id):
    return market.get_hit({"HITId": hit_id})["HIT"]["HITStatus"]


def test_hit_moves_assignable_unassignable_reviewable(market, notifier):
    hit_id = make_hit(market, make_hit_type(market))
    worker = market.register_worker()
    assignment = market.accept_hit(hit_id, worker)
    assert status(market, hit_id) == "Unassignable"
    market.submit_assignment(assignment, worker, ANSWER_XML)
    hit = market.get_hit({"HITId": hit_id})["HIT"]
    assert hit["HITStatus"] == "Reviewable"
    assert (
        hit["NumberOfAssignmentsPending"],
        hit["NumberOfAssignmentsAvailable"],
        hit["NumberOfAssignmentsCompleted"],
    ) == (0, 0, 0)


def test_abandoned_assignment_returns_to_the_pool(market, clock):
    hit_id = make_hit(market, make_hit_type(market, AssignmentDurationInSeconds=60))
    slow = market.register_worker()
    assignment = market.accept_hit(hit_id, slow)
    assert market.next_hit_for_worker(market.get_hit({"HITId": hit_id})["HIT"]["HITTypeId"], None) is None
    clock.advance(61)
    assert status(market, hit_id) == "Assignable"
    assert market.assignment_for_worker(assignment, slow).status == "Abandoned"
    with pytest.raises(MarketplaceError) as error:
        market.submit_assignment(assignment, slow, ANSWER_XML)
    assert error.value.code == "AWS.MechanicalTurk.InvalidAssignmentState"
    work(market, hit_id)
    assert status(market, hit_id) == "Reviewable"


def test_returned_assignment_frees_the_slot_and_may_be_taken_again(market):
    hit_id = make_hit(market, make_hit_type(market))
    worker = market.register_worker()
    first = market.accept_hit(hit_id, worker)
    market.return_assignment(first, worker)
    assert status(market, hit_id) == "Assignable"
    second = market.accept_hit(hit_id, worker)
    assert second != first


def test_a_worker_gets_one_assignment_per_hit(market):
    hit_id = make_hit(market, make_hit_type(market), MaxAssignments=3)
    worker, _ = work(market, hit_id)
    with pytest.raises(MarketplaceError) as error:
        market.accept_hit(hit_id, worker)
    assert error.value.code == "AWS.MechanicalTurk.AssignmentAlreadyExists"
    assert market.next_hit_for_worker(market.get_hit({"HITId": hit_id})["HIT"]["HITTypeId"], worker) is None


def test_expiry_makes_the_hit_reviewable_but_lets_accepted_work_finish(market, clock):
    hit_id = make_hit(
        market, make_hit_type(market, AssignmentDurationInSeconds=600), LifetimeInSeconds=60, MaxAssignments=2
    )
    worker = market.register_worker()
    assignment = market.accept_hit(hit_id, worker)
    clock.advance(120)
    assert status(market, hit_id) == "Unassignable"
    with pytest.raises(MarketplaceError):
        market.accept_hit(hit_id, market.register_worker())
    market.submit_assignment(assignment, worker, ANSWER_XML)
    assert status(market, hit_id) == "Reviewable"


def test_auto_approval_pays_when_the_delay_passes(market, clock):
    hit_id = make_hit(market, make_hit_type(market, AutoApprovalDelayInSeconds=3600, Reward="0.10"))
    _, assignment = work(market, hit_id)
    clock.advance(3599)
    assert market.get_assignment({"AssignmentId": assignment})["Assignment"]["AssignmentStatus"] == "Submitted"
    clock.advance(1)
    approved = market.get_assignment({"AssignmentId": assignment})["Assignment"]
    assert approved["AssignmentStatus"] == "Approved"
    assert approved["ApprovalTime"] == approved["AutoApprovalTime"]
    assert market.get_account_balance({})["AvailableBalance"] == "9999.88"


def test_zero_auto_approval_delay_approves_at_once(market):
    hit_id = make_hit(market, make_hit_type(market, AutoApprovalDelayInSeconds=0))
    _, assignment = work(market, hit_id)
    assert market.get_assignment({"AssignmentId": assignment})["Assignment"]["AssignmentStatus"] == "Approved"


def test_update_expiration_expires_now_or_extends(market, clock, notifier):
    hit_type_id = make_hit_type(market)
    market.update_notification_settings(
        {
            "HITTypeId": hit_type_id,
            "Notification": {
                "Destination": "http://127.0.0.1:1/123456789012/q",
                "Transport": "SQS",
                "Version": "2006-05-05",
                "EventTypes": ["HITExpired", "HITExtended", "HITReviewable"],
            },
        }
    )
    hit_id = make_hit(market, hit_type_id)
    market.update_expiration_for_hit({"HITId": hit_id, "ExpireAt": clock.now() - timedelta(days=1)})
    assert status(market, hit_id) == "Reviewable"
    market.update_expiration_for_hit({"HITId": hit_id, "ExpireAt": clock.now() + timedelta(hours=2)})
    assert status(market, hit_id) == "Assignable"
    assert market.get_hit({"HITId": hit_id})["HIT"]["Expiration"] == clock.now() + timedelta(hours=2)
    assert notifier.types() == ["HITExpired", "HITReviewable", "HITExtended"]


def test_delete_hit_rules(market, clock):
    hit_id = make_hit(market, make_hit_type(market), MaxAssignments=2)
    with pytest.raises(MarketplaceError) as error:
        market.delete_hit({"HITId": hit_id})
    assert error.value.code == "AWS.MechanicalTurk.InvalidHITState" and "Assignable" in error.value.message
    _, assignment = work(market, hit_id)
    market.update_expiration_for_hit({"HITId": hit_id, "ExpireAt": clock.now()})
    with pytest.raises(MarketplaceError, match="not yet approved or rejected"):
        market.delete_hit({"HITId": hit_id})
    market.approve_assignment({"AssignmentId": assignment})
    market.delete_hit({"HITId": hit_id})
    assert status(market, hit_id) == "Disposed"
    assert market.list_hits({})["HITs"] == []
    with pytest.raises(MarketplaceError):
        market.delete_hit({"HITId": hit_id})


def test_hits_are_disposed_after_120_days(market, clock):
    hit_id = make_hit(market, make_hit_type(market, AutoApprovalDelayInSeconds=60))
    work(market, hit_id)
    clock.advance(121 * 24 * 3600)
    assert status(market, hit_id) == "Disposed"


def test_additional_assignments_cannot_cross_ten(market):
    hit_type_id = make_hit_type(market)
    small = make_hit(market, hit_type_id, MaxAssignments=9)
    with pytest.raises(MarketplaceError) as error:
        market.create_additional_assignments_for_hit({"HITId": small, "NumberOfAdditionalAssignments": 1})
    assert error.value.code == "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease"
    assert market.get_hit({"HITId": small})["HIT"]["MaxAssignments"] == 9
    large = make_hit(market, hit_type_id, MaxAssignments=10)
    market.create_additional_assignments_for_hit({"HITId": large, "NumberOfAdditionalAssignments": 5})
    assert market.get_hit({"HITId": large})["HIT"]["MaxAssignments"] == 15


def test_additional_assignments_reopen_a_completed_hit(market):
    hit_id = make_hit(market, make_hit_type(market))
    work(market, hit_id)
    market.create_additional_assignments_for_hit(
        {"HITId": hit_id, "NumberOfAdditionalAssignments": 1, "UniqueRequestToken": "x"}
    )
    assert status(market, hit_id) == "Assignable"
    with pytest.raises(MarketplaceError) as error:
        market.create_additional_assignments_for_hit(
            {"HITId": hit_id, "NumberOfAdditionalAssignments": 1, "UniqueRequestToken": "x"}
        )
    assert hit_id in error.value.message
    assert market.get_hit({"HITId": hit_id})["HIT"]["MaxAssignments"] == 2


def test_approve_and_reject_only_submitted_work(market, clock):
    hit_id = make_hit(market, make_hit_type(market), MaxAssignments=2)
    _, first = work(market, hit_id)
    market.approve_assignment({"AssignmentId": first})
    with pytest.raises(MarketplaceError) as error:
        market.approve_assignment({"AssignmentId": first})
    assert error.value.code == "AWS.MechanicalTurk.InvalidAssignmentState"
    _, second = work(market, hit_id)
    market.reject_assignment({"AssignmentId": second, "RequesterFeedback": "no"})
    with pytest.raises(MarketplaceError):
        market.approve_assignment({"AssignmentId": second})
    clock.advance(31 * 24 * 3600)
    with pytest.raises(MarketplaceError, match="30 days"):
        market.approve_assignment({"AssignmentId": second, "OverrideRejection": True})


def test_reviewing_status_round_trip_and_filter(market):
    hit_type_id = make_hit_type(market)
    hit_id = make_hit(market, hit_type_id)
    work(market, hit_id)
    market.update_hit_review_status({"HITId": hit_id, "Revert": False})
    assert market.list_reviewable_hits({"HITTypeId": hit_type_id})["HITs"] == []
    assert [h["HITId"] for h in market.list_reviewable_hits({"Status": "Reviewing"})["HITs"]] == [hit_id]
    market.update_hit_review_status({"HITId": hit_id, "Revert": True})
    assert [h["HITId"] for h in market.list_reviewable_hits({"HITTypeId": hit_type_id})["HITs"]] == [hit_id]
    assert market.list_reviewable_hits({"HITTypeId": make_hit_type(market, Title="Other")})["HITs"] == []


def test_every_event_type_is_emitted(market, clock, notifier):
    hit_type_id = make_hit_type(market, AssignmentDurationInSeconds=60, AutoApprovalDelayInSeconds=600)
    market.update_notification_settings(
        {
            "HITTypeId": hit_type_id,
            "Notification": {
                "Destination": "http://127.0.0.1:1/123456789012/q",
                "Transport": "SQS",
                "Version": "2006-05-05",
                "EventTypes": [
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
                ],
            },
        }
    )
    hit_id = make_hit(market, hit_type_id, MaxAssignments=4, LifetimeInSeconds=3600)
    w1, w2, w3, w4 = (market.register_worker() for _ in range(4))
    returned = market.accept_hit(hit_id, w1)
    market.return_assignment(returned, w1)
    market.accept_hit(hit_id, w2)
    clock.advance(61)  # w2 abandons
    _, rejected = work(market, hit_id, w3)
    market.reject_assignment({"AssignmentId": rejected, "RequesterFeedback": "no"})
    _, approved = work(market, hit_id, w4)
    market.approve_assignment({"AssignmentId": approved})
    market.create_additional_assignments_for_hit({"HITId": hit_id, "NumberOfAdditionalAssignments": 1})
    clock.advance(3600)  # expires
    market.delete_hit({"HITId": hit_id})
    assert set(notifier.types()) == {
        "HITCreated",
        "AssignmentAccepted",
        "AssignmentReturned",
        "AssignmentAbandoned",
        "AssignmentSubmitted",
        "AssignmentRejected",
        "AssignmentApproved",
        "HITExtended",
        "HITExpired",
        "HITReviewable",
        "HITDisposed",
    }
    assert all(event.hit_id == hit_id for _, event in notifier.sent)


def test_inactive_notifications_are_not_sent(market, notifier):
    hit_type_id = make_hit_type(market)
    market.update_notification_settings(
        {
            "HITTypeId": hit_type_id,
            "Notification": {
                "Destination": "http://127.0.0.1:1/123456789012/q",
                "Transport": "SQS",
                "Version": "2006-05-05",
                "EventTypes": ["HITCreated"],
            },
            "Active": False,
        }
    )
    make_hit(market, hit_type_id)
    assert notifier.sent == []
    market.update_notification_settings({"HITTypeId": hit_type_id, "Active": True})
    make_hit(market, hit_type_id)
    assert notifier.types() == ["HITCreated"]


def test_every_api_operation_has_a_method():
    import botocore.session

    from broker.marketplace.state import OPERATIONS, Marketplace, method_name

    names = set(botocore.session.get_session().get_service_model("mturk").operation_names)
    assert OPERATIONS == names
    assert all(callable(getattr(Marketplace, method_name(name), None)) for name in names)


def test_concurrent_accepts_never_exceed_max_assignments(market):
    from concurrent.futures import ThreadPoolExecutor

    hit_id = make_hit(market, make_hit_type(market), MaxAssignments=3)
    workers = [market.register_worker() for _ in range(12)]

    def try_accept(worker):
        try:
            return market.accept_hit(hit_id, worker)
        except MarketplaceError:
            return None

    with ThreadPoolExecutor(max_workers=6) as pool:
        accepted = [a for a in pool.map(try_accept, workers) if a]
    assert len(accepted) == 3
    assert market.get_hit({"HITId": hit_id})["HIT"]["NumberOfAssignmentsPending"] == 3


def test_time_driven_events_survive_a_failing_call(market, clock, notifier):
    hit_type_id = make_hit_type(market, AssignmentDurationInSeconds=60)
    market.update_notification_settings(
        {
            "HITTypeId": hit_type_id,
            "Notification": {
                "Destination": "http://127.0.0.1:1/123456789012/q",
                "Transport": "SQS",
                "Version": "2006-05-05",
                "EventTypes": ["AssignmentAbandoned"],
            },
        }
    )
    hit_id = make_hit(market, hit_type_id)
    market.accept_hit(hit_id, market.register_worker())
    clock.advance(61)
    with pytest.raises(MarketplaceError):
        market.get_hit({"HITId": "NOSUCHHIT"})  # fails, but the abandonment it processed first stands
    assert notifier.types() == ["AssignmentAbandoned"]
    assert market.get_hit({"HITId": hit_id})["HIT"]["NumberOfAssignmentsAvailable"] == 1
