"""UniqueRequestToken idempotency and NextToken paging (including over HTTP with 250 HITs)."""

from __future__ import annotations

import re

import pytest

from broker.marketplace.errors import MarketplaceError
from tests.marketplace.conftest import HTML_QUESTION, make_hit, make_hit_type


def test_duplicate_token_raises_hit_already_exists_with_the_hit_id(market):
    hit_type_id = make_hit_type(market)
    first = make_hit(market, hit_type_id, UniqueRequestToken="job-1:item-7:0")
    with pytest.raises(MarketplaceError) as error:
        make_hit(market, hit_type_id, UniqueRequestToken="job-1:item-7:0")
    assert error.value.code == "AWS.MechanicalTurk.HitAlreadyExists"
    assert first in error.value.message
    assert len(market.list_hits({"MaxResults": 100})["HITs"]) == 1


def test_token_expires_after_24_hours(market, clock):
    hit_type_id = make_hit_type(market)
    first = make_hit(market, hit_type_id, UniqueRequestToken="t", LifetimeInSeconds=7 * 86400)
    clock.advance(24 * 3600 + 1)
    second = make_hit(market, hit_type_id, UniqueRequestToken="t")
    assert second != first
    clock.advance(24 * 3600 + 1)
    market.get_account_balance({})
    assert market.tokens == {}  # forgotten once their 24 hours pass
    assert market.store.load_one("token", "CreateHIT:t") is None


def test_over_http_the_duplicate_is_a_request_error(mturk):
    hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.01", AssignmentDurationInSeconds=60)[
        "HITTypeId"
    ]
    params = dict(HITTypeId=hit_type_id, LifetimeInSeconds=600, Question=HTML_QUESTION, UniqueRequestToken="abc")
    hit_id = mturk.create_hit_with_hit_type(**params)["HIT"]["HITId"]
    with pytest.raises(mturk.exceptions.RequestError) as error:
        mturk.create_hit_with_hit_type(**params)
    assert error.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.HitAlreadyExists"
    assert re.search(r"\b[A-Z0-9]{30}\b", error.value.response["Error"]["Message"]).group(0) == hit_id


def test_identical_hit_types_share_one_id(market):
    assert make_hit_type(market) == make_hit_type(market)
    assert make_hit_type(market) != make_hit_type(market, Reward="0.11")


def test_paging_is_stable_when_hits_are_added_between_pages(market, clock):
    hit_type_id = make_hit_type(market)
    created = []
    for _ in range(15):
        created.append(make_hit(market, hit_type_id))
        clock.advance(1)
    first = market.list_hits({"MaxResults": 10})
    make_hit(market, hit_type_id)
    second = market.list_hits({"MaxResults": 10, "NextToken": first["NextToken"]})
    seen = [h["HITId"] for h in first["HITs"] + second["HITs"]]
    assert seen[:15] == created and len(seen) == len(set(seen)) == 16
    last = market.list_hits({"MaxResults": 10, "NextToken": second["NextToken"]})
    assert last["NumResults"] == 0 and last["HITs"] == [] and "NextToken" not in last


def test_bad_next_token_and_page_size(market):
    with pytest.raises(MarketplaceError):
        market.list_hits({"NextToken": "not a token!"})
    with pytest.raises(MarketplaceError):
        market.list_hits({"MaxResults": 101})


def test_paging_over_250_hits_with_the_boto3_paginator(server, mturk):
    hit_type_id = mturk.create_hit_type(Title="t", Description="d", Reward="0.01", AssignmentDurationInSeconds=60)[
        "HITTypeId"
    ]
    other_type = mturk.create_hit_type(Title="other", Description="d", Reward="0.01", AssignmentDurationInSeconds=60)[
        "HITTypeId"
    ]
    created = {
        mturk.create_hit_with_hit_type(HITTypeId=hit_type_id, LifetimeInSeconds=30, Question=HTML_QUESTION)["HIT"][
            "HITId"
        ]
        for _ in range(250)
    }
    mturk.create_hit_with_hit_type(HITTypeId=other_type, LifetimeInSeconds=30, Question=HTML_QUESTION)
    pages = list(mturk.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 100}))
    assert [len(page["HITs"]) for page in pages] == [100, 100, 51, 0]  # MTurk's empty last page ends the paging
    assert {h["HITId"] for page in pages for h in page["HITs"]} >= created

    server.marketplace.clock.advance(31)  # every HIT expires with no work: all Reviewable
    reviewable = [
        h["HITId"]
        for page in mturk.get_paginator("list_reviewable_hits").paginate(
            HITTypeId=hit_type_id, PaginationConfig={"PageSize": 100}
        )
        for h in page["HITs"]
    ]
    assert len(reviewable) == 250 and set(reviewable) == created
    assert all(page["NumResults"] <= 100 for page in mturk.get_paginator("list_hits").paginate())
