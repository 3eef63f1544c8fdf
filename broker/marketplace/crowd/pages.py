"""Reading the worker site's pages and a HIT's own HTML the way a browser would (stdlib parser).

Only what a bot needs: HIT-group rows, forms and their fields (in document order), the
`hit-frame` iframe, and the `crowd-task-input` JSON block of built-in templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

TASK_INPUT_ID = "crowd-task-input"


@dataclass(frozen=True)
class HitGroupRow:
    hit_type_id: str
    reward_cents: int
    duration_seconds: int
    hits_available: int
    qualified: bool
    blocked: bool
    title: str = ""
    unmet: tuple[str, ...] = ()  # the requirements this worker does not meet, as the site lists them


@dataclass
class FormField:
    """One control of a form; `options` are (value, selected) pairs for a select."""

    tag: str  # input | select | textarea | button
    type: str
    name: str
    value: str
    checked: bool = False
    disabled: bool = False
    options: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class Form:
    action: str
    method: str
    id: str
    fields: list[FormField] = field(default_factory=list)


@dataclass
class ParsedPage:
    forms: list[Form] = field(default_factory=list)
    groups: list[HitGroupRow] = field(default_factory=list)
    iframe_src: str | None = None
    task_input: dict[str, Any] | None = None
    data: dict[str, dict[str, str]] = field(default_factory=dict)  # element id/class -> data-* attributes
    text_ids: dict[str, str] = field(default_factory=dict)  # element id -> its text
    element_srcs: dict[str, str] = field(default_factory=dict)  # crowd-* tag -> its src (the image it shows)

    def form(self, *, action_suffix: str | None = None, form_id: str | None = None) -> Form | None:
        for form in self.forms:
            if form_id is not None and form.id == form_id:
                return form
            if action_suffix is not None and form.action.endswith(action_suffix):
                return form
        return None


def _flag(value: str | None) -> bool:
    return value == "true"


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = ParsedPage()
        self._form: Form | None = None
        self._loose = Form(action="", method="get", id="")  # controls outside any <form>
        self._select: FormField | None = None
        self._option: tuple[str | None, list[str], bool] | None = None
        self._textarea: FormField | None = None
        self._textarea_text: list[str] = []
        self._script_chunks: list[str] | None = None
        self._group: dict[str, str] | None = None
        self._title_chunks: list[str] | None = None
        self._unmet_chunks: list[str] | None = None
        self._unmet: list[str] = []
        self._text_id: tuple[str, list[str], str] | None = None

    # helpers
    def _controls(self) -> Form:
        return self._form if self._form is not None else self._loose

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: (v if v is not None else "") for k, v in attrs_list}
        data = {k[5:]: v for k, v in attrs.items() if k.startswith("data-")}
        if data and attrs.get("id"):
            self.page.data[attrs["id"]] = data
        if tag.startswith("crowd-") and attrs.get("src"):
            self.page.element_srcs.setdefault(tag, attrs["src"])
        if tag == "tr" and "hit-group" in attrs.get("class", "").split():
            self._group = data
            self._unmet = []
        elif tag == "li" and self._group is not None and "bad" in attrs.get("class", "").split():
            self._unmet_chunks = []
        elif tag == "strong" and self._group is not None and "title" in attrs.get("class", "").split():
            self._title_chunks = []
        if attrs.get("id") and tag in ("h1", "p", "span", "code", "div", "strong") and self._text_id is None:
            self._text_id = (attrs["id"], [], tag)
        if tag == "form":
            self._form = Form(attrs.get("action", ""), attrs.get("method", "get").lower(), attrs.get("id", ""))
            self.page.forms.append(self._form)
        elif tag == "input":
            self._controls().fields.append(
                FormField(
                    "input",
                    attrs.get("type", "text").lower(),
                    attrs.get("name", ""),
                    attrs.get("value", ""),
                    checked="checked" in attrs,
                    disabled="disabled" in attrs,
                )
            )
        elif tag == "button":
            self._controls().fields.append(
                FormField(
                    "button",
                    attrs.get("type", "submit").lower(),
                    attrs.get("name", ""),
                    attrs.get("value", ""),
                    disabled="disabled" in attrs,
                )
            )
        elif tag == "select":
            self._select = FormField(
                "select",
                "select-multiple" if "multiple" in attrs else "select-one",
                attrs.get("name", ""),
                "",
                disabled="disabled" in attrs,
            )
            self._controls().fields.append(self._select)
        elif tag == "option" and self._select is not None:
            self._close_option()  # </option> is optional in HTML
            self._option = (attrs.get("value"), [], "selected" in attrs)
        elif tag == "textarea":
            self._textarea = FormField("textarea", "textarea", attrs.get("name", ""), "", disabled="disabled" in attrs)
            self._textarea_text = []
            self._controls().fields.append(self._textarea)
        elif tag == "iframe" and attrs.get("id") == "hit-frame":
            self.page.iframe_src = attrs.get("src")
        elif tag == "script" and attrs.get("id") == TASK_INPUT_ID:
            self._script_chunks = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("select", "textarea", "option", "script", "form"):
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self._script_chunks is not None:
            self._script_chunks.append(data)
        if self._option is not None:
            self._option[1].append(data)
        if self._textarea is not None:
            self._textarea_text.append(data)
        if self._title_chunks is not None:
            self._title_chunks.append(data)
        if self._unmet_chunks is not None:
            self._unmet_chunks.append(data)
        if self._text_id is not None:
            self._text_id[1].append(data)

    def _close_option(self) -> None:
        if self._option is not None and self._select is not None:
            value, text, selected = self._option
            self._select.options.append((value if value is not None else "".join(text).strip(), selected))
        self._option = None

    def handle_endtag(self, tag: str) -> None:
        if self._text_id is not None and tag == self._text_id[2]:
            self.page.text_ids[self._text_id[0]] = "".join(self._text_id[1]).strip()
            self._text_id = None
        if tag == "form":
            self._form = None
        elif tag == "option":
            self._close_option()
        elif tag == "select":
            self._close_option()
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._textarea.value = "".join(self._textarea_text)
            self._textarea = None
        elif tag == "script" and self._script_chunks is not None:
            text = "".join(self._script_chunks).strip()
            self._script_chunks = None
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                self.page.task_input = parsed
        elif tag == "strong" and self._title_chunks is not None:
            if self._group is not None:
                self._group["title"] = " ".join("".join(self._title_chunks).split())
            self._title_chunks = None
        elif tag == "li" and self._unmet_chunks is not None:
            self._unmet.append(" ".join("".join(self._unmet_chunks).split()))
            self._unmet_chunks = None
        elif tag == "tr" and self._group is not None:
            self._finish_group()

    def _finish_group(self) -> None:
        g = self._group or {}
        self._group = None
        try:
            self.page.groups.append(
                HitGroupRow(
                    hit_type_id=g["hit-type-id"],
                    reward_cents=int(g["reward-cents"]),
                    duration_seconds=int(g["duration-seconds"]),
                    hits_available=int(g["hits-available"]),
                    qualified=_flag(g.get("qualified")),
                    blocked=_flag(g.get("blocked")),
                    title=g.get("title", ""),
                    unmet=tuple(self._unmet),
                )
            )
        except (KeyError, ValueError):
            return


def parse_page(html: str) -> ParsedPage:
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    if parser._loose.fields and not parser.page.forms:
        parser.page.forms.append(parser._loose)
    return parser.page
