"""MTurk's question XML: the three Question schemas, QuestionFormAnswers and qualification AnswerKeys.

Validation is structural (root element, namespace, required children, sizes) — what MTurk
rejects in practice — with an error naming what is wrong.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from urllib.parse import urlsplit

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from broker.marketplace.errors import RequestError

SCHEMA_BASE = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
QUESTION_KINDS = ("HTMLQuestion", "ExternalQuestion", "QuestionForm")
MAX_QUESTION_BYTES = 65_535
QUESTION_FORM_ANSWERS_NS = SCHEMA_BASE + "2005-10-01/QuestionFormAnswers.xsd"


@dataclass(frozen=True)
class ParsedQuestion:
    kind: str
    html_content: str | None
    external_url: str | None
    frame_height: int | None


def xml_error(message: str) -> RequestError:
    return RequestError("AWS.MechanicalTurk.XMLParseError", message)


def _local(tag: str) -> tuple[str, str]:
    """'{ns}Name' -> (ns, Name)."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return "", tag


def _parse_xml(text: str, field: str) -> ElementTree.Element:
    try:
        return SafeElementTree.fromstring(text.encode("utf-8"))
    except (ElementTree.ParseError, DefusedXmlException) as error:
        raise xml_error(
            f"There was an error parsing the XML in {field}: {error}. "
            "Make sure the data is well-formed and validates against the appropriate schema."
        ) from error


def _child(element: ElementTree.Element, namespace: str, name: str) -> ElementTree.Element | None:
    return element.find(f"{{{namespace}}}{name}") if namespace else element.find(name)


def _frame_height(root: ElementTree.Element, namespace: str, kind: str) -> int:
    node = _child(root, namespace, "FrameHeight")
    if node is None or not (node.text or "").strip():
        raise xml_error(f"{kind} requires a FrameHeight element.")
    try:
        height = int((node.text or "").strip())
    except ValueError as error:
        raise xml_error(f"FrameHeight must be an integer, got {node.text!r}.") from error
    if height < 0:
        raise xml_error("FrameHeight must not be negative.")
    return height


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (also as ::ffff:127.x.x.x): a page on this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_external_url(url: str) -> None:
    """MTurk requires HTTPS for an ExternalURL; plain http is allowed here for loopback pages only,
    which no MTurk worker could reach anyway (local tests and demos)."""
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host)):
        return
    raise RequestError(
        "AWS.MechanicalTurk.InvalidParameterValue",
        f'The value "{url}" is not valid for the parameter ExternalURL. This URL must use the HTTPS protocol.',
    )


def parse_question(question: str) -> ParsedQuestion:
    """Validate a HIT's Question parameter and pull out what the worker site renders."""
    size = len(question.encode("utf-8"))
    if size > MAX_QUESTION_BYTES:
        raise RequestError(
            "AWS.ParameterOutOfRange",
            f"Question is {size} bytes; the maximum is {MAX_QUESTION_BYTES} bytes.",
        )
    root = _parse_xml(question, "Question")
    namespace, name = _local(root.tag)
    if name not in QUESTION_KINDS:
        raise xml_error(f"The Question root element must be one of {', '.join(QUESTION_KINDS)}, got <{name}>.")
    if not (namespace.startswith(SCHEMA_BASE) and namespace.endswith(f"/{name}.xsd")):
        raise xml_error(f"<{name}> must declare the namespace {SCHEMA_BASE}<version>/{name}.xsd, got {namespace!r}.")
    if name == "HTMLQuestion":
        content = _child(root, namespace, "HTMLContent")
        if content is None or not (content.text or "").strip():
            raise xml_error("HTMLQuestion requires a non-empty HTMLContent element.")
        return ParsedQuestion(name, content.text, None, _frame_height(root, namespace, name))
    if name == "ExternalQuestion":
        url_node = _child(root, namespace, "ExternalURL")
        url = (url_node.text or "").strip() if url_node is not None else ""
        try:
            absolute = bool(url) and bool(urlsplit(url).netloc)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            absolute = False
        if not absolute:
            raise xml_error(f"ExternalQuestion requires an absolute ExternalURL, got {url!r}.")
        check_external_url(url)
        return ParsedQuestion(name, None, url, _frame_height(root, namespace, name))
    validate_question_form(root, namespace)
    return ParsedQuestion(name, None, None, None)


def validate_question_form(root: ElementTree.Element, namespace: str) -> list[str]:
    """QuestionForm: Overview/Question children; each Question has the three required parts."""
    identifiers: list[str] = []
    for child in root:
        _, name = _local(child.tag)
        if name == "Overview":
            continue
        if name != "Question":
            raise xml_error(f"QuestionForm may contain only Overview and Question elements, got <{name}>.")
        for part in ("QuestionIdentifier", "QuestionContent", "AnswerSpecification"):
            if _child(child, namespace, part) is None:
                raise xml_error(f"Each Question in a QuestionForm requires {part}.")
        identifier = (_child(child, namespace, "QuestionIdentifier").text or "").strip()  # type: ignore[union-attr]
        if identifier in identifiers:
            raise xml_error(f"QuestionIdentifier {identifier!r} is used twice.")
        identifiers.append(identifier)
    if not identifiers:
        raise xml_error("A QuestionForm requires at least one Question.")
    return identifiers


def parse_question_form(text: str, field: str) -> list[str]:
    """Validate a QuestionForm (e.g. a qualification Test); returns its question identifiers."""
    root = _parse_xml(text, field)
    namespace, name = _local(root.tag)
    if name != "QuestionForm" or not namespace.startswith(SCHEMA_BASE):
        raise xml_error(f"{field} must be a QuestionForm document, got <{name}>.")
    return validate_question_form(root, namespace)


def answers_from_xml(text: str) -> dict[str, list[str]]:
    """QuestionFormAnswers -> {QuestionIdentifier: [selections or free text]}."""
    root = _parse_xml(text, "Answer")
    result: dict[str, list[str]] = {}
    for answer in root:
        if _local(answer.tag)[1] != "Answer":
            continue
        identifier = ""
        values: list[str] = []
        for part in answer:
            _, name = _local(part.tag)
            if name == "QuestionIdentifier":
                identifier = (part.text or "").strip()
            elif name in ("SelectionIdentifier", "FreeText", "OtherSelectionText", "UploadedFileKey"):
                values.append((part.text or "").strip())
        result.setdefault(identifier, []).extend(values)
    return result


def score_answer_key(answer_key: str, answers_xml: str) -> int:
    """Qualification value a worker's test answers earn under an AnswerKey (MTurk's rules)."""
    root = _parse_xml(answer_key, "AnswerKey")
    answers = answers_from_xml(answers_xml)
    total = 0
    for question in root:
        namespace, name = _local(question.tag)
        if name != "Question":
            continue
        identifier_node = _child(question, namespace, "QuestionIdentifier")
        identifier = (identifier_node.text or "").strip() if identifier_node is not None else ""
        given = set(answers.get(identifier, []))
        for option in question:
            if _local(option.tag)[1] != "AnswerOption":
                continue
            selections = {(node.text or "").strip() for node in option if _local(node.tag)[1] == "SelectionIdentifier"}
            score_node = _child(option, namespace, "AnswerScore")
            if selections and selections == given and score_node is not None:
                total += int((score_node.text or "0").strip())
    return _map_score(root, total)


def _map_score(root: ElementTree.Element, total: int) -> int:
    namespace, _ = _local(root.tag)
    mapping = _child(root, namespace, "QualificationValueMapping")
    if mapping is None:
        return total
    percentage = _child(mapping, namespace, "PercentageMapping")
    if percentage is not None:
        maximum = int((_child(percentage, namespace, "MaximumSummedScore").text or "1").strip())  # type: ignore[union-attr]
        return (total * 100 * 2 + maximum) // (2 * maximum) if maximum > 0 else 0
    scale = _child(mapping, namespace, "ScaleMapping")
    if scale is not None:
        multiplier = float((_child(scale, namespace, "SummedScoreMultiplier").text or "1").strip())  # type: ignore[union-attr]
        return int(total * multiplier)
    ranges = _child(mapping, namespace, "RangeMapping")
    if ranges is not None:
        for summed in ranges:
            if _local(summed.tag)[1] != "SummedScoreRange":
                continue
            low = int((_child(summed, namespace, "InclusiveLowerBound").text or "0").strip())  # type: ignore[union-attr]
            high = int((_child(summed, namespace, "InclusiveUpperBound").text or "0").strip())  # type: ignore[union-attr]
            if low <= total <= high:
                return int((_child(summed, namespace, "QualificationValue").text or "0").strip())  # type: ignore[union-attr]
        outside = _child(ranges, namespace, "OutOfRangeQualificationValue")
        return int((outside.text or "0").strip()) if outside is not None else 0
    return total
