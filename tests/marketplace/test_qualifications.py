"""Qualification requirements: every comparator, ActionsGuarded, system qualifications, tests, requests, blocks."""

from __future__ import annotations

import pytest

from broker.marketplace import requirements as req
from broker.marketplace.errors import MarketplaceError, NotQualified
from tests.marketplace.conftest import make_hit, make_hit_type
from tests.marketplace.test_requester_roundtrip import ANSWER_KEY, QUESTION_FORM_TEST


def custom_type(market, name="Skill", **extra):
    params = {"Name": name, "Description": "d", "QualificationTypeStatus": "Active", **extra}
    return market.create_qualification_type(params)["QualificationType"]["QualificationTypeId"]


@pytest.mark.parametrize(
    ("comparator", "values", "held", "met"),
    [
        ("LessThan", [50], 49, True),
        ("LessThan", [50], 50, False),
        ("LessThanOrEqualTo", [50], 50, True),
        ("LessThanOrEqualTo", [50], 51, False),
        ("GreaterThan", [50], 51, True),
        ("GreaterThan", [50], 50, False),
        ("GreaterThanOrEqualTo", [50], 50, True),
        ("GreaterThanOrEqualTo", [50], 49, False),
        ("EqualTo", [50], 50, True),
        ("EqualTo", [50], 51, False),
        ("NotEqualTo", [50], 51, True),
        ("NotEqualTo", [50], 50, False),
        ("In", [1, 2, 3], 2, True),
        ("In", [1, 2, 3], 4, False),
        ("NotIn", [1, 2, 3], 4, True),
        ("NotIn", [1, 2, 3], 2, False),
        ("Exists", [], 0, True),
        ("Exists", [], None, False),
        ("DoesNotExist", [], None, True),
        ("DoesNotExist", [], 7, False),
        ("GreaterThan", [0], None, False),
        ("NotEqualTo", [1], None, False),
    ],
)
def test_integer_comparators_on_accept(market, comparator, values, held, met):
    type_id = custom_type(market)
    requirement = {"QualificationTypeId": type_id, "Comparator": comparator}
    if values:
        requirement["IntegerValues"] = values
    hit_id = make_hit(market, make_hit_type(market, QualificationRequirements=[requirement]))
    worker = market.register_worker()
    if held is not None:
        market.associate_qualification_with_worker(
            {"QualificationTypeId": type_id, "WorkerId": worker, "IntegerValue": held}
        )
    if met:
        assert market.accept_hit(hit_id, worker)
    else:
        with pytest.raises(NotQualified):
            market.accept_hit(hit_id, worker)


@pytest.mark.parametrize(
    ("comparator", "locales", "country", "subdivision", "met"),
    [
        ("EqualTo", [{"Country": "US"}], "US", "CA", True),
        ("EqualTo", [{"Country": "US", "Subdivision": "NY"}], "US", "CA", False),
        ("NotEqualTo", [{"Country": "US"}], "DE", None, True),
        ("In", [{"Country": "GB"}, {"Country": "US", "Subdivision": "CA"}], "US", "CA", True),
        ("NotIn", [{"Country": "GB"}, {"Country": "IN"}], "IN", None, False),
        ("Exists", [], "FR", None, True),
    ],
)
def test_locale_requirement(market, comparator, locales, country, subdivision, met):
    requirement = {"QualificationTypeId": req.LOCALE, "Comparator": comparator}
    if locales:
        requirement["LocaleValues"] = locales
    hit_id = make_hit(market, make_hit_type(market, QualificationRequirements=[requirement]))
    worker = market.register_worker()
    market.set_worker_profile(worker, country, subdivision)
    if met:
        assert market.accept_hit(hit_id, worker)
    else:
        with pytest.raises(NotQualified):
            market.accept_hit(hit_id, worker)


def test_approval_rate_and_number_approved_come_from_history_and_live_work(market):
    hit_type_id = make_hit_type(
        market,
        QualificationRequirements=[
            {"QualificationTypeId": req.PERCENT_APPROVED, "Comparator": "GreaterThanOrEqualTo", "IntegerValues": [95]},
            {"QualificationTypeId": req.NUMBER_APPROVED, "Comparator": "GreaterThan", "IntegerValues": [100]},
        ],
    )
    hit_id = make_hit(market, hit_type_id, MaxAssignments=3)
    veteran, novice, sloppy = (market.register_worker() for _ in range(3))
    market.set_worker_stats(veteran, approved=990, submitted=1000)
    market.set_worker_stats(novice, approved=50, submitted=50)
    market.set_worker_stats(sloppy, approved=900, submitted=1000)
    assert market.accept_hit(hit_id, veteran)
    for worker in (novice, sloppy):
        with pytest.raises(NotQualified):
            market.accept_hit(hit_id, worker)
    groups = {g.hit_type_id: g for g in market.list_hit_groups(sloppy)}
    assert groups[hit_type_id].qualified is False
    assert [r.met for r in groups[hit_type_id].requirements] == [False, True]


def test_masters_requirement(market):
    hit_id = make_hit(
        market,
        make_hit_type(
            market,
            QualificationRequirements=[
                {"QualificationTypeId": req.MASTERS, "Comparator": "Exists", "ActionsGuarded": "Accept"}
            ],
        ),
    )
    plain, master = market.register_worker(), market.register_worker()
    market.set_worker_stats(master, masters=True)
    with pytest.raises(NotQualified):
        market.accept_hit(hit_id, plain)
    assert market.accept_hit(hit_id, master)


def test_actions_guarded_levels(market):
    type_id = custom_type(market)

    def hit_guarded(guard):
        return make_hit(
            market,
            make_hit_type(
                market,
                Title=guard,
                QualificationRequirements=[
                    {"QualificationTypeId": type_id, "Comparator": "Exists", "ActionsGuarded": guard}
                ],
            ),
        )

    accept_only, preview, discover = (
        hit_guarded("Accept"),
        hit_guarded("PreviewAndAccept"),
        hit_guarded("DiscoverPreviewAndAccept"),
    )
    outsider = market.register_worker()
    assert market.preview_hit(accept_only, outsider).hit_id == accept_only
    with pytest.raises(NotQualified):
        market.preview_hit(preview, outsider)
    titles = {g.title for g in market.list_hit_groups(outsider)}
    assert titles == {"Accept", "PreviewAndAccept"}
    assert {g.title for g in market.list_hit_groups(None)} == {"Accept", "PreviewAndAccept"}
    insider = market.register_worker()
    market.associate_qualification_with_worker({"QualificationTypeId": type_id, "WorkerId": insider, "IntegerValue": 1})
    assert {g.title for g in market.list_hit_groups(insider)} == {
        "Accept",
        "PreviewAndAccept",
        "DiscoverPreviewAndAccept",
    }
    assert market.preview_hit(discover, insider).question_kind == "HTMLQuestion"


def test_deprecated_required_to_preview_guards_preview(market):
    type_id = custom_type(market)
    hit_id = make_hit(
        market,
        make_hit_type(
            market,
            QualificationRequirements=[
                {"QualificationTypeId": type_id, "Comparator": "Exists", "RequiredToPreview": True}
            ],
        ),
    )
    with pytest.raises(NotQualified):
        market.preview_hit(hit_id, market.register_worker())


def test_blocked_workers_cannot_preview_or_accept(market):
    hit_id = make_hit(market, make_hit_type(market))
    worker = market.register_worker()
    market.create_worker_block({"WorkerId": worker, "Reason": "spam"})
    assert market.list_hit_groups(worker)[0].blocked is True
    with pytest.raises(NotQualified):
        market.accept_hit(hit_id, worker)
    market.delete_worker_block({"WorkerId": worker, "Reason": "ok"})
    assert market.accept_hit(hit_id, worker)


@pytest.mark.parametrize(
    ("requirement", "fragment"),
    [
        ({"QualificationTypeId": "NOSUCHTYPE0000000000", "Comparator": "Exists"}, "does not exist"),
        (
            {"QualificationTypeId": req.PERCENT_APPROVED, "Comparator": "In", "IntegerValues": list(range(16))},
            "1 to 15",
        ),
        ({"QualificationTypeId": req.PERCENT_APPROVED, "Comparator": "GreaterThan"}, "exactly one"),
        (
            {"QualificationTypeId": req.PERCENT_APPROVED, "Comparator": "Exists", "IntegerValues": [1]},
            "takes no values",
        ),
        ({"QualificationTypeId": req.LOCALE, "Comparator": "EqualTo", "IntegerValues": [1]}, "LocaleValues"),
        (
            {"QualificationTypeId": req.LOCALE, "Comparator": "GreaterThan", "LocaleValues": [{"Country": "US"}]},
            "supports",
        ),
    ],
)
def test_invalid_requirements_are_rejected_and_nothing_is_stored(market, requirement, fragment):
    with pytest.raises(MarketplaceError, match=fragment):
        make_hit_type(market, QualificationRequirements=[requirement])
    assert market.hit_types == {}


def test_more_than_ten_requirements_rejected(market):
    requirement = {"QualificationTypeId": req.PERCENT_APPROVED, "Comparator": "GreaterThan", "IntegerValues": [1]}
    with pytest.raises(MarketplaceError, match="at most 10"):
        make_hit_type(market, QualificationRequirements=[requirement] * 11)


def answers(selection):
    return (
        '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd">'
        f"<Answer><QuestionIdentifier>q1</QuestionIdentifier><SelectionIdentifier>{selection}</SelectionIdentifier></Answer></QuestionFormAnswers>"
    )


def test_qualification_test_is_scored_with_the_answer_key(market):
    type_id = custom_type(
        market, Test=QUESTION_FORM_TEST, AnswerKey=ANSWER_KEY, TestDurationInSeconds=60, RetryDelayInSeconds=0
    )
    right, wrong = market.register_worker(), market.register_worker()
    market.request_qualification(right, type_id, answers("four"))
    market.request_qualification(wrong, type_id, answers("five"))

    def score(worker):
        qualification = market.get_qualification_score({"QualificationTypeId": type_id, "WorkerId": worker})
        return qualification["Qualification"]["IntegerValue"]

    assert (score(right), score(wrong)) == (100, 0)
    views = {v.id: v for v in market.list_requestable_qualifications(right)}
    assert views[type_id].has_test and views[type_id].status == "Granted"


def test_auto_granted_type_and_retry_rules(market):
    auto = custom_type(market, "Auto", AutoGranted=True, AutoGrantedValue=5)
    once = custom_type(market, "Once")
    worker = market.register_worker()
    market.request_qualification(worker, auto, None)
    assert market.worker_dashboard(worker).qualifications[0][2] == 5
    market.request_qualification(worker, once, None)
    with pytest.raises(MarketplaceError, match="pending"):
        market.request_qualification(worker, once, None)
    request_id = market.list_qualification_requests({"QualificationTypeId": once})["QualificationRequests"][0][
        "QualificationRequestId"
    ]
    market.reject_qualification_request({"QualificationRequestId": request_id, "Reason": "no"})
    with pytest.raises(MarketplaceError, match="again"):
        market.request_qualification(worker, once, None)
    assert {v.id: v.status for v in market.list_requestable_qualifications(worker)}[once] == "Rejected"


def test_test_without_duration_and_duplicate_names_are_rejected(market):
    with pytest.raises(MarketplaceError, match="TestDurationInSeconds"):
        custom_type(market, Test=QUESTION_FORM_TEST)
    custom_type(market, "Same")
    with pytest.raises(MarketplaceError) as error:
        custom_type(market, "Same")
    assert error.value.code == "AWS.MechanicalTurk.QualificationTypeAlreadyExists"
