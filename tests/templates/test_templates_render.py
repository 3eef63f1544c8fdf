"""Liquid rendering with Ground Truth's filters, autoescape, the crowd-html-elements.js
swap, the task-input block, HTMLQuestion's CDATA and size limit, and clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from template_helpers import REALISTIC_FULL, REALISTIC_SHORT, render_builtin

from broker.crowd_elements import MODULES, SUPPORTED_TAGS, scan_crowd_tags, unsupported_tags
from broker.templates import (
    BUILTIN_TASK_TYPES,
    MAX_QUESTION_BYTES,
    TASK_TYPES,
    QuestionTooLarge,
    TemplateError,
    build_task_input,
    builtin_template_source,
    html_question,
    render_task_html,
)

NS = "{http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd}"
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ground-truth-docs"
IMAGE = {"source-ref": "s3://bucket/images/house.png"}


def grant(uri: str) -> str:
    return "https://files.example/" + uri.split("://", 1)[-1] + "?X-Amz-Signature=abc&X-Amz-Expires=300"


def custom_input(data: dict, **extra) -> dict:
    values = dict(labels=[], header="", short_instructions="", full_instructions="", good_examples=[], bad_examples=[])
    values.update(extra)
    return build_task_input("custom", data, **values)


def render_custom(source: str, data: dict, **extra) -> str:
    return render_task_html(
        source, custom_input(data, **extra), task_type="custom", data_object=data, grant_read_access=grant
    )


def page_body(html: str) -> str:
    """The page without our inlined <style>/<script> bundle and the task-input block."""
    html = re.sub(r"<style>.*?</style>\s*<script>.*?</script>", "", html, flags=re.DOTALL)
    return re.sub(r'<script type="application/json" id="crowd-task-input">.*?</script>', "", html)


def task_block(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="crowd-task-input">(.*?)</script>', html, re.DOTALL)
    assert match, "no crowd-task-input block"
    return json.loads(match.group(1))


# --- Ground Truth's filters (the example of sms-custom-templates-step2.md) ---------------

# Ground Truth's example applies the filters to literals; python-liquid treats literals as
# the author's own markup, so the same strings come from task.input (data) here.
FILTER_SAMPLE = """<crowd-form>
auto-escape: {{ task.input.title }}
explicit escape: {{ task.input.title | escape }}
explicit escape_once: {{ task.input.escaped | escape_once }}
skip_autoescape: {{ task.input.title | skip_autoescape }}
to_json: {{ task.input.jsObject | to_json }}
grant_read_access: {{ "s3://mybucket/myphoto.png" | grant_read_access }}
</crowd-form>"""
FILTER_DATA = {
    "source": "x",
    "title": "Have you read 'James & the Giant Peach'?",
    "escaped": "Have you read 'James &amp; the Giant Peach'?",
    "jsObject": {"point_number": 8, "coords": [59, 76]},
}


def test_ground_truth_filters_render_as_documented():
    html = page_body(render_custom(FILTER_SAMPLE, FILTER_DATA))
    assert "auto-escape: Have you read &#39;James &amp; the Giant Peach&#39;?" in html
    assert "explicit escape: Have you read &#39;James &amp; the Giant Peach&#39;?" in html
    assert "explicit escape_once: Have you read &#39;James &amp; the Giant Peach&#39;?" in html
    assert "skip_autoescape: Have you read 'James & the Giant Peach'?" in html
    assert 'to_json: {"point_number": 8, "coords": [59, 76]}' in html
    assert (
        "grant_read_access: https://files.example/mybucket/myphoto.png?X-Amz-Signature=abc&amp;X-Amz-Expires=300"
        in html
    )


def test_standard_liquid_tags_work():
    source = (
        "<crowd-form>{% for l in task.input.labels %}{% if forloop.first %}[{% endif %}{{ l | upcase }}"
        "{% unless forloop.last %},{% endunless %}{% endfor %}]</crowd-form>"
    )
    assert "[A,B]" in render_custom(source, {"source": "x"}, labels=["a", "b"])


def test_to_json_is_safe_in_script_and_single_quoted_attribute():
    source = (
        "<crowd-form><x-data v='{{ task.input.v | to_json }}'></x-data>"
        "<script>var v = {{ task.input.v | to_json }};</script></crowd-form>"
    )
    html = page_body(render_custom(source, {"source": "s", "v": "</script><b>it's</b> & more"}))
    assert "</script><b>" not in html
    expected = '"\\u003c/script\\u003e\\u003cb\\u003eit\\u0027s\\u003c/b\\u003e \\u0026 more"'
    assert f"v='{expected}'" in html
    assert json.loads(expected) == "</script><b>it's</b> & more"


# --- autoescape of manifest data --------------------------------------------------------

HOSTILE = '</classification-target><script>alert(1)</script>"onmouseover="x\' ]]> &amp;'


@pytest.mark.parametrize("task_type", BUILTIN_TASK_TYPES)
def test_builtin_templates_escape_manifest_data(task_type):
    info = TASK_TYPES[task_type]
    value = HOSTILE if info.source_key == "source" else "s3://b/x.png?<script>\"'"
    data = {info.source_key: value}
    labels = ["<script>alert(2)</script>", "a\"b'c"]
    html = render_builtin(task_type, data, grant, labels=labels, header='<i>Pick</i> "one"')
    body = page_body(html)
    assert "<script>alert" not in body
    assert '"onmouseover="' not in body
    assert "<i>Pick</i>" not in body
    if info.source_key == "source":
        assert (
            "&lt;/classification-target&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
            "&#34;onmouseover=&#34;x&#39; ]]&gt; &amp;amp;" in body
        )
    block = task_block(html)
    assert block["dataObject"] == data
    assert block["labels"] == labels
    assert block["element"] == block["name"] == info.element
    assert block["taskInput"]["taskObject"] == value
    assert "<" not in html[html.index('id="crowd-task-input">') + 23 : html.rindex("</script>")]


def test_builtin_task_input_leaves_other_manifest_keys_out_of_the_page():
    data = {"source-ref": "s3://b/x.png", "previous-job": 1, "previous-job-metadata": {"class-name": "SECRET"}}
    html = render_builtin("image-classification", data, grant)
    assert "SECRET" not in html and "previous-job" not in html


def test_custom_block_names_the_classifier_and_hides_other_manifest_keys():
    source = (REFERENCE / "sms-custom-templates-step2.md").read_text() if REFERENCE.exists() else None
    template = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form><crowd-classifier name="tweetFeeling" categories="['positive','negative','neutral', 'unclear']"
 header="Which term?"><classification-target>{{ task.input.source }}</classification-target>\
</crowd-classifier></crowd-form>"""
    if source:
        assert 'name="tweetFeeling"' in source  # the same sample as the developer guide
    data = {"source": "Great game!", "gold": "positive"}
    block = task_block(render_custom(template, data))
    assert block["element"] == "crowd-classifier"
    assert block["name"] == "tweetFeeling"
    assert block["labels"] == ["positive", "negative", "neutral", "unclear"]
    assert block["dataObject"] == {"source": "Great game!"}
    assert "gold" not in block["taskInput"]


def test_custom_without_classifier_has_no_block():
    html = render_custom('<crowd-form><crowd-input name="t"></crowd-input></crowd-form>', {"source": "x"})
    assert 'id="crowd-task-input"' not in html


# --- the crowd-html-elements.js swap ------------------------------------------------------


def test_ground_truth_sample_gets_our_elements_instead_of_aws_script():
    path = REFERENCE / "sms-custom-templates-step2.md"
    if not path.exists():
        pytest.skip("shared reference docs absent")
    samples = re.findall(r"```\n(<script src=\"https://assets.crowd.aws.*?)```", path.read_text(), re.DOTALL)
    sample = samples[-1]  # the automated classification template
    html = render_custom(sample, {"source": "My team won today!"})
    assert "assets.crowd.aws" not in html
    assert "My team won today!" in html
    assert "Crowd.define('crowd-form'" in html and "Crowd.define('crowd-classifier'" in html
    assert "Crowd.define('crowd-checkbox'" not in html and "Crowd.define('crowd-instructions'" not in html
    assert html.startswith("<!DOCTYPE html>")


def test_only_used_elements_are_inlined():
    source = '<crowd-form><crowd-checkbox name="c">C</crowd-checkbox><crowd-card>x</crowd-card></crowd-form>'
    html = render_custom(source, {"source": "x"})
    assert "Crowd.define('crowd-checkbox'" in html and "Crowd.define('crowd-card'" in html
    assert "Crowd.define('crowd-classifier'" not in html and "Crowd.define('crowd-input'" not in html


def test_full_document_template_gets_elements_in_its_head():
    source = """<!DOCTYPE html><html><head><title>Mine</title>
<SCRIPT src='//assets.crowd.aws/crowd-html-elements.js' defer></SCRIPT>
<!-- <script src="https://assets.crowd.aws/crowd-html-elements.js"></script> --></head>
<body><crowd-form><crowd-input name="a"></crowd-input></crowd-form></body></html>"""
    html = render_custom(source, {"source": "x"})
    assert "assets.crowd.aws" not in html
    assert html.count("Crowd.define('crowd-form'") == 1
    assert html.index("<title>Mine</title>") < html.index("<style>") < html.index("</head>")
    assert html.count("<html") == 1
    no_doctype = render_custom("<html><body><crowd-form></crowd-form></body></html>", {"source": "x"})
    assert no_doctype.startswith("<!DOCTYPE html>\n<html>")
    assert no_doctype.index("<style>") < no_doctype.index("<body>")


def test_every_supported_tag_has_a_module_file():
    import importlib.resources as resources

    folder = resources.files("hit_templates") / "elements"
    for module in MODULES:
        source = (folder / module.script).read_text()
        for tag in module.tags:
            assert f"Crowd.define('{tag}'" in source
    assert {"crowd-form", "crowd-image-classifier", "crowd-checkbox", "crowd-text-area"} <= SUPPORTED_TAGS


# --- errors -----------------------------------------------------------------------------


def test_liquid_syntax_error_names_the_line():
    with pytest.raises(TemplateError) as caught:
        render_custom("<crowd-form>\n<p>\n{% if %}\n</crowd-form>", {"source": "x"})
    assert caught.value.line == 3
    assert str(caught.value).startswith("line 3:")


def test_unknown_filter_names_the_line():
    with pytest.raises(TemplateError) as caught:
        render_custom("<crowd-form>\n{{ task.input.source | shout }}</crowd-form>", {"source": "x"})
    assert caught.value.line == 2
    assert "shout" in caught.value.message


def test_unsupported_crowd_element_is_refused_with_its_line():
    with pytest.raises(TemplateError) as caught:
        render_custom(
            "<crowd-form>\n\n<crowd-point-cloud name=b></crowd-point-cloud></crowd-form>",
            {"source": "x"},
        )
    assert caught.value.line == 3
    assert "crowd-point-cloud" in caught.value.message


def test_template_without_crowd_form_is_refused():
    with pytest.raises(TemplateError, match="crowd-form"):
        render_custom("<form><input name=a></form>", {"source": "x"})


def test_grant_read_access_must_return_an_http_url():
    task_input = custom_input(IMAGE)
    with pytest.raises(TemplateError, match="not an http"):
        render_task_html(
            '<crowd-form><img src="{{ task.input.taskObject | grant_read_access }}"></crowd-form>',
            task_input,
            task_type="custom",
            data_object=IMAGE,
            grant_read_access=lambda uri: "javascript:alert(1)",
        )


def test_grant_read_access_failure_names_the_uri():
    def failing(uri: str) -> str:
        raise FileNotFoundError("no such key")

    with pytest.raises(TemplateError, match="s3://bucket/images/house.png.*no such key"):
        render_builtin("image-classification", IMAGE, failing, good_examples=[])


@pytest.mark.parametrize(
    ("task_type", "data", "labels", "message"),
    [
        ("image-classification", {"source": "text"}, ["a"], "'source-ref'"),
        ("text-classification", {"source-ref": "s3://b/x.txt"}, ["a"], "'source'"),
        ("text-classification", {"source": "t"}, ["a", "a"], "appears twice"),
        ("text-classification", {"source": "t"}, [], "must not be empty"),
        ("text-classification", {"source": "t"}, ["a", " "], r"labels\[1\] is empty"),
        ("audio-classification", {"source": "t"}, ["a"], "unknown task type"),
    ],
)
def test_build_task_input_rejects_bad_input(task_type, data, labels, message):
    with pytest.raises(TemplateError, match=message):
        build_task_input(
            task_type,
            data,
            labels=labels,
            header="",
            short_instructions="",
            full_instructions="",
            good_examples=[],
            bad_examples=[],
        )


def test_build_task_input_shape():
    task_input = build_task_input(
        "image-classification",
        IMAGE,
        labels=["cat", "dog"],
        header="Which animal?",
        short_instructions="<p>s</p>",
        full_instructions="<p>f</p>",
        good_examples=["s3://b/good.jpg", "A <b>sharp</b> photo"],
        bad_examples=["images/bad.PNG"],
    )
    assert task_input == {
        "taskObject": "s3://bucket/images/house.png",
        "labels": ["cat", "dog"],
        "header": "Which animal?",
        "instructions": {
            "short": "<p>s</p>",
            "full": "<p>f</p>",
            "goodExamples": [{"src": "s3://b/good.jpg"}, {"html": "A <b>sharp</b> photo"}],
            "badExamples": [{"src": "images/bad.PNG"}],
        },
    }


def test_builtin_template_source_for_custom_is_an_error():
    with pytest.raises(TemplateError, match="template"):
        builtin_template_source("custom")


# --- HTMLQuestion ---------------------------------------------------------------------------


def test_html_question_is_cdata_safe():
    html = "<p>a ]]> b ]]]]> c</p><![CDATA[ x ]]>"
    xml = html_question(html, frame_height=600)
    root = ElementTree.fromstring(xml)
    assert root.tag == f"{NS}HTMLQuestion"
    assert root.find(f"{NS}HTMLContent").text == html
    assert root.find(f"{NS}FrameHeight").text == "600"


def test_html_question_replaces_characters_xml_forbids():
    xml = html_question("<p>a\x00b\x0bc\ud800d</p>")
    assert ElementTree.fromstring(xml).find(f"{NS}HTMLContent").text == "<p>a\ufffdb\ufffdc\ufffdd</p>"


def test_html_question_size_limit_is_exact_in_utf8_bytes():
    empty = len(html_question("").encode("utf-8"))
    fits = "é" * ((MAX_QUESTION_BYTES - empty) // 2) + "x" * ((MAX_QUESTION_BYTES - empty) % 2)
    assert len(html_question(fits).encode("utf-8")) == MAX_QUESTION_BYTES
    with pytest.raises(QuestionTooLarge) as caught:
        html_question(fits + "x")
    assert caught.value.size_bytes == MAX_QUESTION_BYTES + 1
    assert "65,535" in str(caught.value)


def test_huge_instructions_raise_question_too_large():
    html = render_builtin("image-classification", IMAGE, grant, full=REALISTIC_FULL * 60)
    with pytest.raises(QuestionTooLarge) as caught:
        html_question(html)
    assert caught.value.size_bytes > MAX_QUESTION_BYTES


def test_html_question_rejects_negative_frame_height():
    with pytest.raises(ValueError, match="frame_height"):
        html_question("<p>x</p>", frame_height=-1)


@pytest.mark.parametrize("task_type", BUILTIN_TASK_TYPES)
def test_builtin_questions_stay_well_under_the_limit(task_type):
    """Realistic instructions, 10 labels, two image examples, a 2,000-character text."""
    info = TASK_TYPES[task_type]
    data = {info.source_key: "s3://bucket/images/house.png" if info.source_key == "source-ref" else "word " * 400}
    html = render_builtin(
        task_type,
        data,
        grant,
        labels=[f"category {i}" for i in range(10)],
        good_examples=["s3://bucket/good1.jpg", "s3://bucket/good2.jpg"],
        short=REALISTIC_SHORT,
        full=REALISTIC_FULL,
    )
    size = len(html_question(html).encode("utf-8"))
    assert size < 40_000, size
    assert {use.tag for use in scan_crowd_tags(html)} == {"crowd-form", info.element}


# --- every Ground Truth sample template of the developer guide that uses our elements ----------


def _guide_samples() -> list[tuple[str, str]]:
    """(doc#n, template) for each code block that loads AWS's crowd-html-elements.js."""
    if not REFERENCE.exists():
        return []
    samples = []
    for path in sorted(REFERENCE.glob("sms-*.md")):
        blocks = re.findall(r"```\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)
        for index, block in enumerate(blocks):
            if "assets.crowd.aws/crowd-html-elements.js" in block:
                samples.append((f"{path.stem}#{index}", block))
    return samples


GUIDE_SAMPLES = _guide_samples()


@pytest.mark.skipif(not GUIDE_SAMPLES, reason="shared reference docs absent")
def test_guide_has_samples_for_every_classifier():
    supported = [s for _, s in GUIDE_SAMPLES if not unsupported_tags(scan_crowd_tags(s))]
    for tag in (
        "crowd-image-classifier",
        "crowd-image-classifier-multi-select",
        "crowd-classifier",
        "crowd-classifier-multi-select",
        "crowd-instructions",
        "crowd-input",
        "crowd-checkbox",
    ):
        assert any(f"<{tag}" in sample for sample in supported), tag


@pytest.mark.parametrize(("doc", "sample"), GUIDE_SAMPLES, ids=[doc for doc, _ in GUIDE_SAMPLES])
def test_guide_sample_renders_with_our_elements(doc, sample):
    uses = scan_crowd_tags(sample)
    data = IMAGE | {"source": "some text", "labels": ["a", "b"]}
    if unsupported_tags(uses):  # bounding boxes, entities, ... are not elements of this phase
        with pytest.raises(TemplateError, match="not one of the crowd elements"):
            render_custom(sample, data)
        return
    # e.g. the bare <script> line (crowd-entity-annotation brings its own form, as in GT)
    if not any(use.tag in ("crowd-form", "crowd-entity-annotation") for use in uses):
        with pytest.raises(TemplateError, match="no <crowd-form>"):
            render_custom(sample, data)
        return
    html = render_custom(sample, data)
    assert "assets.crowd.aws" not in html
    for use in uses:
        assert f"Crowd.define('{use.tag}'" in html


def test_v2_script_and_stylesheet_are_replaced_by_our_elements():
    source = (
        '<html><head><link rel="stylesheet" href="https://assets.crowd.aws/css/crowd-html-elements-v2.css" />\n'
        '<script src="https://assets.crowd.aws/crowd-html-elements-v2.js"></script></head><body>\n'
        "<crowd-form><crowd-text-ranking name=r text='t' responses='[\"a\",\"b\"]'\n"
        ' ordinal-ranking-dimensions=\'[{"name":"Clarity","allowTie":true}]\'></crowd-text-ranking>'
        "</crowd-form></body></html>"
    )
    html = render_custom(source, {"source": "x"})
    assert "assets.crowd.aws" not in html
    assert "Crowd.define('crowd-text-ranking'" in html
    assert html.index("Crowd.define('crowd-text-ranking'") < html.index("</head>")


def test_crowd_alert_written_by_a_script_gets_its_element_and_is_not_refused():
    source = (
        "<crowd-form><div id=box></div></crowd-form>\n"
        "<script>box.innerHTML = '<crowd-alert type=\"error\">No</crowd-alert>';</script>"
    )
    html = render_custom(source, {"source": "x"})
    assert "Crowd.define('crowd-alert'" in html
    assert "crowd-alert[type=error]" in html  # its style comes with it
    assert "Crowd.define('crowd-slider'" not in html  # only what the page names


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (["lazy dog", "fox"], "[&#34;lazy dog&#34;,&#34;fox&#34;]"),
        ({"a": 1, "b": [True, None]}, "{&#34;a&#34;:1,&#34;b&#34;:[true,null]}"),
        ("<b>", "&lt;b&gt;"),
        (3, "3"),
    ],
)
def test_printed_lists_and_objects_are_json_as_ground_truth_prints_them(value, printed):
    html = render_custom("<crowd-form><p id=v>{{ task.input.v }}</p></crowd-form>", {"source": "x", "v": value})
    assert f"<p id=v>{printed}</p>" in html
