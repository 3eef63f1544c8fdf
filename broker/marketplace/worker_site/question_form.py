"""MTurk QuestionForm XML (HIT questions and qualification tests): parse to render, answers to XML.

A QuestionForm's answers differ from an HTML form's: selection questions answer with
SelectionIdentifier elements, free-text ones with FreeText, in question order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from defusedxml import ElementTree

from broker.marketplace.worker_site.answer_xml import FreeTextAnswer, SelectionAnswer, question_form_answers


@dataclass(frozen=True)
class Selection:
    identifier: str
    text: str


@dataclass(frozen=True)
class FormQuestion:
    identifier: str
    display_name: str
    texts: list[str]
    required: bool
    kind: str  # "free_text" | "selection" | "file_upload"
    style: str = "radiobutton"  # radiobutton, checkbox, list, dropdown, combobox, multichooser
    max_selections: int = 1
    selections: list[Selection] = field(default_factory=list)
    default_text: str = ""
    multiline: bool = False

    @property
    def multiple(self) -> bool:
        return self.max_selections > 1 or self.style in ("checkbox", "multichooser")


@dataclass(frozen=True)
class FormBlock:
    """Either an Overview (question is None) or a Question, in document order."""

    overview: list[str] = field(default_factory=list)
    question: FormQuestion | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element, name: str):
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element, name: str) -> list:
    return [child for child in element if _local(child.tag) == name]


def _text(element) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _content_texts(content) -> list[str]:
    """Title/Text/List items/FormattedContent of a QuestionContent or Overview, as plain text."""
    if content is None:
        return []
    texts: list[str] = []
    for child in content:
        name = _local(child.tag)
        if name in ("Title", "Text", "FormattedContent"):
            texts.append(_text(child))
        elif name == "List":
            texts.extend(f"• {_text(item)}" for item in _children(child, "ListItem"))
    return [t for t in texts if t]


def _question(element) -> FormQuestion:
    identifier = _text(_child(element, "QuestionIdentifier"))
    display_name = _text(_child(element, "DisplayName"))
    required = _text(_child(element, "IsRequired")).lower() == "true"
    texts = _content_texts(_child(element, "QuestionContent"))
    spec = _child(element, "AnswerSpecification")
    answer = next(iter(spec), None) if spec is not None else None
    kind_tag = _local(answer.tag) if answer is not None else "FreeTextAnswer"
    if kind_tag == "SelectionAnswer":
        selections = [
            Selection(_text(_child(sel, "SelectionIdentifier")), _text(_child(sel, "Text")) or _text(sel))
            for sel in _children(_child(answer, "Selections") or answer, "Selection")
        ]
        style = _text(_child(answer, "StyleSuggestion")) or "radiobutton"
        max_text = _text(_child(answer, "MaxSelectionCount"))
        max_selections = (
            int(max_text) if max_text.isdigit() else (len(selections) if style in ("checkbox", "multichooser") else 1)
        )
        return FormQuestion(identifier, display_name, texts, required, "selection", style, max_selections, selections)
    if kind_tag == "FileUploadAnswer":
        return FormQuestion(identifier, display_name, texts, required, "file_upload")
    default = _text(_child(answer, "DefaultText")) if answer is not None else ""
    lines = _text(_child(answer, "NumberOfLinesSuggestion")) if answer is not None else ""
    return FormQuestion(
        identifier,
        display_name,
        texts,
        required,
        "free_text",
        default_text=default,
        multiline=lines.isdigit() and int(lines) > 1,
    )


def parse_question_form(xml: str) -> list[FormBlock]:
    """Blocks of a QuestionForm document; raises ValueError on XML that is not a QuestionForm."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ValueError(f"QuestionForm XML does not parse: {exc}") from exc
    if _local(root.tag) != "QuestionForm":
        raise ValueError(f"expected a QuestionForm document, got <{_local(root.tag)}>")
    blocks: list[FormBlock] = []
    for child in root:
        name = _local(child.tag)
        if name == "Overview":
            blocks.append(FormBlock(overview=_content_texts(child)))
        elif name == "Question":
            blocks.append(FormBlock(question=_question(child)))
    return blocks


def question_form_answer_xml(blocks: Sequence[FormBlock], posted: Mapping[str, Sequence[str]]) -> str:
    """QuestionFormAnswers for a posted QuestionForm: FreeText or SelectionIdentifiers per question."""
    answers: list[FreeTextAnswer | SelectionAnswer] = []
    for block in blocks:
        question = block.question
        if question is None or question.kind == "file_upload":
            continue
        values = [v for v in posted.get(question.identifier, []) if v != ""]
        if question.kind == "selection":
            valid = {s.identifier for s in question.selections}
            chosen = tuple(v for v in values if v in valid)[: max(question.max_selections, 1)]
            answers.append(SelectionAnswer(question.identifier, chosen))
        else:
            answers.append(FreeTextAnswer(question.identifier, values[0] if values else ""))
    return question_form_answers(answers)
