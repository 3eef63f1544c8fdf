"""Pure parts of the engine: tokens, annotations, policy decisions, consolidation arrays, CSV export,
the Reviewing-marker trade-off, error helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from botocore.exceptions import ClientError

from broker import mturk
from broker.consolidation import answer_arrays, consolidate_answers
from broker.domain.answers import answer_labels, decode_answer
from broker.domain.lifecycle import ObjectStatus
from broker.domain.rules import EMPTY_ANSWER_MESSAGE, agreement, decide
from broker.domain.tokens import request_token, requester_annotation
from broker.export import manifest_csv
from broker.output import FailedObject, ObjectResult, outcomes_for
from broker.stages.collect import should_mark_reviewing
from broker.store.tables import Job
from tests.engine.conftest import task_answers_xml

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _job(name: str = "job", created: datetime = NOW) -> Job:
    return Job(
        name=name,
        task_type="text-classification",
        spec_json="{}",
        template_source="",
        labels_json="[]",
        output_uri="/tmp",
        reward_cents=5,
        workers_per_object=3,
        max_concurrent_hits=10,
        created_at=created,
    )


def test_request_token_is_deterministic_short_and_distinct():
    job = _job()
    token = request_token(job, 7, 0)
    assert token == request_token(_job(), 7, 0) and 1 <= len(token) <= 64
    assert (
        len(
            {
                token,
                request_token(job, 8, 0),
                request_token(job, 7, 1),
                request_token(_job(created=NOW + timedelta(seconds=1)), 7, 0),
                request_token(_job("other"), 7, 0),
            }
        )
        == 5
    )


def test_requester_annotation_names_job_object_and_token_within_255_chars():
    text = requester_annotation("a" * 63, 123456, "cb-" + "f" * 48)
    assert "object=123456" in text and "token=cb-" in text and f"job={'a' * 63}" in text and len(text) <= 255


def test_hit_id_recovered_from_hit_already_exists_message():
    error = ClientError(
        {
            "Error": {
                "Code": "RequestError",
                "Message": "There is already a HIT which exists with the "
                "same UniqueRequestToken 'cb-abc'. HITId: 3AQN9REUTFGXCRWFDJAFPAJZB9LDY1",
            },
            "TurkErrorCode": "AWS.MechanicalTurk.HitAlreadyExists",
        },
        "CreateHITWithHITType",
    )
    assert mturk.is_hit_already_exists(error)
    assert mturk.hit_id_from_error(error) == "3AQN9REUTFGXCRWFDJAFPAJZB9LDY1"


def test_retry_config_is_standard_with_ten_retries_and_passed_to_the_client():
    settings = SimpleNamespace(
        endpoint_for=lambda m: "http://127.0.0.1:1",
        aws_profile=None,
        aws_region="us-east-1",
        worker_site_url="http://127.0.0.1:1",
        local_access_key_id="AKIALOCALMARKETPLACE",
        local_secret_access_key="local-marketplace-secret",
    )
    mturk.forget_clients()
    client = mturk.client_for(mturk.resolve_target("local", settings))
    # botocore stores Config(retries={"max_attempts": 10}) as 10 retries after the first attempt
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 11}
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert mturk.client_for(mturk.resolve_target("local", settings)) is client  # one client per marketplace
    mturk.forget_clients()


def test_answer_labels_single_multi_unknown_and_generic_forms():
    labels = ["cat", "dog", "bird"]
    assert answer_labels(json.dumps([{"crowd-image-classifier": {"label": "dog"}}]), labels) == [1]
    assert answer_labels(json.dumps([{"category": {"labels": ["bird", "cat", "bird"]}}]), labels) == [0, 2]
    assert answer_labels(json.dumps([{"category": {"label": "horse"}}]), labels) is None
    assert answer_labels(json.dumps({"fields": {"q": ["x"]}}), labels) is None
    assert answer_labels(None, labels) is None


def test_decode_answer_reads_task_answers_and_falls_back_to_form_fields():
    answer, error = decode_answer(task_answers_xml([{"c": {"label": "dog"}}]))
    assert json.loads(answer) == [{"c": {"label": "dog"}}] and error is None
    xml = (
        '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/'
        'QuestionFormAnswers.xsd"><Answer><QuestionIdentifier>q1</QuestionIdentifier><FreeText>yes</FreeText>'
        "</Answer></QuestionFormAnswers>"
    )
    assert json.loads(decode_answer(xml)[0]) == {"fields": {"q1": ["yes"]}}
    assert decode_answer("<not-xml")[0] is None and decode_answer("<not-xml")[1]


def test_should_mark_reviewing_only_when_relisting_would_cost_more():
    assert should_mark_reviewing(None, 30)  # unknown: mark (bounded cost)
    assert should_mark_reviewing(3600 * 5, 30)  # 600 more listings > 100: mark
    assert not should_mark_reviewing(600, 30)  # 20 more listings of 1/100 call: cheaper than 1 call
    assert not should_mark_reviewing(0, 30)


def _assignment(row_id: int, worker: str, answer: list | None, auto: datetime | None = None):
    return SimpleNamespace(
        id=row_id,
        assignment_id=f"A{row_id}",
        worker_id=worker,
        answer_json=json.dumps(answer) if answer is not None else None,
        auto_approval_time=auto,
    )


def test_decide_all_approves_and_rejects_only_empty_answers_with_a_message():
    policy = SimpleNamespace(approve="all", reject_empty=True)
    obj = SimpleNamespace(status=ObjectStatus.ANSWERED)
    pending = [
        (_assignment(1, "W1", [{"c": {"label": "a"}}]), obj),
        (_assignment(2, "W2", None), obj),
        (_assignment(3, "W3", [{"c": {"label": "zzz"}}]), obj),
    ]
    decisions = decide(policy, pending, ["a", "b"], {}, NOW)
    assert [(d.row_id, d.approve, d.message) for d in decisions] == [
        (1, True, None),
        (2, False, EMPTY_ANSWER_MESSAGE),
        (3, False, EMPTY_ANSWER_MESSAGE),
    ]
    keep = SimpleNamespace(approve="all", reject_empty=False)
    assert all(d.approve for d in decide(keep, pending, ["a", "b"], {}, NOW))


def test_decide_agreement_waits_judges_and_approves_before_auto_approval():
    policy = SimpleNamespace(
        approve="agreement",
        reject_empty=False,
        min_agreement=0.6,
        min_answers_to_judge=5,
        reject_message="Too many disagreements.",
    )
    done = SimpleNamespace(status=ObjectStatus.CONSOLIDATED)
    waiting = SimpleNamespace(status=ObjectStatus.ANSWERED)
    answer = [{"c": {"label": "a"}}]
    scores = {"GOOD": (0.9, 10), "BAD": (0.2, 10), "NEW": (0.0, 2)}
    pending = [
        (_assignment(1, "GOOD", answer), done),
        (_assignment(2, "BAD", answer), done),
        (_assignment(3, "NEW", answer), done),
        (_assignment(4, "BAD", answer), waiting),
        (_assignment(5, "NEW", answer, auto=NOW + timedelta(hours=1)), done),
    ]
    decisions = {d.row_id: (d.approve, d.message) for d in decide(policy, pending, ["a", "b"], scores, NOW)}
    assert decisions == {1: (True, None), 2: (False, "Too many disagreements."), 5: (True, None)}


def test_agreement_is_exact_for_single_labels_and_jaccard_for_sets():
    assert agreement([1], [1]) == 1.0 and agreement([1], [2]) == 0.0
    assert agreement([0, 1], [1, 2]) == pytest.approx(1 / 3)


def test_answer_arrays_code_workers_and_consolidation_recovers_truth():
    rows = [
        (0, "W1", "[0]"),
        (0, "W2", "[0]"),
        (0, "W3", "[1]"),
        (1, "W1", "[1]"),
        (1, "W2", "[1]"),
        (1, "W3", "[1]"),
        (2, "W1", "[0]"),
        (2, "W2", "[0]"),
        (2, "W3", "[0]"),
    ]
    arrays = answer_arrays(rows)
    assert arrays.worker_ids == ["W1", "W2", "W3"] and list(arrays.workers[:3]) == [0, 1, 2]
    result = consolidate_answers(arrays, 4, 2, multilabel=False, workers_per_object=3)
    assert result.labels == {0: 0, 1: 1, 2: 0}  # object 3 has no answers: not returned
    assert all(0.5 <= c <= 1.0 for c in result.confidences.values())
    single = consolidate_answers(answer_arrays(rows[:1]), 1, 2, multilabel=False, workers_per_object=1)
    assert single.confidences == {0: 0.0}  # Ground Truth: 0.00 with one worker


def test_multilabel_consolidation_lists_chosen_classes_with_confidences():
    rows = [
        (0, "W1", "[0, 2]"),
        (0, "W2", "[0, 2]"),
        (0, "W3", "[0]"),
        (1, "W1", "[1]"),
        (1, "W2", "[1]"),
        (1, "W3", "[1]"),
    ]
    result = consolidate_answers(answer_arrays(rows), 2, 3, multilabel=True, workers_per_object=3)
    assert 0 in result.labels[0] and result.labels[1] == [1]
    assert set(result.confidences[0]) == set(result.labels[0])


def test_outcomes_and_csv_export():
    outcomes = outcomes_for(
        [
            (0, ObjectStatus.CONSOLIDATED, "1", "0.93", None),
            (1, ObjectStatus.FAILED, None, None, "Expired"),
            (2, ObjectStatus.PUBLISHED, None, None, None),
        ],
        multilabel=False,
    )
    assert outcomes == {0: ObjectResult(label=1, confidence=0.93), 1: FailedObject(reason="Expired")}
    spec = SimpleNamespace(label_attribute_name="mood")
    manifest = "\n".join(
        json.dumps(line)
        for line in [
            {"source": "a", "id": "obj-a", "mood": 1, "mood-metadata": {"class-name": "happy", "confidence": 0.93}},
            {"source": "b", "mood-metadata": {"failure-reason": "Expired"}},
            {
                "source": "c",
                "mood": [0, 2],
                "mood-metadata": {"class-map": {"0": "x", "2": "z"}, "confidence-map": {"0": 0.5, "2": 0.25}},
            },
        ]
    )
    assert manifest_csv(manifest, spec).splitlines() == [  # each row keeps its object's ids
        "datasetObjectId,id,object,label,confidence",
        "0,obj-a,a,happy,0.93",
        "1,,b,,",
        "2,,c,x;z,0.5;0.25",
    ]


def test_majority_labels_vectorised():
    from broker.consolidation import majority_labels

    rows = [(0, "W1", "[2]"), (0, "W2", "[2]"), (0, "W3", "[1]"), (1, "W1", "[0]")]
    labels = majority_labels(rows, 2, 3)
    assert isinstance(labels, np.ndarray) and list(labels) == [2, 0]
