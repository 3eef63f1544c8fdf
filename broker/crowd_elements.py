"""Our implementation of Ground Truth's crowd HTML elements, inlined into each HIT.

Ground Truth templates load ``https://assets.crowd.aws/crowd-html-elements.js`` (and the
v2 elements' ``crowd-html-elements-v2.js`` with its stylesheet). A HIT must be self-contained,
so the broker swaps those tags for the small vanilla custom elements in
``hit_templates/elements/``, inlining only the modules whose tags the page uses or its own
scripts write (``errorBox.innerHTML = '<crowd-alert ...>'``): a custom element defined on
the page upgrades every instance, however it was created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from importlib import resources

CROWD_SCRIPT_URL = "https://assets.crowd.aws/crowd-html-elements.js"

# <script src="https://assets.crowd.aws/crowd-html-elements.js"></script> (or -v2.js), and the
# v2 stylesheet <link rel="stylesheet" href="https://assets.crowd.aws/css/crowd-html-elements-v2.css">;
# any quoting, http(s) or protocol-relative.
CROWD_SCRIPT_TAG = re.compile(
    r"""<script\b[^>]*?\bsrc\s*=\s*["']?(?:https?:)?//assets\.crowd\.aws/crowd-html-elements(?:-v2)?\.js"""
    r"""["']?[^>]*>\s*</script\s*>"""
    r"""|<link\b[^>]*?\bhref\s*=\s*["']?(?:https?:)?//assets\.crowd\.aws/css/crowd-html-elements(?:-v2)?\.css"""
    r"""["']?[^>]*>""",
    re.IGNORECASE,
)
# A crowd element written by the page's own script, e.g. innerHTML = '<crowd-alert type="error">'.
SCRIPTED_TAG = re.compile(r"<(crowd-[a-z][a-z0-9-]*)", re.IGNORECASE)


@dataclass(frozen=True)
class ElementModule:
    """One JS file (and its CSS) defining one or more crowd elements."""

    name: str
    tags: tuple[str, ...]
    script: str
    style: str | None
    helper_for: tuple[str, ...] = ()  # tags defined elsewhere that need this module first


IMAGE_TOOL_TAGS: tuple[str, ...] = (
    "crowd-bounding-box",
    "crowd-polygon",
    "crowd-keypoint",
    "crowd-semantic-segmentation",
    "crowd-instance-segmentation",
    "crowd-line",
    "crowd-polyline",
)
# The annotation tools (our spatial, span and verification elements).
ANNOTATION_TAGS: tuple[str, ...] = IMAGE_TOOL_TAGS + ("crowd-entity-annotation", "crowd-label-verification")
# Elements that post their own answer: a page holding one needs no <crowd-form> (as in GT).
SELF_SUBMITTING_TAGS: tuple[str, ...] = ("crowd-form", "crowd-entity-annotation")

# Order matters: core first (helpers), then form, then the rest.
MODULES: tuple[ElementModule, ...] = (
    ElementModule("core", (), "core.js", "core.css"),
    ElementModule("form", ("crowd-form",), "form.js", "form.css"),
    ElementModule(
        "classifier",
        (
            "crowd-classifier",
            "crowd-classifier-multi-select",
            "crowd-image-classifier",
            "crowd-image-classifier-multi-select",
        ),
        "classifier.js",
        "classifier.css",
    ),
    ElementModule("instructions", ("crowd-instructions",), "instructions.js", "instructions.css"),
    ElementModule("checkbox", ("crowd-checkbox",), "checkbox.js", "fields.css"),
    ElementModule("radio", ("crowd-radio-group", "crowd-radio-button"), "radio.js", "fields.css"),
    ElementModule("input", ("crowd-input", "crowd-text-area"), "input.js", "fields.css"),
    ElementModule("card", ("crowd-card",), "card.js", "card.css"),
    ElementModule("button", ("crowd-button",), "button.js", None),
    ElementModule("slider", ("crowd-slider", "crowd-slider-label"), "slider.js", "fields.css"),
    ElementModule("toggle-button", ("crowd-toggle-button",), "toggle-button.js", "widgets.css"),
    ElementModule("alert", ("crowd-alert",), "alert.js", "widgets.css"),
    ElementModule("fab", ("crowd-fab", "crowd-icon-button"), "fab.js", "widgets.css", helper_for=("crowd-badge",)),
    ElementModule("badge", ("crowd-badge",), "badge.js", "widgets.css"),
    ElementModule("modal", ("crowd-modal",), "modal.js", None),
    ElementModule("tabs", ("crowd-tabs", "crowd-tab"), "tabs.js", "widgets.css"),
    ElementModule("toast", ("crowd-toast",), "toast.js", "widgets.css"),
    ElementModule("text-ranking", ("crowd-text-ranking",), "text-ranking.js", "v2.css"),
    ElementModule("qa-generation", ("crowd-question-answer-generation",), "qa-generation.js", "v2.css"),
    # Shared helpers, inlined (before the tools) when a tag they serve is used:
    # annotate.js/css for all the annotation tools, image-tool.js (the drawing stage)
    # for the four image tools.
    ElementModule("annotate", (), "annotate.js", "annotate.css", helper_for=ANNOTATION_TAGS),
    ElementModule("image-tool", (), "image-tool.js", None, helper_for=IMAGE_TOOL_TAGS),
    ElementModule("bounding-box", ("crowd-bounding-box",), "bounding-box.js", None),
    ElementModule("polygon", ("crowd-polygon",), "polygon.js", None),
    ElementModule("keypoint", ("crowd-keypoint",), "keypoint.js", None),
    ElementModule(
        "segmentation",
        ("crowd-semantic-segmentation",),
        "segmentation.js",
        None,
        helper_for=("crowd-instance-segmentation",),
    ),
    ElementModule("instance-segmentation", ("crowd-instance-segmentation",), "instance-segmentation.js", None),
    ElementModule("polyline", ("crowd-polyline", "crowd-line"), "polyline.js", None),
    ElementModule("entity", ("crowd-entity-annotation",), "entity.js", None),
    ElementModule("verification", ("crowd-label-verification",), "verification.js", None),
)

SUPPORTED_TAGS: frozenset[str] = frozenset(tag for module in MODULES for tag in module.tags)
CLASSIFIER_TAGS: tuple[str, ...] = MODULES[2].tags


@dataclass(frozen=True)
class TagUse:
    """A crowd-* start tag found in a page: its name, attributes and 1-based line."""

    tag: str
    attrs: dict[str, str] = field(hash=False)
    line: int


class _CrowdTagScanner(HTMLParser):
    """Collects crowd-* start tags; script/style bodies and comments are skipped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.uses: list[TagUse] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.startswith("crowd-"):
            values = {name: value if value is not None else "" for name, value in attrs}
            self.uses.append(TagUse(tag, values, self.getpos()[0]))


def scan_crowd_tags(html: str) -> list[TagUse]:
    """Every crowd-* element of the page, in document order."""
    scanner = _CrowdTagScanner()
    scanner.feed(html)
    scanner.close()
    return scanner.uses


def scripted_tags(html: str) -> set[str]:
    """Supported crowd tags that appear anywhere in the page source, scripts included."""
    return {tag.lower() for tag in SCRIPTED_TAG.findall(html)} & SUPPORTED_TAGS


def unsupported_tags(uses: list[TagUse]) -> list[TagUse]:
    """The crowd-* tags we have no implementation for (the HIT would not work)."""
    return [use for use in uses if use.tag not in SUPPORTED_TAGS]


def modules_for(tags: set[str] | frozenset[str]) -> list[ElementModule]:
    """Modules needed for these tags: always core and form, then those used."""
    return [m for m in MODULES if m.name in ("core", "form") or (set(m.tags) | set(m.helper_for)) & set(tags)]


def _element_file(name: str) -> str:
    return (resources.files("hit_templates") / "elements" / name).read_text(encoding="utf-8")


def _compact_js(source: str) -> str:
    """Drop indentation, blank lines and whole-line // comments (keeps code readable on disk)."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


def _compact_css(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return "\n".join(line.strip() for line in source.splitlines() if line.strip())


@lru_cache(maxsize=64)
def _bundle(module_names: tuple[str, ...]) -> str:
    modules = [m for m in MODULES if m.name in module_names]
    styles: list[str] = []
    for module in modules:
        if module.style and module.style not in styles:
            styles.append(module.style)
    css = "\n".join(_compact_css(_element_file(name)) for name in styles)
    js = "\n".join(_compact_js(_element_file(m.script)) for m in modules)
    if "</style" in css.lower() or "</script" in js.lower():
        raise RuntimeError("crowd element sources must not contain </style or </script")
    return f"<style>\n{css}\n</style>\n<script>\n{js}\n</script>"


def inline_bundle(tags: set[str] | frozenset[str]) -> str:
    """<style> + <script> defining the crowd elements for these tags (and crowd-form)."""
    return _bundle(tuple(m.name for m in modules_for(tags)))
