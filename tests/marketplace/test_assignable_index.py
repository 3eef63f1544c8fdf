"""Listings read indices instead of evaluating every HIT: workers' listings an index of Assignable
HITs, the requester's ListHITs and ListReviewableHITs the HITs in listing order, read a page at a
time. After any sequence of operations each must say exactly what evaluating every HIT's status
says, page by page."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest

from broker.marketplace.errors import MarketplaceError
from broker.marketplace.protocol import JsonText
from tests.marketplace.conftest import ANSWER_XML, HTML_QUESTION, make_hit, make_hit_type, work


def _scanned(market, now) -> dict[str, set[str]]:
    by_type: dict[str, set[str]] = {}
    for hit in market.hits.values():
        if market._hit_status(hit, now) == "Assignable":
            by_type.setdefault(hit.hit_type_id, set()).add(hit.id)
    return by_type


def _listed(market) -> dict[str, int]:
    return {g.hit_type_id: g.hits_available for g in market.list_hit_groups(None)}


def _random_operations(market, clock, seed: int, steps: int = 250) -> Iterator[tuple[str, list[str]]]:
    """Create, accept, return, submit, let time pass, extend, expire, add assignments, review and move
    HITs at random; yields each action's name and the HIT types."""
    rng = random.Random(seed)
    types = [make_hit_type(market, Title=f"type {k}", AssignmentDurationInSeconds=120) for k in range(2)]
    workers = [market.register_worker() for _ in range(4)]
    accepted: list[tuple[str, str]] = []
    for _ in range(steps):
        action = rng.choice(
            ["create", "accept", "accept", "return", "submit", "time", "extend", "expire", "more", "review", "move"]
        )
        hit_ids = list(market.hits)
        try:
            if action == "create" or not hit_ids:
                make_hit(market, rng.choice(types), MaxAssignments=rng.randint(1, 3), LifetimeInSeconds=600)
            elif action == "accept":
                hit_type = rng.choice(types)
                worker = rng.choice(workers)
                hit_id = market.next_hit_for_worker(hit_type, worker)
                if hit_id is not None:
                    accepted.append((market.accept_hit(hit_id, worker), worker))
            elif action in ("return", "submit") and accepted:
                assignment, worker = accepted.pop(rng.randrange(len(accepted)))
                if action == "return":
                    market.return_assignment(assignment, worker)
                else:
                    market.submit_assignment(assignment, worker, ANSWER_XML)
            elif action == "time":
                clock.advance(rng.choice([30, 130, 700]))
            elif action == "extend":
                until = clock.now() + timedelta(seconds=rng.choice([300, 3000]))
                market.update_expiration_for_hit({"HITId": rng.choice(hit_ids), "ExpireAt": until})
            elif action == "expire":
                market.update_expiration_for_hit({"HITId": rng.choice(hit_ids), "ExpireAt": clock.now()})
            elif action == "more":
                market.create_additional_assignments_for_hit(
                    {"HITId": rng.choice(hit_ids), "NumberOfAdditionalAssignments": 1}
                )
            elif action == "review":
                market.update_hit_review_status({"HITId": rng.choice(hit_ids), "Revert": rng.random() < 0.5})
            elif action == "move":
                market.update_hit_type_of_hit({"HITId": rng.choice(hit_ids), "HITTypeId": rng.choice(types)})
        except MarketplaceError:
            pass  # a refused operation must leave the index as right as an accepted one
        yield action, types


@pytest.mark.parametrize("seed", range(6))
def test_the_assignable_index_matches_a_full_scan_after_random_operations(market, clock, seed):
    for action, types in _random_operations(market, clock, seed):
        listed = _listed(market)  # a call first: it applies what became due (abandonment, expiry)
        scanned = _scanned(market, clock.now())
        assert listed == {t: len(ids) for t, ids in scanned.items()}, action
        for hit_type in types:
            first = market.next_hit_for_worker(hit_type, None)
            assert (first is None) == (hit_type not in scanned)
            assert first is None or first in scanned[hit_type]


def _all_pages(operation, params: dict) -> list[str]:
    """The HITIds of every page of a List operation, following NextToken until a page is empty."""
    ids: list[str] = []
    token = None
    while True:
        response = operation({**params, "MaxResults": 3, **({"NextToken": token} if token else {})})
        ids += [hit["HITId"] for hit in response["HITs"]]
        assert response["NumResults"] == len(response["HITs"])
        token = response.get("NextToken")
        if not response["HITs"]:
            assert token is None
            return ids
        assert token is not None


@pytest.mark.parametrize("seed", range(4))
def test_requester_listings_page_exactly_what_a_full_scan_finds(market, clock, seed):
    for action, types in _random_operations(market, clock, seed, steps=150):
        market.list_hit_groups(None)  # a call first: it applies what became due (abandonment, expiry)
        now = clock.now()
        ordered = sorted(market.hits.values(), key=lambda h: (h.created_at.isoformat(), h.id))
        assert _all_pages(market.list_hits, {}) == [h.id for h in ordered if not h.disposed], action
        for status in ("Reviewable", "Reviewing"):
            for hit_type in [None, *types]:
                expected = [
                    h.id for h in ordered if market._hit_status(h, now) == status and hit_type in (None, h.hit_type_id)
                ]
                params = {"Status": status} | ({"HITTypeId": hit_type} if hit_type else {})
                assert _all_pages(market.list_reviewable_hits, params) == expected, (action, status, hit_type)


def test_a_reviewable_hits_question_keeps_its_json_form_only_while_it_is_listed_again(market):
    hit_type = make_hit_type(market, Title="kept")
    hit_id = make_hit(market, hit_type)
    work(market, hit_id)
    listed = market.list_reviewable_hits({"HITTypeId": hit_type})["HITs"]
    assert [hit["HITId"] for hit in listed] == [hit_id] and listed[0]["Question"] == HTML_QUESTION
    assert isinstance(market.hits[hit_id].question, JsonText)  # encoded once for the listings to come
    market.update_hit_review_status({"HITId": hit_id, "Revert": False})
    assert type(market.hits[hit_id].question) is str and market.hits[hit_id].question == HTML_QUESTION
    assert market.list_reviewable_hits({"HITTypeId": hit_type, "Status": "Reviewing"})["HITs"][0]["Question"] == (
        HTML_QUESTION
    )
    assert type(market.hits[hit_id].question) is str  # a Reviewing HIT's listing keeps nothing
