"""QuestionFormAnswers parsing: namespaces, repeated selections, taskAnswers JSON, hostile XML."""

from __future__ import annotations

import json
from html import escape

import pytest

from broker.domain.answers import (
    AnswerError,
    answer_content,
    class_indices,
    parse_question_form_answers,
    task_answers,
)
from broker.tasks import registry as task_types

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"


def form(*answers: str, ns: str = f' xmlns="{NS}"') -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
        f"<QuestionFormAnswers{ns}>{''.join(answers)}</QuestionFormAnswers>"
    )


def free_text(name: str, value: str) -> str:
    return f"<Answer><QuestionIdentifier>{name}</QuestionIdentifier><FreeText>{escape(value)}</FreeText></Answer>"


def test_free_text_fields_in_order_with_mturk_namespace():
    xml = form(free_text("a", "1"), free_text("b", "x < y & z"), free_text("a", "2"))
    assert parse_question_form_answers(xml) == [("a", "1"), ("b", "x < y & z"), ("a", "2")]


def test_prefixed_namespace_and_no_namespace_read_the_same():
    prefixed = (
        f'<q:QuestionFormAnswers xmlns:q="{NS}"><q:Answer><q:QuestionIdentifier>f</q:QuestionIdentifier>'
        "<q:FreeText>v</q:FreeText></q:Answer></q:QuestionFormAnswers>"
    )
    assert parse_question_form_answers(prefixed) == [("f", "v")]
    assert parse_question_form_answers(form(free_text("f", "v"), ns="")) == [("f", "v")]


def test_repeated_selection_identifier_and_other_kinds():
    xml = form(
        "<Answer><QuestionIdentifier>colours</QuestionIdentifier>"
        "<SelectionIdentifier>red</SelectionIdentifier><SelectionIdentifier>blue</SelectionIdentifier></Answer>",
        "<Answer><QuestionIdentifier>other</QuestionIdentifier><OtherSelectionText>teal</OtherSelectionText></Answer>",
        "<Answer><QuestionIdentifier>upload</QuestionIdentifier><UploadedFileSizeInBytes>10</UploadedFileSizeInBytes>"
        "<UploadedFileKey>key/1.png</UploadedFileKey></Answer>",
        "<Answer><QuestionIdentifier>empty</QuestionIdentifier><FreeText></FreeText></Answer>",
    )
    assert parse_question_form_answers(xml) == [
        ("colours", "red"),
        ("colours", "blue"),
        ("other", "teal"),
        ("upload", "key/1.png"),
        ("empty", ""),
    ]


def test_task_answers_json():
    content = [{"crowd-image-classifier": {"label": "dog"}}]
    xml = form(free_text("taskAnswers", json.dumps(content)))
    assert task_answers(xml) == content
    assert answer_content(xml) == {"crowd-image-classifier": {"label": "dog"}}


def test_task_answers_missing_or_not_json():
    with pytest.raises(AnswerError, match="no taskAnswers field.*fields: other"):
        task_answers(form(free_text("other", "x")))
    with pytest.raises(AnswerError, match="not JSON"):
        task_answers(form(free_text("taskAnswers", "[{oops")))
    with pytest.raises(AnswerError, match="array of objects"):
        task_answers(form(free_text("taskAnswers", "[1, 2]")))
    with pytest.raises(AnswerError, match="appears 2 times"):
        task_answers(form(free_text("taskAnswers", "[]"), free_text("taskAnswers", "[]")))


def test_plain_form_answer_content_merges_repeated_fields():
    xml = form(free_text("q1", "yes"), free_text("tags", "a"), free_text("tags", "b"))
    assert answer_content(xml) == {"q1": "yes", "tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("xml", "fragment"),
    [
        ("<QuestionFormAnswers><Answer>", "not well-formed"),
        ("", "not well-formed"),
        ("<Other/>", "not <QuestionFormAnswers>"),
        (form("<Answer><FreeText>v</FreeText></Answer>"), "without a <QuestionIdentifier>"),
    ],
)
def test_malformed_xml_is_an_answer_error(xml, fragment):
    with pytest.raises(AnswerError, match=fragment):
        parse_question_form_answers(xml)


def test_entity_bomb_is_refused():
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>'
        "<QuestionFormAnswers><Answer><QuestionIdentifier>a</QuestionIdentifier>"
        "<FreeText>&lol2;</FreeText></Answer></QuestionFormAnswers>"
    )
    with pytest.raises(AnswerError, match="refused"):
        parse_question_form_answers(bomb)


def test_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<QuestionFormAnswers><Answer><QuestionIdentifier>a</QuestionIdentifier>"
        "<FreeText>&x;</FreeText></Answer></QuestionFormAnswers>"
    )
    with pytest.raises(AnswerError):
        parse_question_form_answers(xxe)


def test_oversized_answer_is_refused():
    with pytest.raises(AnswerError, match="refusing"):
        parse_question_form_answers(form(free_text("taskAnswers", "x" * (5 * 1024 * 1024))))


LABELS = ["cat", "dog", "bird"]


def classify(content, task_type):
    """class_indices with the element and multi-label flag of a registered task type."""
    task = task_types.task_type(task_type)
    return class_indices(content, task.element, task.multilabel, LABELS)


def test_class_indices_single_label():
    assert classify({"crowd-image-classifier": {"label": "dog"}}, "image-classification") == [1]
    assert classify({"category": {"label": "bird"}}, "text-classification") == [2]


def test_class_indices_multilabel():
    content = {"crowd-classifier-multi-select": {"labels": ["bird", "cat", "bird"]}}
    assert classify(content, "text-classification-multilabel") == [0, 2]
    assert classify({"x": {"labels": []}}, "image-classification-multilabel") == []


@pytest.mark.parametrize(
    ("content", "task_type", "fragment"),
    [
        ({"crowd-classifier": {"label": "fish"}}, "text-classification", "unknown label"),
        ({}, "text-classification", "no crowd-classifier answer"),
        ({"crowd-classifier": {"labels": ["cat"]}}, "text-classification", 'needs "label"'),
        ({"a": {"labels": "cat"}}, "image-classification-multilabel", "list of label names"),
    ],
)
def test_class_indices_errors(content, task_type, fragment):
    with pytest.raises(AnswerError, match=fragment):
        classify(content, task_type)
