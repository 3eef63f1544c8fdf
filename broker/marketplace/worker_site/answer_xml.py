"""QuestionFormAnswers XML built the way MTurk builds it from an externalSubmit form post.

MTurk's answers look like
`<?xml version="1.0" encoding="ASCII"?><QuestionFormAnswers xmlns="..."><Answer>
<QuestionIdentifier>f</QuestionIdentifier><FreeText>v</FreeText></Answer>...</QuestionFormAnswers>`
on one line: ASCII encoding (other characters become numeric character references), every
posted field an Answer in form order, repeated names kept, empty values kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

QUESTION_FORM_ANSWERS_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
)
XML_DECLARATION = '<?xml version="1.0" encoding="ASCII"?>'
# Characters XML 1.0 cannot carry at all, even as references.
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class FreeTextAnswer:
    question_identifier: str
    text: str


@dataclass(frozen=True)
class SelectionAnswer:
    """A QuestionForm selection question: one SelectionIdentifier per chosen option."""

    question_identifier: str
    selection_identifiers: tuple[str, ...]


def xml_text(value: str) -> str:
    """Escape for XML character data in an ASCII document."""
    value = _INVALID_XML_CHARS.sub("", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.encode("ascii", "xmlcharrefreplace").decode("ascii")


def _answer_xml(answer: FreeTextAnswer | SelectionAnswer) -> str:
    head = f"<Answer><QuestionIdentifier>{xml_text(answer.question_identifier)}</QuestionIdentifier>"
    if isinstance(answer, FreeTextAnswer):
        return f"{head}<FreeText>{xml_text(answer.text)}</FreeText></Answer>"
    selections = "".join(
        f"<SelectionIdentifier>{xml_text(s)}</SelectionIdentifier>" for s in answer.selection_identifiers
    )
    return f"{head}{selections}</Answer>"


def question_form_answers(answers: Iterable[FreeTextAnswer | SelectionAnswer]) -> str:
    body = "".join(_answer_xml(answer) for answer in answers)
    return f'{XML_DECLARATION}<QuestionFormAnswers xmlns="{QUESTION_FORM_ANSWERS_NS}">{body}</QuestionFormAnswers>'


def external_submit_answers(fields: Iterable[tuple[str, str]]) -> str:
    """The XML for an externalSubmit post: every field but `assignmentId` as FreeText, in order."""
    return question_form_answers(FreeTextAnswer(name, value) for name, value in fields if name != "assignmentId")
