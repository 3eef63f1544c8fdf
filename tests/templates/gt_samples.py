"""Amazon's public Ground Truth sample templates (../shared/reference/gt-task-uis), rendered,
worked and submitted in Chromium the way a worker would, with the post checked per element.

Used by tests/templates/test_gt_samples_browser.py and benchmarks/gt_samples.py. Each template
gets one data object holding every `task.input` field the samples read; `work` answers every
crowd element and required native field of the page with the mouse and keyboard, then clicks the
page's submit control; `check_answer` holds each element's part of the post to Ground Truth's shape.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import re
import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from template_helpers import HitServer, sample_png

from broker.templates import TemplateError, build_task_input, render_task_html

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "reference" / "gt-task-uis"

# Outside scripts the samples load, served from a Python package's copy (module, file inside it).
LOCAL_COPIES: dict[str, tuple[str, str]] = {
    "https://code.jquery.com/jquery-3.6.0.min.js": ("xstatic.pkg.jquery", "data/jquery.min.js"),
}
# Templates that cannot work without the internet, and why (no package ships the script).
NEEDS_INTERNET: dict[str, str] = {
    "other/time-series-using-d3js.liquid.html": (
        "draws its chart with d3 v6 from d3js.org (no Python package ships d3 v6)"
    ),
    "images/multi-image-classification-draggable.liquid.html": (
        "its drag-and-drop comes from @shopify/draggable on cdnjs (no Python package ships it)"
    ),
    "images/bounding-box-hierarchical.liquid.html": (
        "names each box with node-uuid 1.4.8 from cdnjs (no Python package ships it)"
    ),
}

# Keypoints a worker places, where a template's own submit check wants fewer than its labels:
# keypoint-additional-answer-validation splits "['Item A', 'Item B', 'Item C']" on '","', finds
# one label and so accepts exactly one keypoint (on Ground Truth too).
KEYPOINTS: dict[str, int] = {"images/keypoint-additional-answer-validation.liquid.html": 1}

TEXT = "The parcel came two days late, but support refunded me at once and apologised."
LABELS = ["label one", "label two", "label three"]


def sample_paths() -> list[str]:
    """The samples' paths relative to gt-task-uis, sorted (empty when ../shared is absent)."""
    if not SAMPLES.is_dir():
        return []
    return sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*.html"))


def sample_wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A short silent WAV for the audio samples."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack("<h", 0) * int(seconds * rate))
    return buffer.getvalue()


def serve_media(server: HitServer) -> None:
    """The files the samples' data objects point at, on the HIT server."""
    png = sample_png()
    for key in ("sample/image.png", "sample/image1.png", "sample/image2.png", "sample/image3.png", "sample/image4.png"):
        server.files[key] = ("image/png", png)
    server.files["sample/audio.wav"] = ("audio/wav", sample_wav())
    server.files["sample/audio2.wav"] = ("audio/wav", sample_wav())
    server.files["sample/document.txt"] = ("text/plain; charset=utf-8", TEXT.encode())


def data_object(path: str, source: str) -> dict[str, Any]:
    """One manifest line holding every field the samples read from task.input."""
    image = "s3://bucket/sample/image.png"
    media = re.search(r"taskObject\s*\|\s*grant_read_access", source)
    line: dict[str, Any] = {
        "source": "Describe the behaviour of the quick brown fox.",
        "response": 'The quick brown <b>fox</b> jumps over the <span class="highlight">lazy dog</span>.',
        "highlightParts": ["lazy dog"],
        "prompt": "Explain the theory of relativity.",
        "responses": ["First answer.", "Second answer.", "Third answer."],
        "modelResponse": "A model's answer.",
        "modelResponses": ["A model's first answer.", "A model's second answer."],
        "translationPairs": [
            {"originalText": "Bonjour", "translation": "Hello"},
            {"originalText": "Merci", "translation": "Thanks"},
        ],
        "Pairs": [
            {"row": "0", "biometricdate": "1/15/2009", "patientname": "Jane Doe", "a1c": "5.0", "totalchol": "140"},
            {"row": "1", "biometricdate": "1/15/2010", "patientname": "John Doe", "a1c": "6.0", "totalchol": "200"},
        ],
        "conversation": "A: Hi, my order is late. B: Sorry, I will check.",
        "item1": {"image": "s3://bucket/sample/image1.png", "title": "Red kettle"},
        "item2": {"image": "s3://bucket/sample/image2.png", "title": "Red kettle, 1.7 l"},
        "translation": {"text": "Hello world", "language": "English"},
        "original": {"text": "Bonjour le monde", "language": "French"},
        "image": image,
        "image1": "s3://bucket/sample/image1.png",
        "image2": "s3://bucket/sample/image2.png",
        "image3": "s3://bucket/sample/image3.png",
        "image4": "s3://bucket/sample/image4.png",
        "audioFile1": "s3://bucket/sample/audio.wav",
        "audioFile2": "s3://bucket/sample/audio2.wav",
        "surveyLink": "https://example.com/survey",
        "searchText": "red kettle",
        "topic": "kitchen",
        "title": "A short title",
        "text": TEXT,
        "text1": TEXT,
        "text2": "Support refunded me at once.",
        "textBeginning": "The parcel came",
        "textEnd": "late.",
        "utterance": "Book me a table for two.",
        "intent": "book a restaurant",
        "context": "A customer review.",
        "company": "Example Inc.",
        "pngString": base64.b64encode(sample_png(48, 32)).decode(),
    }
    if media:
        folder = path.split("/", 1)[0]
        line["source-ref"] = {
            "audio": "s3://bucket/sample/audio.wav",
            "video": "s3://bucket/sample/video.mp4",
            "text": "s3://bucket/sample/document.txt",
        }.get(folder, image)
    else:
        line["source"] = TEXT
    return line


def render_sample(path: str, grant) -> str:
    """The page `broker validate`/`preview` would render for this sample (TemplateError if refused)."""
    source = (SAMPLES / path).read_text(encoding="utf-8")
    line = data_object(path, source)
    task_input = build_task_input(
        "custom",
        line,
        labels=LABELS,
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )
    return render_task_html(source, task_input, task_type="custom", data_object=line, grant_read_access=grant)


# ---------------------------------------------------------------------------------
# Working the page


@dataclass
class Outcome:
    """What happened to one sample: "clean", "refused" or "broken", and why."""

    status: str
    detail: str = ""
    answer: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


NAMED_ELEMENTS_JS = """() => Array.from(document.querySelectorAll('crowd-form [name], crowd-entity-annotation[name]'))
  .filter(el => el.tagName.toLowerCase().startsWith('crowd-'))
  .map(el => ({tag: el.tagName.toLowerCase(), name: el.getAttribute('name'),
               value: el.getAttribute('value'), inGroup: !!el.closest('crowd-radio-group')}))"""


def _image_point(page, el, x: float, y: float) -> tuple[float, float]:
    return el.evaluate(
        """(el, [x, y]) => {
            const r = el.overlay.getBoundingClientRect();
            return [r.left + x * r.width / el.width, r.top + y * r.height / el.height];
        }""",
        [x, y],
    )


def _drag(page, el, start, end, steps: int = 6) -> None:
    page.mouse.move(*_image_point(page, el, *start))
    page.mouse.down()
    page.mouse.move(*_image_point(page, el, *end), steps=steps)
    page.mouse.up()


def _click(page, el, x: float, y: float) -> None:
    page.mouse.click(*_image_point(page, el, x, y))


def _wait_image(el) -> None:
    el.scroll_into_view_if_needed()
    el.page.wait_for_function("el => el.width > 0", arg=el.element_handle(), timeout=5000)


def _labels_of(el) -> list[str]:
    return el.evaluate("el => Array.from(el.labelNames || [])")


def _pick_label(el, index: int) -> None:
    el.evaluate("(el, i) => el.pickLabel(i)", index)


def work_element(page, el, tag: str, keypoints: int | None = None) -> None:
    """Answer one crowd element as a worker would (mouse and keyboard where the tool has them)."""
    if tag in ("crowd-classifier", "crowd-image-classifier"):
        el.get_by_role("radio").first.click()
    elif tag in ("crowd-classifier-multi-select", "crowd-image-classifier-multi-select"):
        el.get_by_role("checkbox").first.click()
    elif tag == "crowd-bounding-box":
        _wait_image(el)
        for index, _ in enumerate(_labels_of(el)[:3]):
            _pick_label(el, index)
            _drag(page, el, (20 + 40 * index, 20), (50 + 40 * index, 60))
    elif tag == "crowd-polygon":
        _wait_image(el)
        for point in ((40, 40), (120, 40), (80, 110)):
            _click(page, el, *point)
        page.keyboard.press("Enter")
    elif tag == "crowd-polyline":
        _wait_image(el)
        for point in ((40, 40), (120, 60), (200, 40)):
            _click(page, el, *point)
        page.keyboard.press("Enter")
    elif tag == "crowd-line":
        _wait_image(el)
        _drag(page, el, (30, 200), (300, 220))
    elif tag == "crowd-keypoint":
        _wait_image(el)
        for index, _ in enumerate(_labels_of(el)[:keypoints]):
            _pick_label(el, index)
            _click(page, el, 30 + 30 * index, 50)
    elif tag in ("crowd-semantic-segmentation", "crowd-instance-segmentation"):
        _wait_image(el)
        _drag(page, el, (150, 180), (300, 180), steps=10)
    elif tag == "crowd-entity-annotation":
        page.evaluate(
            """() => {
                const text = document.querySelector('.crowd-entity-text');
                const node = text.firstChild;
                const range = document.createRange();
                range.setStart(node, 4); range.setEnd(node, 10);
                const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
                text.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
            }"""
        )
        page.keyboard.press("1")
    elif tag in ("crowd-input", "crowd-text-area"):
        control = el.locator("input, textarea").first
        if control.is_editable() and not control.input_value():
            control.fill("A worker's answer")
    elif tag == "crowd-checkbox":
        if el.evaluate("el => el.hasAttribute('required') && !el.checked"):
            el.get_by_role("checkbox").first.click()
    elif tag == "crowd-slider":
        el.get_by_role("slider").first.focus()
        page.keyboard.press("ArrowRight")
    elif tag == "crowd-toggle-button":
        el.click()
    elif tag == "crowd-text-ranking":
        selects = el.locator("select")
        responses = el.evaluate("el => el.responses.length")
        for index in range(selects.count()):
            selects.nth(index).select_option(str(index % responses + 1))  # response i ranked i+1
    elif tag == "crowd-question-answer-generation":
        page.evaluate(
            """() => {
                const text = document.querySelector('.crowd-v2-text').firstChild;
                const range = document.createRange();
                range.setStart(text, 4); range.setEnd(text, 15);
                const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
            }"""
        )
        el.get_by_role("button", name="Add selected text").first.click()
        el.get_by_label("Question 1", exact=True).fill("What does the fox do?")
        el.get_by_label("Answer 1", exact=True).fill("It jumps over the dog.")
        el.get_by_label("Question tag 1").select_option(index=1)


FILL_NATIVE_JS = """() => {
  // Required native fields the template leaves to the worker: a first choice, or some text.
  const done = new Set();
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (window.Crowd.isInternal(el) || el.disabled || el.type === 'hidden') continue;
    if (el.type === 'radio') {
      if (!el.name || done.has(el.name)) continue;
      done.add(el.name);
      const group = document.querySelectorAll(`input[type=radio][name="${CSS.escape(el.name)}"]`);
      if (!Array.from(group).some(r => r.checked) && Array.from(group).some(r => r.required)) el.click();
    } else if (el.type === 'checkbox') {
      if (el.required && !el.checked) el.click();
    } else if (el.tagName === 'SELECT') {
      if (!el.value) {
        const option = Array.from(el.options).find(o => !o.disabled && o.value);
        if (option) { el.value = option.value; el.dispatchEvent(new Event('change', {bubbles: true})); }
      }
    } else if (el.required && !el.value) {
      el.value = {number: '3', url: 'https://example.com/', date: '2010-06-15', email: 'worker@example.com'}[el.type]
        || 'A worker answer';
      el.dispatchEvent(new Event('input', {bubbles: true}));
      el.dispatchEvent(new Event('change', {bubbles: true}));
    }
  }
}"""

SUBMIT_JS = """() => {
  const form = document.querySelector('crowd-form') || document.querySelector('crowd-entity-annotation');
  const controls = Array.from(document.querySelectorAll(
      'crowd-button[form-action="submit"], crowd-form button[type="submit"], crowd-form button.crowd-submit, ' +
      'crowd-form input[type="submit"], crowd-entity-annotation button[type="submit"]'))
    .filter(c => c.offsetParent !== null || c.getClientRects().length);
  if (controls.length) { controls[controls.length - 1].click(); return 'clicked'; }
  return 'none';
}"""


CUSTOM_LABEL = "custom label"


def add_custom_label(page) -> bool:
    """Templates whose worker types the labels ("Add new label" box + Add button): add one."""
    if page.locator("#customLabel input").count() and page.locator("#addLabel").count():
        page.locator("#customLabel input").fill(CUSTOM_LABEL)
        page.locator("#addLabel").click()
        return True
    return False


def work(page, path: str = "") -> list[dict[str, Any]]:
    """Answer every named crowd element and required native field; the elements worked, in order."""
    typed = add_custom_label(page)
    elements = page.evaluate(NAMED_ELEMENTS_JS)
    for item in elements:
        item["typedLabel"] = CUSTOM_LABEL if typed else None
    seen_groups: set[str] = set()
    counts: dict[str, int] = {}
    for item in elements:
        tag = item["tag"]
        index = counts.get(tag, 0)
        counts[tag] = index + 1
        locator = page.locator(tag).nth(index)
        if tag == "crowd-radio-button":
            group = item["name"] if not item["inGroup"] else f"group:{index}"
            if item["inGroup"]:
                group_el = locator.locator("xpath=ancestor::crowd-radio-group[1]")
                key = group_el.evaluate(
                    "g => { g.dataset.worked = g.dataset.worked || String(Math.random()); return g.dataset.worked; }"
                )
                if key in seen_groups:
                    continue
                seen_groups.add(key)
                locator.click()
            elif group not in seen_groups:
                seen_groups.add(group)
                locator.click()
            continue
        work_element(page, locator, tag, KEYPOINTS.get(path))
    page.evaluate(FILL_NATIVE_JS)
    return elements


# ---------------------------------------------------------------------------------
# Answer shapes (Ground Truth's element output)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _point(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"x", "y"} and _is_int(value["x"]) and _is_int(value["y"])


def _image_props(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"height", "width"} and all(_is_int(v) for v in value.values())


def _tool_keys(answer: Any, keys: set[str]) -> str:
    if not isinstance(answer, dict):
        return f"not an object: {answer!r}"
    extra = set(answer) - keys - {"inputImageProperties", "initialValueModified"}
    missing = (keys | {"inputImageProperties"}) - set(answer)
    if extra or missing:
        return f"keys {sorted(answer)}; expected {sorted(keys | {'inputImageProperties'})}"
    if not _image_props(answer["inputImageProperties"]):
        return f"inputImageProperties {answer['inputImageProperties']!r}"
    return ""


def shape_problem(tag: str, answer: Any, value_attr: str | None) -> str:
    """Why `answer` is not what Ground Truth's <tag> posts ('' when it is)."""
    if tag in ("crowd-classifier", "crowd-image-classifier"):
        ok = isinstance(answer, dict) and isinstance(answer.get("label"), str)
        ok = ok and set(answer) <= {"label", "workerComment"}
        return "" if ok else f"expected {{label}}, got {answer!r}"
    if tag in ("crowd-classifier-multi-select", "crowd-image-classifier-multi-select"):
        ok = isinstance(answer, dict) and set(answer) <= {"labels", "workerComment"}
        ok = ok and isinstance(answer.get("labels"), list) and all(isinstance(x, str) for x in answer["labels"])
        return "" if ok else f"expected {{labels: [...]}}, got {answer!r}"
    if tag == "crowd-bounding-box":
        problem = _tool_keys(answer, {"boundingBoxes"})
        boxes = answer.get("boundingBoxes") if isinstance(answer, dict) else None
        if not problem and not all(
            isinstance(b, dict)
            and set(b) == {"label", "left", "top", "width", "height"}
            and all(_is_int(b[k]) for k in ("left", "top", "width", "height"))
            for b in boxes
        ):
            problem = f"boxes {boxes!r}"
        return problem
    for shape_tag, key, count in (
        ("crowd-polygon", "polygons", 3),
        ("crowd-polyline", "polylines", 2),
        ("crowd-line", "lines", 2),
    ):
        if tag == shape_tag:
            problem = _tool_keys(answer, {key})
            shapes = answer.get(key) if isinstance(answer, dict) else None
            if not problem and not all(
                isinstance(s, dict)
                and set(s) == {"label", "vertices"}
                and isinstance(s["label"], str)
                and len(s["vertices"]) >= count
                and (shape_tag != "crowd-line" or len(s["vertices"]) == 2)
                and all(_point(v) for v in s["vertices"])
                for s in shapes
            ):
                problem = f"{key} {shapes!r}"
            return problem
    if tag == "crowd-keypoint":
        problem = _tool_keys(answer, {"keypoints"})
        points = answer.get("keypoints") if isinstance(answer, dict) else None
        if not problem and not all(
            isinstance(p, dict) and set(p) == {"label", "x", "y"} and _is_int(p["x"]) and _is_int(p["y"])
            for p in points
        ):
            problem = f"keypoints {points!r}"
        return problem
    if tag == "crowd-semantic-segmentation":
        problem = _tool_keys(answer, {"labeledImage", "labelMappings"})
        if not problem and not (
            set(answer["labeledImage"]) == {"pngImageData"}
            and all(set(v) == {"color"} for v in answer["labelMappings"].values())
        ):
            problem = f"labeledImage/labelMappings {answer!r}"[:300]
        return problem
    if tag == "crowd-instance-segmentation":
        problem = _tool_keys(answer, {"labeledImage", "instances"})
        if not problem and not (
            set(answer["labeledImage"]) == {"pngImageData"}
            and isinstance(answer["instances"], list)
            and all(
                set(i) == {"color", "label"} and re.fullmatch(r"#[0-9a-f]{6}", i["color"]) for i in answer["instances"]
            )
        ):
            problem = f"labeledImage/instances {str(answer)[:300]}"
        return problem
    if tag == "crowd-entity-annotation":
        ok = isinstance(answer, dict) and set(answer) <= {"entities", "initialValueModified"}
        ok = ok and all(
            set(e) == {"label", "startOffset", "endOffset"} and _is_int(e["startOffset"]) and _is_int(e["endOffset"])
            for e in answer.get("entities", [None])
        )
        return "" if ok else f"expected {{entities: [...]}}, got {answer!r}"
    if tag in ("crowd-input", "crowd-text-area"):
        return "" if isinstance(answer, str | int | float) else f"expected the text, got {answer!r}"
    if tag in ("crowd-checkbox", "crowd-radio-button", "crowd-toggle-button"):
        key = value_attr or "on"
        ok = isinstance(answer, dict) and key in answer and all(isinstance(v, bool) for v in answer.values())
        return "" if ok else f"expected {{{key!r}: true|false}}, got {answer!r}"
    if tag == "crowd-slider":
        ok = isinstance(answer, int | float) and not isinstance(answer, bool)
        return "" if ok else f"expected a number, got {answer!r}"
    return ""


# Elements whose answer goes straight into the answer object rather than under their name
# (Ground Truth's v2 elements: worker responses hold answerContent.ordinalRankingDimensions).
TOP_LEVEL_KEYS = {
    "crowd-text-ranking": "ordinalRankingDimensions",
    "crowd-question-answer-generation": "questionAnswerPairs",
}


def check_answer(elements: list[dict[str, Any]], answer: dict[str, Any]) -> list[str]:
    """Each worked element's part of the post against Ground Truth's shape."""
    problems = []
    for item in elements:
        tag, name = item["tag"], item["name"]
        if tag in TOP_LEVEL_KEYS:
            key = TOP_LEVEL_KEYS[tag]
            if key not in answer:
                problems.append(f"<{tag}> posted no {key!r}")
            continue
        if tag in ("crowd-form", "crowd-button", "crowd-radio-group", "crowd-card", "crowd-instructions"):
            continue
        if tag in ("crowd-input", "crowd-text-area") and name not in answer:
            continue  # GT leaves out empty text fields
        if name not in answer:
            problems.append(f"<{tag} name={name!r}> is missing from the answer")
            continue
        problem = shape_problem(tag, answer[name], item.get("value"))
        if problem:
            problems.append(f"<{tag} name={name!r}>: {problem}")
        elif item.get("typedLabel") and isinstance(answer[name], dict):
            used = [
                shape.get("label")
                for key in ("boundingBoxes", "polygons", "keypoints", "instances", "lines", "polylines")
                for shape in answer[name].get(key, [])
            ] + list(answer[name].get("labelMappings", {}))
            if not used or set(used) != {item["typedLabel"]}:
                problems.append(f"<{tag} name={name!r}> used labels {used}, not the one the worker typed")
    return problems


def run_sample(page, server: HitServer, path: str) -> Outcome:
    """Render, open, work and submit one sample; the outcome with the reason for any failure."""
    try:
        html = render_sample(path, server.grant)
    except TemplateError as error:
        return Outcome("refused", str(error))
    name = re.sub(r"[^a-z0-9]+", "-", path.lower())
    server.add_page(name, html)
    server.posts.clear()
    errors: list[str] = []

    def on_error(error: Exception) -> None:
        errors.append(str(error))

    page.on("pageerror", on_error)
    try:
        page.goto(server.hit_url(name))
        page.wait_for_function("window.Crowd && window.Crowd.ready === true", timeout=5000)
        page.wait_for_timeout(50)
        elements = work(page, path)
        clicked = page.evaluate(SUBMIT_JS)
        if clicked == "none":
            return Outcome("broken", "no submit control on the page", errors=errors)
        try:
            page.wait_for_selector("#done", timeout=3000)
        except Exception:  # the page did not post: report what it showed the worker
            status = page.evaluate(
                "() => Array.from(document.querySelectorAll('.crowd-form-status, .crowd-error, crowd-alert'))"
                ".map(e => e.textContent.trim()).filter(Boolean).join(' | ')"
            )
            return Outcome("broken", f"no post after submit; page says: {status or '(nothing)'}", errors=errors)
    except Exception as error:  # a Playwright step failed: the page did not behave like GT's
        return Outcome("broken", f"{type(error).__name__}: {str(error).splitlines()[0]}", errors=errors)
    finally:
        page.remove_listener("pageerror", on_error)
    posts = [p for p in server.posts if p.path == "/mturk/externalSubmit"]
    fields = posts[0].fields
    if [k for k, _ in fields] != ["assignmentId", "taskAnswers"]:
        return Outcome("broken", f"posted fields {[k for k, _ in fields]}", errors=errors)
    answers = json.loads(fields[1][1])
    if not (isinstance(answers, list) and len(answers) == 1 and isinstance(answers[0], dict)):
        return Outcome("broken", f"taskAnswers is not [object]: {fields[1][1][:200]}", errors=errors)
    problems = check_answer(elements, answers[0])
    if errors:
        problems.insert(0, "page error: " + errors[0])
    if problems:
        return Outcome("broken", "; ".join(problems), answers[0], errors)
    return Outcome("clean", "", answers[0], errors)


def local_copy(url: str) -> bytes | None:
    """The packaged copy of an outside script, or None when no installed package ships it."""
    module_file = LOCAL_COPIES.get(url)
    if module_file is None:
        return None
    module, relative = module_file
    try:
        package = importlib.import_module(module)
    except ImportError:
        return None
    return (Path(package.__file__).parent / relative).read_bytes()


def sample_context(browser, server: HitServer):
    """A browser context for the samples: the HIT server answers, packaged copies stand in for
    CDN scripts, and every other request is refused (nothing leaves the machine)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def route(route) -> None:
        url = route.request.url
        if url.startswith(server.base_url) or url.startswith("data:"):
            route.continue_()
            return
        body = local_copy(url.split("?", 1)[0])
        if body is None:
            route.abort("internetdisconnected")
        else:
            route.fulfill(status=200, content_type="application/javascript", body=body)

    context.route("**/*", route)
    return context
