"""A restart keeps every HIT, assignment, worker, qualification and balance; failed calls store nothing."""

from __future__ import annotations

import pytest

from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.errors import MarketplaceError
from broker.marketplace.state import Marketplace
from tests.marketplace.conftest import make_hit, make_hit_type, work


def test_restart_keeps_everything(config, clock):
    market = Marketplace(config, clock=clock)
    type_id = market.create_qualification_type({"Name": "Q", "Description": "d", "QualificationTypeStatus": "Active"})[
        "QualificationType"
    ]["QualificationTypeId"]
    hit_type_id = make_hit_type(market, AssignmentDurationInSeconds=60)
    hit_id = make_hit(market, hit_type_id, MaxAssignments=3, UniqueRequestToken="tok")
    worker, approved = work(market, hit_id)
    market.approve_assignment({"AssignmentId": approved})
    pending_worker = market.register_worker()
    pending = market.accept_hit(hit_id, pending_worker)
    market.associate_qualification_with_worker({"QualificationTypeId": type_id, "WorkerId": worker, "IntegerValue": 42})
    market.create_worker_block({"WorkerId": pending_worker, "Reason": "r"})
    balance = market.get_account_balance({})
    before = market.get_hit({"HITId": hit_id})
    market.close()

    restarted = Marketplace(config, clock=clock)
    assert restarted.get_account_balance({}) == balance
    assert restarted.get_hit({"HITId": hit_id}) == before
    assert (
        restarted.get_qualification_score({"QualificationTypeId": type_id, "WorkerId": worker})["Qualification"][
            "IntegerValue"
        ]
        == 42
    )
    assert restarted.list_worker_blocks({})["WorkerBlocks"] == [{"WorkerId": pending_worker, "Reason": "r"}]
    assert restarted.get_assignment({"AssignmentId": approved})["Assignment"]["AssignmentStatus"] == "Approved"
    with pytest.raises(MarketplaceError):
        make_hit(restarted, hit_type_id, UniqueRequestToken="tok")
    clock.advance(61)  # the accepted assignment's deadline is still enforced after the restart
    assert restarted.assignment_for_worker(pending, pending_worker).status == "Abandoned"
    assert make_hit_type(restarted, AssignmentDurationInSeconds=60) == hit_type_id
    restarted.close()


def test_a_failed_call_changes_nothing(config, clock):
    market = Marketplace(config, clock=clock)
    hit_id = make_hit(market, make_hit_type(market), MaxAssignments=9)
    before = market.get_hit({"HITId": hit_id})
    with pytest.raises(MarketplaceError):
        market.create_additional_assignments_for_hit(
            {"HITId": hit_id, "NumberOfAdditionalAssignments": 1, "UniqueRequestToken": "u"}
        )
    assert market.get_hit({"HITId": hit_id}) == before
    market.close()
    assert Marketplace(config, clock=clock).get_hit({"HITId": hit_id}) == before


def test_rollback_after_a_partial_change(config, clock):
    market = Marketplace(config, clock=clock)
    hits_before = dict(market.hits)
    # CreateHIT registers a HIT type, then fails on the Question: neither may remain.
    with pytest.raises(MarketplaceError):
        market.create_hit(
            {
                "Title": "t",
                "Description": "d",
                "Reward": "0.01",
                "AssignmentDurationInSeconds": 60,
                "LifetimeInSeconds": 60,
                "Question": "<HTMLQuestion>",
            }
        )
    assert market.hit_types == {} and dict(market.hits) == hits_before
    market.close()
    assert Marketplace(config, clock=clock).hit_types == {}


def test_initial_balance_is_configurable(tmp_path, clock):
    market = Marketplace(
        MarketplaceConfig(db_path=str(tmp_path / "m.sqlite3"), initial_balance_cents=12345), clock=clock
    )
    assert market.get_account_balance({})["AvailableBalance"] == "123.45"


def test_a_sped_up_clock_does_not_run_backwards_after_a_restart(config):
    from broker.marketplace.clock import Clock

    fast = Clock(speed=1.0)
    fast.advance(10 * 86400)  # stands for hours of a demo at --time-scale 60
    market = Marketplace(config, clock=fast)
    hit_id = make_hit(market, make_hit_type(market))
    created = market.get_hit({"HITId": hit_id})["HIT"]["CreationTime"]
    market.close()
    restarted = Marketplace(config, clock=Clock(speed=1.0))
    assert restarted.clock.now() >= created
    assert restarted.get_hit({"HITId": hit_id})["HIT"]["HITStatus"] == "Assignable"
