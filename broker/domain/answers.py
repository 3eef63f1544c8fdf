"""Workers' answers: MTurk's QuestionFormAnswers XML -> fields -> Ground Truth answer content.

Parsed with defusedxml (no entity expansion, no external entities, no DTD tricks) and by local
element names, so the MTurk namespace, another prefix or none all read the same. Malformed or
hostile XML raises AnswerError, never an unhandled parser exception: one worker's bad answer must
not stop a collect tick.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

QUESTION_FORM_ANSWERS_NAMESPACE = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
)
TASK_ANSWERS_FIELD = "taskAnswers"
VALUE_ELEMENTS = ("FreeText", "SelectionIdentifier", "OtherSelectionText", "UploadedFileKey")
MAX_ANSWER_BYTES = 4 * 1024 * 1024


class AnswerError(ValueError):
    """An assignment's answer that cannot be read; the message says why."""


class InvalidTaskAnswers(AnswerError):
    """A taskAnswers field is there but is not a JSON array of objects (junk, or nested too deep)."""


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_question_form_answers(xml: str | bytes) -> list[tuple[str, str]]:
    """(QuestionIdentifier, value) pairs in document order.

    FreeText, OtherSelectionText and UploadedFileKey give one value each; every
    SelectionIdentifier gives its own pair, so a multi-select question repeats its identifier.
    UploadedFileKey values are read from its <UploadedFileKey> child.
    """
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    if len(xml) > MAX_ANSWER_BYTES:
        raise AnswerError(f"answer is {len(xml):,} bytes; refusing more than {MAX_ANSWER_BYTES:,}")
    try:
        root = fromstring(xml, forbid_dtd=True)
    except DefusedXmlException as error:
        raise AnswerError(f"answer XML refused ({type(error).__name__}): entities and DTDs are not allowed") from error
    except ElementTree.ParseError as error:
        raise AnswerError(f"answer is not well-formed XML: {error}") from error
    if _local(root.tag) != "QuestionFormAnswers":
        raise AnswerError(f"answer XML root is <{_local(root.tag)}>, not <QuestionFormAnswers>")
    pairs: list[tuple[str, str]] = []
    for answer in root:
        if _local(answer.tag) != "Answer":
            continue
        identifier = None
        values: list[str] = []
        for child in answer:
            name = _local(child.tag)
            if name == "QuestionIdentifier":
                identifier = (child.text or "").strip()
            elif name == "UploadedFileKey":
                key = next((item for item in child if _local(item.tag) == "UploadedFileKey"), child)
                values.append((key.text or "").strip())
            elif name in VALUE_ELEMENTS:
                values.append(child.text or "")
        if not identifier:
            raise AnswerError("an <Answer> without a <QuestionIdentifier>")
        pairs.extend((identifier, value) for value in (values or [""]))
    return pairs


# What crowd-form submits nearly every time: one taskAnswers FreeText, no DTD, no entity other than
# XML's five predefined ones, no CDATA, no carriage return, no character XML forbids. Only such a
# document takes the fast path (a regular expression instead of the parser, ~10x cheaper); anything
# else, including every hostile document, goes through defusedxml.
_PREDEFINED = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}
_TEXT = "[^<&\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]*"
_SIMPLE_TASK_ANSWERS = re.compile(
    r'(?:<\?xml version="1\.0"(?: encoding="[Uu][Tt][Ff]-8")?\?>)?\s*'
    rf'<QuestionFormAnswers xmlns="{re.escape(QUESTION_FORM_ANSWERS_NAMESPACE)}">\s*<Answer>\s*'
    rf"<QuestionIdentifier>{TASK_ANSWERS_FIELD}</QuestionIdentifier>\s*"
    rf"<FreeText>({_TEXT}(?:&(?:lt|gt|quot|apos|amp);{_TEXT})*)</FreeText>\s*</Answer>\s*</QuestionFormAnswers>\s*"
)
_ENTITY = re.compile("&(?:lt|gt|quot|apos|amp);")


def _simple_task_answers(xml: str) -> str | None:
    """The taskAnswers text of a document of exactly the common shape above, else None."""
    if len(xml) > MAX_ANSWER_BYTES // 4:  # <= 4 UTF-8 bytes per character: within the limit
        return None
    match = _SIMPLE_TASK_ANSWERS.fullmatch(xml)
    if match is None or "]]>" in match.group(1):
        return None
    return _ENTITY.sub(lambda entity: _PREDEFINED[entity.group(0)], match.group(1))


def task_answers(xml: str | bytes) -> list[dict[str, Any]]:
    """The decoded `taskAnswers` JSON array that crowd-form (and our templates) submit."""
    value = _simple_task_answers(xml) if isinstance(xml, str) else None
    if value is None:
        pairs = parse_question_form_answers(xml)
        found = [value for identifier, value in pairs if identifier == TASK_ANSWERS_FIELD]
        if not found:
            names = ", ".join(sorted({identifier for identifier, _ in pairs})) or "none"
            raise AnswerError(f"no {TASK_ANSWERS_FIELD} field in the answer (fields: {names})")
        if len(found) > 1:
            raise AnswerError(f"{TASK_ANSWERS_FIELD} appears {len(found)} times")
        value = found[0]
    try:
        decoded = json.loads(value)
    except json.JSONDecodeError as error:
        raise InvalidTaskAnswers(f"{TASK_ANSWERS_FIELD} is not JSON: {error.msg} at column {error.colno}") from None
    except RecursionError:
        raise InvalidTaskAnswers(f"{TASK_ANSWERS_FIELD} is JSON nested too deeply to read") from None
    if isinstance(decoded, dict):
        decoded = [decoded]
    if not isinstance(decoded, list) or not all(isinstance(item, dict) for item in decoded):
        raise InvalidTaskAnswers(f"{TASK_ANSWERS_FIELD} must be a JSON array of objects")
    return decoded


def answer_content(xml: str | bytes) -> dict[str, Any]:
    """Ground Truth's `answerContent`: the taskAnswers object, or for a plain HTML form the
    fields themselves (a repeated field becomes a list), as crowd-form would merge them."""
    pairs = parse_question_form_answers(xml)
    if any(identifier == TASK_ANSWERS_FIELD for identifier, _ in pairs):
        merged: dict[str, Any] = {}
        for item in task_answers(xml):
            merged.update(item)
        return merged
    content: dict[str, Any] = {}
    for identifier, value in pairs:
        if identifier in content:
            existing = content[identifier]
            content[identifier] = existing + [value] if isinstance(existing, list) else [existing, value]
        else:
            content[identifier] = value
    return content


def class_indices(content: dict[str, Any], element: str, multilabel: bool, labels: list[str]) -> list[int]:
    """The label indices a classification answer of `element` chose: one for single-label, any
    number (possibly none) for multi-label. AnswerError for a missing answer or an unknown label."""
    value = _classifier_value(content, element, multilabel)
    if multilabel:
        chosen = value.get("labels")
        if not isinstance(chosen, list) or not all(isinstance(label, str) for label in chosen):
            raise AnswerError('a multi-label answer needs "labels": a list of label names')
    else:
        label = value.get("label")
        if not isinstance(label, str):
            raise AnswerError('a single-label answer needs "label": a label name')
        chosen = [label]
    index_of = {label: index for index, label in enumerate(labels)}
    unknown = [label for label in chosen if label not in index_of]
    if unknown:
        raise AnswerError(f"unknown label(s): {', '.join(map(repr, unknown))}")
    return sorted({index_of[label] for label in chosen})


def _classifier_value(content: dict[str, Any], element: str, multilabel: bool) -> dict[str, Any]:
    """The element's answer: under its element name, else the one answer shaped like a classifier."""
    if isinstance(content.get(element), dict):
        return content[element]
    key = "labels" if multilabel else "label"
    candidates = [value for value in content.values() if isinstance(value, dict) and key in value]
    if len(candidates) != 1:
        raise AnswerError(f"no {element} answer found (expected one object with {key!r})")
    return candidates[0]


# --------------------------------------------------------------- stored answers


def decode_answer(xml: str) -> tuple[str | None, str | None]:
    """(answer JSON, error): taskAnswers when the HIT used crowd-form, else the raw form fields."""
    data, error = decode_answer_data(xml)
    return (json.dumps(data) if data is not None else None), error


def decode_answer_data(xml: str) -> tuple[Any, str | None]:
    """decode_answer before JSON encoding: (taskAnswers list or {"fields": ...}, error)."""
    try:
        return task_answers(xml), None
    except InvalidTaskAnswers as error:  # a crowd-form answer that cannot be read is no answer at all
        return None, str(error)
    except Exception as first:  # AnswerError, or a form without taskAnswers
        try:
            fields: dict[str, list[str]] = {}
            for name, value in parse_question_form_answers(xml):
                fields.setdefault(name, []).append(value)
            if not fields:
                return None, f"no answer fields: {first}"
            return {"fields": fields}, None
        except Exception as second:
            return None, f"unreadable QuestionFormAnswers: {second}"


def answer_labels(answer_json: str | None, labels: list[str]) -> list[int] | None:
    """Class indices chosen in one answer (first crowd element with label/labels), None if none."""
    if not answer_json:
        return None
    return chosen_labels(json.loads(answer_json), {label: i for i, label in enumerate(labels)})


def chosen_labels(data: Any, index: dict[str, int]) -> list[int] | None:
    """answer_labels on an already decoded answer (label -> class index given), for the collect tick."""
    if isinstance(data, dict) and "fields" in data:
        return None
    for entry in data if isinstance(data, list) else [data]:
        if not isinstance(entry, dict):
            continue
        for value in entry.values():
            if isinstance(value, dict):
                if isinstance(value.get("label"), str) and value["label"] in index:
                    return [index[value["label"]]]
                if isinstance(value.get("labels"), list):
                    chosen = [index[label] for label in value["labels"] if label in index]
                    return sorted(set(chosen)) if chosen else None
    return None


def stored_answer_content(answer_json: str | None) -> Any:
    """Ground Truth's answerContent: the crowd-form output object (taskAnswers' single entry)."""
    if answer_json is None:
        return None
    data = json.loads(answer_json)
    if isinstance(data, list) and len(data) == 1:
        return data[0]
    if isinstance(data, dict) and "fields" in data:
        return data["fields"]
    return data
