"""HIT rendering: Ground Truth Liquid templates -> self-contained HTMLQuestion XML.

The flow mirrors Ground Truth: ``build_task_input`` plays the PRE-annotation Lambda
(``task.input``), ``render_task_html`` renders the Liquid template with Ground Truth's
filters and autoescape on, inlines our crowd elements in place of AWS's script and
adds the task-input block the simulated crowd reads; ``html_question`` wraps the page
for CreateHIT and enforces MTurk's 65,535-byte limit before the call is made.
"""

from __future__ import annotations

import contextvars
import html as html_lib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from liquid import DictLoader, Environment, Markup
from liquid.exceptions import LiquidError

from broker.crowd_elements import (
    CLASSIFIER_TAGS,
    CROWD_SCRIPT_TAG,
    SUPPORTED_TAGS,
    TagUse,
    inline_bundle,
    scan_crowd_tags,
    unsupported_tags,
)

MAX_QUESTION_BYTES = 65_535
HTML_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
TASK_INPUT_BLOCK_ID = "crowd-task-input"
IMAGE_EXTENSIONS = (".apng", ".avif", ".bmp", ".gif", ".ico", ".jpeg", ".jpg", ".png", ".svg", ".webp")


class TemplateError(ValueError):
    """A template that cannot be rendered into a working HIT; `line` is 1-based or None."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.message = message
        self.line = line


class QuestionTooLarge(ValueError):
    """The HTMLQuestion XML exceeds MTurk's limit; raised before any API call."""

    def __init__(self, size_bytes: int, limit: int = MAX_QUESTION_BYTES) -> None:
        super().__init__(
            f"HTMLQuestion is {size_bytes:,} bytes (UTF-8); MTurk accepts at most {limit:,}. "
            "Shorten the instructions or the data object, or host large content behind a URL."
        )
        self.size_bytes = size_bytes
        self.limit = limit


@dataclass(frozen=True)
class TaskType:
    """A task type: its crowd element, manifest source key and Ground Truth output type."""

    id: str
    element: str | None
    source_key: str | None
    multilabel: bool
    output_type: str
    default_header: str
    template_file: str | None


TASK_TYPES: dict[str, TaskType] = {
    t.id: t
    for t in (
        TaskType(
            "image-classification", "crowd-image-classifier", "source-ref", False,
            "groundtruth/image-classification", "Choose the category that best describes the image",
            "image-classification.liquid",
        ),
        TaskType(
            "image-classification-multilabel", "crowd-image-classifier-multi-select", "source-ref", True,
            "groundtruth/image-classification-multilabel", "Choose every category that applies to the image",
            "image-classification-multilabel.liquid",
        ),
        TaskType(
            "text-classification", "crowd-classifier", "source", False,
            "groundtruth/text-classification", "Choose the category that best describes the text",
            "text-classification.liquid",
        ),
        TaskType(
            "text-classification-multilabel", "crowd-classifier-multi-select", "source", True,
            "groundtruth/text-classification-multilabel", "Choose every category that applies to the text",
            "text-classification-multilabel.liquid",
        ),
        TaskType("custom", None, None, False, "groundTruth/custom", "", None),
    )
}
BUILTIN_TASK_TYPES: tuple[str, ...] = tuple(t for t, info in TASK_TYPES.items() if info.element)


def _task_type(task_type: str) -> TaskType:
    try:
        return TASK_TYPES[task_type]
    except KeyError:
        raise TemplateError(
            f"unknown task type {task_type!r}; expected one of {', '.join(TASK_TYPES)}"
        ) from None


# ---------------------------------------------------------------------------------
# task.input (the PRE-annotation Lambda's job)


def _example(text: str) -> dict[str, str]:
    """An example is an image (URI or path ending in an image extension) or HTML text."""
    stripped = text.strip()
    path = urlsplit(stripped).path.lower() if "://" in stripped else stripped.lower()
    if "\n" not in stripped and " " not in stripped and path.endswith(IMAGE_EXTENSIONS):
        return {"src": stripped}
    return {"html": text}


def _check_labels(labels: list[str], required: bool) -> list[str]:
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise TemplateError("labels must be a list of strings")
    if required and not labels:
        raise TemplateError("labels must not be empty for a classification task")
    blank = [i for i, label in enumerate(labels) if not label.strip()]
    if blank:
        raise TemplateError(f"labels[{blank[0]}] is empty")
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise TemplateError(f"label {label!r} appears twice")
        seen.add(label)
    return list(labels)


def build_task_input(
    task_type: str,
    data_object: Mapping[str, Any],
    *,
    labels: list[str],
    header: str,
    short_instructions: str,
    full_instructions: str,
    good_examples: list[str],
    bad_examples: list[str],
) -> dict[str, Any]:
    """Ground Truth's ``task.input`` for one data object (instructions are requester HTML).

    Built-in types get only what the page shows, so nothing else from the manifest line
    (for example an earlier job's labels) reaches the worker. "custom" passes the data
    object through, as Ground Truth's pass-through Lambda does, plus our keys.
    """
    info = _task_type(task_type)
    if info.source_key:
        source = data_object.get(info.source_key)
        if not isinstance(source, str) or not source.strip():
            raise TemplateError(f"data object has no {info.source_key!r} (required by {task_type})")
        task_input: dict[str, Any] = {"taskObject": source}
    else:
        task_input = dict(data_object)
        task_input["taskObject"] = data_object.get("source-ref", data_object.get("source"))
    task_input["labels"] = _check_labels(labels, required=bool(info.element))
    if not labels and "labels" in data_object and not info.element:
        task_input["labels"] = data_object["labels"]
    task_input["header"] = header or task_input.get("header") or info.default_header
    task_input["instructions"] = {
        "short": short_instructions or "",
        "full": full_instructions or "",
        "goodExamples": [_example(e) for e in good_examples],
        "badExamples": [_example(e) for e in bad_examples],
    }
    return task_input


# ---------------------------------------------------------------------------------
# Liquid environment with Ground Truth's filters

_grant: contextvars.ContextVar[Callable[[str], str]] = contextvars.ContextVar("grant_read_access")


def json_for_html(value: Any) -> str:
    """JSON that is also safe inside <script> and quoted attributes (like Jinja's tojson)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("'", "\\u0027")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _to_json(value: Any) -> Markup:
    """GT's to_json: serialised, not autoescaped (templates add ``| escape`` in attributes)."""
    return Markup(json_for_html(value))


def _skip_autoescape(value: Any) -> Markup:
    return Markup("" if value is None else str(value))


def _grant_read_access(value: Any) -> str:
    """GT's grant_read_access: s3:// URI or local path -> a URL the worker's browser can load."""
    uri = "" if value is None else str(value)
    if not uri:
        return ""
    try:
        url = _grant.get()(uri)
    except LookupError:
        raise TemplateError("grant_read_access used outside render_task_html") from None
    except Exception as error:  # the callable's own failure, reported with the URI
        raise TemplateError(f"grant_read_access could not grant access to {uri!r}: {error}") from error
    # http(s) for workers; file:// and plain paths for a preview opened from disk. Never
    # javascript:, data: and the like, which would run or inject content in the page.
    if urlsplit(url).scheme.lower() not in ("http", "https", "file", ""):
        raise TemplateError(f"grant_read_access returned {url!r} for {uri!r}: not an http(s) or file URL")
    return url


class _GroundTruthEnvironment(Environment):
    """Liquid with autoescape and limits, so a runaway template fails instead of hanging."""

    loop_iteration_limit = 100_000
    output_stream_limit = 5_000_000


@lru_cache(maxsize=1)
def _environment() -> Environment:
    partials = resources.files("hit_templates") / "partials"
    loader = DictLoader(
        {p.name.removesuffix(".liquid"): p.read_text(encoding="utf-8") for p in partials.iterdir()
         if p.name.endswith(".liquid")}
    )
    env = _GroundTruthEnvironment(autoescape=True, loader=loader)
    env.add_filter("to_json", _to_json)
    env.add_filter("skip_autoescape", _skip_autoescape)
    env.add_filter("grant_read_access", _grant_read_access)
    return env


def _liquid_error(error: LiquidError) -> TemplateError:
    context = error.context()
    return TemplateError(str(error.message), context[0] if context else None)


@lru_cache(maxsize=32)
def _parse(template_source: str) -> Any:
    try:
        return _environment().from_string(template_source)
    except LiquidError as error:
        raise _liquid_error(error) from error


def builtin_template_source(task_type: str) -> str:
    """The Liquid source of a built-in task type's template (hit_templates/<type>.liquid)."""
    info = _task_type(task_type)
    if not info.template_file:
        raise TemplateError(f"task type {task_type!r} has no built-in template; give the job a `template:`")
    return (resources.files("hit_templates") / info.template_file).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------
# The page


def _task_input_block(
    task_type: str, task_input: Mapping[str, Any], data_object: Mapping[str, Any], uses: list[TagUse]
) -> str | None:
    """The JSON block the simulated crowd reads; None when the page has no classifier to name."""
    info = _task_type(task_type)
    if info.element:
        element, name, labels = info.element, info.element, list(task_input.get("labels", []))
    else:
        classifier = next((u for u in uses if u.tag in CLASSIFIER_TAGS), None)
        if classifier is None or not classifier.attrs.get("name"):
            return None
        element, name = classifier.tag, classifier.attrs["name"]
        labels = _parse_categories(classifier.attrs.get("categories", ""))
    source = {k: data_object[k] for k in ("source-ref", "source") if k in data_object}
    private = set(data_object) - {"source-ref", "source"}
    visible_input = {k: v for k, v in task_input.items() if k not in private}
    payload = {
        "element": element,
        "name": name,
        "labels": labels,
        "dataObject": source,
        "taskInput": visible_input,
    }
    return (
        f'<script type="application/json" id="{TASK_INPUT_BLOCK_ID}">'
        f"{json_for_html(payload)}</script>"
    )


def _parse_categories(text: str) -> list[str]:
    """A categories attribute: JSON or GT's single-quoted JS array."""
    try:
        value = json.loads(text)
        if isinstance(value, list):
            return [str(v) for v in value]
    except ValueError:
        pass
    return [a if a else b for a, b in re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", text)]


def _document(body: str, bundle: str, block: str | None, title: str) -> str:
    """Swap AWS's script tag for our elements (in <head>) and add the task-input block.

    A fragment (what Ground Truth templates are) is wrapped in a full document; a full
    document gets the elements before </head> (else right after <html>). Our elements
    upgrade whatever is already parsed, so their place in the page does not matter.
    """
    body = CROWD_SCRIPT_TAG.sub("", body)
    tail = (block or "") + "\n"
    if not re.search(r"<html[\s>]", body, re.IGNORECASE):
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n<link rel="icon" href="data:,">\n'
            f"<title>{html_lib.escape(title)}</title>\n{bundle}\n</head>\n<body>\n"
            f"{body.strip()}\n{tail}</body>\n</html>\n"
        )
    if re.search(r"</head\s*>", body, re.IGNORECASE):
        body = re.sub(r"</head\s*>", lambda m: f"{bundle}\n{m.group(0)}", body, count=1, flags=re.IGNORECASE)
    else:
        body = re.sub(r"<html[^>]*>", lambda m: f"{m.group(0)}\n{bundle}", body, count=1, flags=re.IGNORECASE)
    if not body.lstrip().lower().startswith("<!doctype"):
        body = "<!DOCTYPE html>\n" + body.lstrip()  # MTurk wants an HTML5 document
    if re.search(r"</body\s*>", body, re.IGNORECASE):
        return re.sub(r"</body\s*>", lambda m: tail + m.group(0), body, count=1, flags=re.IGNORECASE)
    return body + tail


def render_task_html(
    template_source: str,
    task_input: Mapping[str, Any],
    *,
    task_type: str,
    data_object: Mapping[str, Any],
    grant_read_access: Callable[[str], str],
) -> str:
    """Render one HIT page: Liquid (autoescaped) + our crowd elements + the task-input block.

    Raises TemplateError(message, line) for Liquid errors, for crowd-* elements we do
    not implement, and for a page without <crowd-form> (nothing could submit it).
    """
    _task_type(task_type)
    template = _parse(template_source)
    token = _grant.set(grant_read_access)
    try:
        body = template.render(task={"input": dict(task_input)})
    except LiquidError as error:
        raise _liquid_error(error) from error
    finally:
        _grant.reset(token)
    uses = scan_crowd_tags(body)
    unknown = unsupported_tags(uses)
    if unknown:
        raise TemplateError(
            f"<{unknown[0].tag}> is not one of the crowd elements crowd-broker implements "
            f"(supported: {', '.join(sorted(SUPPORTED_TAGS))})",
            unknown[0].line,
        )
    if not any(use.tag == "crowd-form" for use in uses):
        raise TemplateError("the template has no <crowd-form>; Ground Truth templates wrap their task in one")
    block = _task_input_block(task_type, task_input, data_object, uses)
    bundle = inline_bundle({use.tag for use in uses})
    title = str(task_input.get("header") or "Task")
    return _document(body, bundle, block, title)


# ---------------------------------------------------------------------------------
# HTMLQuestion

# Characters XML 1.0 forbids even inside CDATA (and lone surrogates, which UTF-8 cannot encode).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _cdata(text: str) -> str:
    """CDATA section holding any text, splitting it wherever the text holds ']]>'."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def html_question(html: str, frame_height: int = 0) -> str:
    """The HTMLQuestion XML for CreateHIT; raises QuestionTooLarge over 65,535 bytes."""
    if not isinstance(frame_height, int) or frame_height < 0:
        raise ValueError(f"frame_height must be a non-negative integer, got {frame_height!r}")
    content = _XML_INVALID.sub("\ufffd", html)
    xml = (
        f'<HTMLQuestion xmlns="{HTML_QUESTION_NS}">'
        f"<HTMLContent>{_cdata(content)}</HTMLContent>"
        f"<FrameHeight>{frame_height}</FrameHeight>"
        "</HTMLQuestion>"
    )
    size = len(xml.encode("utf-8"))
    if size > MAX_QUESTION_BYTES:
        raise QuestionTooLarge(size)
    return xml
