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
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from liquid import CachingLoaderMixin, DictLoader, Environment, FalsyStrictUndefined, Markup, Undefined
from liquid.builtin.output import Output, OutputNode
from liquid.exceptions import LiquidError
from liquid.stringify import to_liquid_string

from broker.annotations import boxes
from broker.crowd_elements import (
    ANNOTATION_TAGS,
    CLASSIFIER_TAGS,
    CROWD_SCRIPT_TAG,
    SELF_SUBMITTING_TAGS,
    SUPPORTED_TAGS,
    TagUse,
    inline_bundle,
    scan_crowd_tags,
    scripted_tags,
    unsupported_tags,
)
from broker.tasks.base import ConsolidationMethod, TaskType
from broker.tasks.label_verification import TASK_TYPE as VERIFICATION_TASK
from broker.tasks.registry import TASK_TYPES, UnknownTaskTypeError
from broker.tasks.registry import task_type as registered_task_type

MAX_QUESTION_BYTES = 65_535
HTML_QUESTION_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
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


BUILTIN_TASK_TYPES: tuple[str, ...] = tuple(  # the classification core: the engine's own answers and output
    task.id for task in TASK_TYPES.values() if task.consolidation == ConsolidationMethod.CLASSES
)
MAX_VERIFICATION_BATCH = 25


def _task_type(task_type: str) -> TaskType:
    try:
        return registered_task_type(task_type)
    except UnknownTaskTypeError as error:
        raise TemplateError(str(error)) from None


def initial_boxes(data_object: Mapping[str, Any], attribute: str, labels: list[str]) -> list[dict[str, Any]]:
    """The earlier boxes an adjustment page starts from; TemplateError when the line lacks them."""
    try:
        return boxes.initial_boxes(data_object, attribute, labels)
    except boxes.InitialBoxesError as error:
        raise TemplateError(str(error)) from None


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
    initial_value_attribute: str | None = None,
) -> dict[str, Any]:
    """Ground Truth's ``task.input`` for one data object (instructions are requester HTML).

    Built-in types get only what the page shows, so nothing else from the manifest line
    (for example an earlier job's labels) reaches the worker. "custom" passes the data
    object through, as Ground Truth's pass-through Lambda does, plus our keys.
    "bounding-box-adjustment" also gets ``initialValue``: the boxes of the earlier job's
    output attribute ``initial_value_attribute`` (with its ``-metadata`` class-map).
    """
    info = _task_type(task_type)
    if info.batched:
        raise TemplateError(f"{task_type} shows a batch: use build_verification_task_input")
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
    if not good_examples and not bad_examples:
        good_examples, bad_examples = list(info.good_examples), list(info.bad_examples)
    task_input["instructions"] = _instructions(short_instructions, full_instructions, good_examples, bad_examples)
    if info.block == "adjustment":
        if not initial_value_attribute:
            raise TemplateError(
                "bounding-box-adjustment needs the earlier job's label attribute (initial_value_attribute)"
            )
        task_input["initialValue"] = initial_boxes(data_object, initial_value_attribute, task_input["labels"])
    return task_input


def _instructions(short: str, full: str, good: list[str], bad: list[str]) -> dict[str, Any]:
    return {
        "short": short or "",
        "full": full or "",
        "goodExamples": [_example(e) for e in good],
        "badExamples": [_example(e) for e in bad],
    }


def build_verification_task_input(
    data_objects: list[Mapping[str, Any]],
    ids: list[str],
    *,
    label: str,
    header: str,
    short_instructions: str,
    full_instructions: str,
    good_examples: list[str],
    bad_examples: list[str],
    max_batch: int = MAX_VERIFICATION_BATCH,
) -> dict[str, Any]:
    """``task.input`` of one label-verification HIT: a batch of objects sharing ``label``.

    Each object is an image ("source-ref") or a text ("source"); ``ids`` name them in the
    answer ({"label", "items": [{"id", "correct"}]}), so a worker cannot mix them up.
    """
    if not data_objects:
        raise TemplateError("a verification batch needs at least one data object")
    if len(data_objects) > max_batch:
        raise TemplateError(f"a verification batch holds at most {max_batch} objects, got {len(data_objects)}")
    if len(ids) != len(data_objects) or len(set(ids)) != len(ids):
        raise TemplateError("verification ids must be unique and one per data object")
    _check_labels([label], required=True)
    if not good_examples and not bad_examples:
        verification = VERIFICATION_TASK
        good_examples, bad_examples = list(verification.good_examples), list(verification.bad_examples)
    objects = []
    for index, (item_id, data_object) in enumerate(zip(ids, data_objects, strict=True)):
        key = next((k for k in ("source-ref", "source") if isinstance(data_object.get(k), str)), None)
        if key is None or not str(data_object[key]).strip():
            raise TemplateError(f"verification object {index} ({item_id!r}) has no 'source-ref' or 'source'")
        objects.append({"id": str(item_id), "taskObject": data_object[key], "isImage": key == "source-ref"})
    return {
        "taskObject": None,
        "label": label,
        "labels": [label],
        "objects": objects,
        "header": header or VERIFICATION_TASK.default_header,
        "instructions": _instructions(short_instructions, full_instructions, good_examples, bad_examples),
    }


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


def _output_string(value: Any, autoescape: bool) -> str:
    """What `{{ value }}` prints: lists and objects as compact JSON, the rest as Liquid does.

    Ground Truth's own samples depend on it: formatted-text-evaluation prints the manifest's
    list `"highlightParts": ["lazy dog"]` into an attribute and reads it with JSON.parse (Shopify
    Liquid would run the items together, and python-liquid prints dicts in Python notation).
    """
    if isinstance(value, list | tuple | dict):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return to_liquid_string(value, autoescape)


class _GroundTruthOutputNode(OutputNode):
    __slots__ = ()

    def render_to_output(self, context: Any, buffer: Any) -> int:
        return buffer.write(_output_string(self.expression.evaluate(context), context.autoescape))

    async def render_to_output_async(self, context: Any, buffer: Any) -> int:
        return buffer.write(_output_string(await self.expression.evaluate_async(context), context.autoescape))


class _GroundTruthOutput(Output):
    node_class = _GroundTruthOutputNode


class _GroundTruthEnvironment(Environment):
    """Liquid with autoescape and limits, so a runaway template fails instead of hanging."""

    loop_iteration_limit = 100_000
    output_stream_limit = 5_000_000


class _PartialsLoader(CachingLoaderMixin, DictLoader):
    """The packaged partials, each parsed once: without a cache every `{% render %}` re-parses its
    partial (~1 ms per HIT). Thread-safe because the worker site renders from several threads."""

    def __init__(self, templates: dict[str, str]) -> None:
        super().__init__(auto_reload=False, capacity=300, thread_safe=True)
        DictLoader.__init__(self, templates)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """The rendering environment of every page."""
    return _build_environment(strict=False)


@lru_cache(maxsize=1)
def _strict_environment() -> Environment:
    """Validation's environment: printing or looping over an undefined variable is an error naming
    its line, where publishing would print nothing."""
    return _build_environment(strict=True)


def _build_environment(*, strict: bool) -> Environment:
    partials = resources.files("hit_templates") / "partials"
    loader = _PartialsLoader(
        {
            p.name.removesuffix(".liquid"): p.read_text(encoding="utf-8")
            for p in partials.iterdir()
            if p.name.endswith(".liquid")
        }
    )
    env = _GroundTruthEnvironment(
        autoescape=True, loader=loader, undefined=FalsyStrictUndefined if strict else Undefined
    )
    env.add_tag(_GroundTruthOutput)
    env.add_filter("to_json", _to_json)
    env.add_filter("skip_autoescape", _skip_autoescape)
    env.add_filter("grant_read_access", _grant_read_access)
    return env


def _liquid_error(error: LiquidError) -> TemplateError:
    context = error.context()
    return TemplateError(str(error.message), context[0] if context else None)


@lru_cache(maxsize=32)
def _parse(template_source: str, strict: bool = False) -> Any:
    try:
        return (_strict_environment() if strict else _environment()).from_string(template_source)
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
    """The JSON block the simulated crowd reads; None when the page has no tool to name."""
    info = _task_type(task_type)
    if info.element:
        element, name, labels = info.element, info.element, list(task_input.get("labels", []))
    else:
        tool = next((u for u in uses if u.tag in CLASSIFIER_TAGS + ANNOTATION_TAGS), None)
        if tool is None or not tool.attrs.get("name"):
            return None
        element, name = tool.tag, tool.attrs["name"]
        if tool.tag in CLASSIFIER_TAGS:
            labels = _parse_categories(tool.attrs.get("categories", ""))
        else:
            labels = _parse_labels(tool.attrs.get("labels", ""))
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
    if info.batched:  # the batch: one entry per object, keyed by id
        payload["dataObjects"] = [
            {"id": o["id"], "source-ref" if o["isImage"] else "source": o["taskObject"]}
            for o in task_input.get("objects", [])
        ]
    return f'<script type="application/json" id="{TASK_INPUT_BLOCK_ID}">{json_for_html(payload)}</script>'


def _parse_labels(text: str) -> list[str]:
    """A tool's labels attribute: strings, or (crowd-entity-annotation) objects with a label."""
    try:
        value = json.loads(text)
        if isinstance(value, list):
            return [str(v["label"]) if isinstance(v, dict) and "label" in v else str(v) for v in value]
    except ValueError:
        pass
    objects = re.findall(r"""["']?\blabel["']?\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""", text)
    return [a if a else b for a, b in objects] if objects else _parse_categories(text)


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
    strict: bool = False,
) -> str:
    """Render one HIT page: Liquid (autoescaped) + our crowd elements + the task-input block.
    `strict`: an undefined variable printed or looped over is an error (validation).

    Raises TemplateError(message, line) for Liquid errors, for crowd-* elements we do
    not implement, and for a page without <crowd-form> (nothing could submit it).
    """
    _task_type(task_type)
    template = _parse(template_source, strict)
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
    if not any(use.tag in SELF_SUBMITTING_TAGS for use in uses):
        raise TemplateError("the template has no <crowd-form>; Ground Truth templates wrap their task in one")
    block = _task_input_block(task_type, task_input, data_object, uses)
    bundle = inline_bundle({use.tag for use in uses} | scripted_tags(body))
    title = str(task_input.get("header") or "Task")
    return _document(body, bundle, block, title)


# ---------------------------------------------------------------------------------
# HTMLQuestion

# Characters XML 1.0 forbids even inside CDATA (and lone surrogates, which UTF-8 cannot encode).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


_C0_FORBIDDEN = bytes(code for code in range(32) if code not in (9, 10, 13))


def _xml_safe(text: str) -> str:
    """`text` with the characters XML forbids replaced by U+FFFD.

    An ASCII page can only hold the forbidden C0 controls; checking for them with bytes.translate
    takes ~12 us on a 24 KB page where the regular expression takes ~70 us (one page per HIT).
    """
    if text.isascii():
        raw = text.encode("ascii")
        if len(raw.translate(None, _C0_FORBIDDEN)) == len(raw):
            return text
    return _XML_INVALID.sub("\ufffd", text)


def _cdata(text: str) -> str:
    """CDATA section holding any text, splitting it wherever the text holds ']]>'."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def html_question(html: str, frame_height: int = 0) -> str:
    """The HTMLQuestion XML for CreateHIT; raises QuestionTooLarge over 65,535 bytes."""
    if not isinstance(frame_height, int) or frame_height < 0:
        raise ValueError(f"frame_height must be a non-negative integer, got {frame_height!r}")
    content = _xml_safe(html)
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
