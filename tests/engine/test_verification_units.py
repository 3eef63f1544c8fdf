"""broker.verify without a marketplace: the label and confidence a line carries, answers split
into verdicts, batches cut by label, and worker-response shares."""

from __future__ import annotations

import json

import pytest

from broker.verify.answers import apply_verdicts, batch_verdicts, item_answer
from broker.verify.config import VerificationConfig
from broker.verify.inputs import VerificationInputError, dotted, shown_label


def test_label_and_confidence_from_an_output_manifest_or_plain_fields() -> None:
    config = VerificationConfig(label_attribute="species")
    line = {"source-ref": "s3://b/1.jpg", "species": 3, "species-metadata": {"class-name": "owl", "confidence": 0.87}}
    assert (shown_label(line, config).label, shown_label(line, config).confidence) == ("owl", 87.0)
    plain = VerificationConfig(label_attribute="model-label", confidence_field="scores.top")
    assert shown_label({"model-label": "cat", "scores": {"top": 91.5}}, plain).confidence == 91.5  # percent kept
    assert shown_label({"model-label": "cat", "scores.top": 0.5}, plain).confidence == 50.0  # dotted key whole
    assert shown_label({"species": "owl"}, config).confidence is None  # default field may be absent
    assert dotted({"a": {"b": {"c": 1}}}, "a.b.c") == 1 and dotted({"a": 1}, "a.b") is None


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ({}, "species", "missing"),
        ({"species": 2}, "species", "not a label name"),
        ({"species": 2, "species-metadata": {"class-name": " "}}, "species", "not a label name"),
        (
            {"species": "owl", "species-metadata": {"confidence": "high"}},
            "species-metadata.confidence",
            "not a confidence",
        ),
        (
            {"species": "owl", "species-metadata": {"confidence": 101}},
            "species-metadata.confidence",
            "not a confidence",
        ),
        (
            {"species": "owl", "species-metadata": {"confidence": True}},
            "species-metadata.confidence",
            "not a confidence",
        ),
    ],
)
def test_unusable_lines_name_the_field(line, field, message) -> None:
    with pytest.raises(VerificationInputError, match=message) as caught:
        shown_label(line, VerificationConfig(label_attribute="species"))
    assert caught.value.field == field


def test_a_named_confidence_field_is_required() -> None:
    with pytest.raises(VerificationInputError, match="missing: the model confidence"):
        shown_label({"label": "cat"}, VerificationConfig(label_attribute="label", confidence_field="p"))


def answer(items: list, label: str = "cat") -> list[dict]:
    return [{"crowd-label-verification": {"label": label, "items": items}}]


def test_answer_splits_into_one_verdict_per_object_in_page_order() -> None:
    items = [{"id": "7", "correct": False}, {"id": "3", "correct": True}, {"id": "9", "correct": True}]
    assert batch_verdicts(answer(items), ["3", "7", "9"]) == ([0, 1, 0], None)
    # a custom template may name its element differently: the one object with items is taken
    assert batch_verdicts([{"verify": {"items": items}}], ["3", "7", "9"]) == ([0, 1, 0], None)


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([{"id": "3", "correct": True}], "missing ['7']"),
        ([{"id": "3", "correct": True}, {"id": "7", "correct": True}, {"id": "8", "correct": False}], "unknown ['8']"),
        ([{"id": "3", "correct": True}, {"id": "3", "correct": False}], "given twice"),
        ([{"id": "3", "correct": "yes"}, {"id": "7", "correct": True}], "boolean 'correct'"),
        (["3", "7"], "boolean 'correct'"),
    ],
)
def test_unusable_answers_give_no_verdicts_and_say_why(items, reason) -> None:
    verdicts, error = batch_verdicts(answer(items), ["3", "7"])
    assert verdicts is None and reason in error
    assert batch_verdicts({"fields": {"x": ["1"]}}, ["3"])[1].startswith("no crowd-label-verification answer")


def test_assignment_row_keeps_the_raw_answer_and_flags_a_bad_one() -> None:
    good = answer([{"id": "0", "correct": True}, {"id": "1", "correct": False}])
    row = {"answer_xml": "<xml/>", "answer_json": json.dumps(good), "answer_error": None, "chosen_json": None}
    assert apply_verdicts(row, ["0", "1"]) == row | {"chosen_json": "[0, 1]"}
    flagged = apply_verdicts(row, ["0", "1", "2"])
    assert flagged["chosen_json"] is None and "missing ['2']" in flagged["answer_error"]
    assert flagged["answer_xml"] == "<xml/>" and flagged["answer_json"] == row["answer_json"]
    unreadable = row | {"answer_json": None, "answer_error": "not XML"}
    assert apply_verdicts(unreadable, ["0"]) == unreadable


def test_worker_response_share_holds_only_that_item() -> None:
    content = answer([{"id": "0", "correct": True}, {"id": "1", "correct": False}])[0]
    assert item_answer(content, "1") == {
        "crowd-label-verification": {"label": "cat", "items": [{"id": "1", "correct": False}]}
    }
    assert item_answer({"other": 1}, "1") == {"other": 1}
