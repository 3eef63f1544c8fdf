"""The broker's CPU fast paths (issue 4) give exactly what the general paths give."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest

from broker import templates
from broker.domain import answers
from broker.domain.answers import answer_labels, decode_answer
from broker.mturk import parse_utc_timestamp

FORM = (
    '<?xml version="1.0" encoding="UTF-8"?><QuestionFormAnswers xmlns="'
    + answers.QUESTION_FORM_ANSWERS_NAMESPACE
    + '"><Answer><QuestionIdentifier>taskAnswers'
    "</QuestionIdentifier><FreeText>{}</FreeText></Answer></QuestionFormAnswers>"
)


def _parser_value(xml: str) -> str | None:
    """taskAnswers as the defusedxml parser reads it (None when the document is refused)."""
    try:
        found = [value for name, value in answers.parse_question_form_answers(xml) if name == "taskAnswers"]
    except answers.AnswerError:
        return None
    return found[0] if len(found) == 1 else None


def test_fast_answer_path_reads_what_the_xml_parser_reads():
    pieces = ["a", "<", ">", "&", '"', "'", "\n", "\r", "\t", "]]>", "é", "\u2028", "\x01", "\ufffe", " ", "{"]
    rng = random.Random(4)
    taken = 0
    for _ in range(600):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        for xml in (
            FORM.format(escape(text)),
            FORM.format(escape(text, {'"': "&quot;", "'": "&apos;"})),
            FORM.format(text),
            FORM.format(escape(text)).replace("><", ">\n <"),
        ):
            fast = answers._simple_task_answers(xml)
            if fast is not None:
                taken += 1
                assert fast == _parser_value(xml), xml
    assert taken > 600  # the common shape does take the fast path


@pytest.mark.parametrize(
    "xml",
    [
        FORM.replace(
            '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY e "x">]>'
        ).format("&e;"),
        FORM.format("&#65;"),
        FORM.format("<![CDATA[x]]>"),
        FORM.replace("UTF-8", "ISO-8859-1").format("x"),
        " " + FORM.format("x"),
    ],
)
def test_documents_outside_the_common_shape_go_through_defusedxml(xml):
    assert answers._simple_task_answers(xml) is None


def test_hostile_answer_is_still_refused():
    bomb = FORM.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>',
    ).format("&b;")
    with pytest.raises(answers.AnswerError, match="DTD|entit"):
        answers.task_answers(bomb)
    answer_json, error = decode_answer(bomb)
    assert answer_json is None and "unreadable" in error


def test_decoded_answer_and_chosen_label_match_the_general_path():
    xml = FORM.format(escape(json.dumps([{"crowd-classifier": {"label": "neg & <odd>"}}])))
    answer_json, error = decode_answer(xml)
    assert error is None
    assert json.loads(answer_json) == [{"crowd-classifier": {"label": "neg & <odd>"}}]
    assert answer_labels(answer_json, ["pos", "neg & <odd>"]) == [1]


def test_mturk_timestamps_parse_to_aware_utc():
    assert parse_utc_timestamp(1_700_000_000.5) == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)
    assert parse_utc_timestamp("1700000000").tzinfo is UTC
    parsed = parse_utc_timestamp("2026-11-22T05:00:00+02:00")
    assert parsed == datetime(2026, 11, 22, 3, 0, tzinfo=UTC) and parsed.tzinfo is UTC
    with pytest.raises(ValueError):
        parse_utc_timestamp("not a time")


def test_partials_are_parsed_once_and_render_the_same_page():
    source = templates.builtin_template_source("text-classification")
    task_input = templates.build_task_input(
        "text-classification",
        {"source": "it was fine"},
        labels=["pos", "neg"],
        header="Sentiment",
        short_instructions="Pick one",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )

    def render() -> str:
        return templates.render_task_html(
            source,
            task_input,
            task_type="text-classification",
            data_object={"source": "it was fine"},
            grant_read_access=lambda uri: uri,
        )

    first = render()
    cache = templates._environment().loader.cache
    cached = dict(cache.items()) if hasattr(cache, "items") else None
    assert render() == first
    assert len(cache) >= 1
    if cached is not None:
        assert all(cache[name] is template for name, template in cached.items())


@pytest.mark.parametrize("text", ["plain ascii page", "tab\tnew\nline\r", "bell\x07 and \x1f", "é \ufffe \x00"])
def test_question_xml_replaces_forbidden_characters_as_before(text):
    assert templates._xml_safe(text) == templates._XML_INVALID.sub("\ufffd", text)
