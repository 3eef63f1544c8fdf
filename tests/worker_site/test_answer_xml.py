"""QuestionFormAnswers XML: ASCII with character references, round-trips any text a worker types."""

from __future__ import annotations

from defusedxml import ElementTree

from broker.marketplace.worker_site.answer_xml import QUESTION_FORM_ANSWERS_NS, external_submit_answers


def test_any_text_round_trips_through_the_ascii_document() -> None:
    typed = "naïve 😀 \"quoted\" 'single' <tag> & ]]> line\nbreak\ttab"
    xml = external_submit_answers([("assignmentId", "A1"), ("note", typed), ("note", ""), ("ctl", "a\x00b\x1fc")])
    assert xml.isascii() and xml.startswith('<?xml version="1.0" encoding="ASCII"?><QuestionFormAnswers')
    assert "&#128512;" in xml and "&#239;" in xml
    root = ElementTree.fromstring(xml.encode("ascii"))
    ns = {"q": QUESTION_FORM_ANSWERS_NS}
    pairs = [
        (a.findtext("q:QuestionIdentifier", namespaces=ns), a.findtext("q:FreeText", namespaces=ns))
        for a in root.findall("q:Answer", ns)
    ]
    assert pairs == [("note", typed), ("note", ""), ("ctl", "abc")]  # XML cannot carry NUL or C0 controls
