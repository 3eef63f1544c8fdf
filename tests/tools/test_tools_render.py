"""Rendering the annotation-tool templates: size limit, inlined modules, the task-input
contract the simulated crowd reads, and clear errors for bad batches and initial values."""

from __future__ import annotations

import json
import re

import pytest
from defusedxml import ElementTree
from tools_helpers import REALISTIC_FULL, render_builtin

from broker.crowd_elements import SUPPORTED_TAGS
from broker.templates import (
    BUILTIN_TASK_TYPES,
    MAX_QUESTION_BYTES,
    TASK_TYPES,
    TemplateError,
    build_task_input,
    build_verification_task_input,
    builtin_template_source,
    html_question,
    render_task_html,
)

IMAGE = {"source-ref": "s3://bucket/images/house.png"}
TOOLS = {
    "bounding-box": "crowd-bounding-box",
    "semantic-segmentation": "crowd-semantic-segmentation",
    "named-entity-recognition": "crowd-entity-annotation",
}


def grant(uri: str) -> str:
    return "https://bucket.s3.amazonaws.com/" + uri.split("/", 3)[-1] + "?X-Amz-Signature=" + "a" * 64


def block(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="crowd-task-input">(.*?)</script>', html, re.S)
    assert match, "no task-input block"
    return json.loads(match.group(1))


def verification_html(objects: list[dict], label: str = "cat") -> str:
    task_input = build_verification_task_input(
        objects,
        [f"obj-{i}" for i in range(len(objects))],
        label=label,
        header="",
        short_instructions="<p>Short</p>",
        full_instructions=REALISTIC_FULL,
        good_examples=["s3://bucket/good.png"],
        bad_examples=["<p>bad</p>"],
    )
    return render_task_html(
        builtin_template_source("label-verification"),
        task_input,
        task_type="label-verification",
        data_object={},
        grant_read_access=grant,
    )


def test_new_task_types_are_registered_but_not_built_in():
    assert BUILTIN_TASK_TYPES == (
        "image-classification",
        "image-classification-multilabel",
        "text-classification",
        "text-classification-multilabel",
        "video-classification",
    )
    assert {t: TASK_TYPES[t].element for t in [*TOOLS, "bounding-box-adjustment", "label-verification"]} == {
        **TOOLS,
        "bounding-box-adjustment": "crowd-bounding-box",
        "label-verification": "crowd-label-verification",
    }
    assert TASK_TYPES["named-entity-recognition"].output_type == "groundtruth/text-span"
    assert {"crowd-polygon", "crowd-keypoint"} <= SUPPORTED_TAGS


@pytest.mark.parametrize("task_type", list(TOOLS))
def test_tool_pages_fit_mturk_and_carry_the_task_input_contract(task_type):
    data = IMAGE if TOOLS[task_type] != "crowd-entity-annotation" else {"source": "Ada met Bob in London. " * 200}
    html = render_builtin(task_type, data, grant, labels=["person", "place", "date", "thing"])
    assert len(html_question(html).encode()) <= MAX_QUESTION_BYTES
    assert f"Crowd.define('{TOOLS[task_type]}'" in html
    assert "Crowd.define('crowd-classifier'" not in html  # only the modules the page uses
    assert ("class CrowdImageTool" in html) is (task_type != "named-entity-recognition")
    assert block(html) | {"taskInput": None} == {
        "element": TOOLS[task_type],
        "name": TOOLS[task_type],
        "labels": ["person", "place", "date", "thing"],
        "dataObject": data,
        "taskInput": None,
    }


def test_full_verification_batch_fits_and_lists_every_object():
    objects = [{"source-ref": f"s3://bucket/images/{i:04d}-with-a-longish-name.jpg"} for i in range(25)]
    html = verification_html(objects)
    assert len(html_question(html).encode()) <= MAX_QUESTION_BYTES
    assert html.count("<verification-item ") == 25
    payload = block(html)
    assert (payload["element"], payload["name"], payload["labels"]) == (
        "crowd-label-verification",
        "crowd-label-verification",
        ["cat"],
    )
    assert payload["dataObjects"] == [{"id": f"obj-{i}", **o} for i, o in enumerate(objects)]


@pytest.mark.parametrize(
    ("objects", "ids", "message"),
    [
        ([IMAGE] * 26, [str(i) for i in range(26)], "at most 25 objects, got 26"),
        ([IMAGE, IMAGE], ["a", "a"], "ids must be unique"),
        ([IMAGE, {"other": 1}], ["a", "b"], "object 1 ('b') has no 'source-ref' or 'source'"),
        ([], [], "at least one data object"),
    ],
)
def test_bad_verification_batches_are_refused_with_the_reason(objects, ids, message):
    with pytest.raises(TemplateError, match=re.escape(message)):
        build_verification_task_input(
            objects,
            ids,
            label="cat",
            header="",
            short_instructions="",
            full_instructions="",
            good_examples=[],
            bad_examples=[],
        )


def adjustment_input(data_object: dict, labels: list[str]) -> dict:
    return build_task_input(
        "bounding-box-adjustment",
        data_object,
        labels=labels,
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
        initial_value_attribute="bb",
    )


def test_adjustment_initial_value_comes_from_the_earlier_output():
    data_object = {
        **IMAGE,
        "bb": {"annotations": [{"class_id": 5, "left": 1, "top": 2, "width": 3.5, "height": 4}]},
        "bb-metadata": {"class-map": {"5": "dog"}},
    }
    task_input = adjustment_input(data_object, ["cat", "dog"])
    assert task_input["initialValue"] == [{"label": "dog", "left": 1, "top": 2, "width": 3.5, "height": 4}]
    html = render_task_html(
        builtin_template_source("bounding-box-adjustment"),
        task_input,
        task_type="bounding-box-adjustment",
        data_object=data_object,
        grant_read_access=grant,
    )
    assert 'initial-value="[{&#34;label&#34;: &#34;dog&#34;, &#34;left&#34;: 1,' in html
    assert "bb-metadata" not in block(html)["taskInput"]  # the earlier output is not leaked whole


@pytest.mark.parametrize(
    ("data_object", "message"),
    [
        (IMAGE, "no object-detection output 'bb'"),
        ({**IMAGE, "bb": {"annotations": []}}, "no 'bb-metadata' with a 'class-map'"),
        (
            {
                **IMAGE,
                "bb": {"annotations": [{"class_id": 9, "left": 0, "top": 0, "width": 1, "height": 1}]},
                "bb-metadata": {"class-map": {"0": "dog"}},
            },
            "bb.annotations[0]: needs class_id (in the class-map)",
        ),
        (
            {
                **IMAGE,
                "bb": {"annotations": [{"class_id": 0, "left": 0, "top": 0, "width": 1, "height": 1}]},
                "bb-metadata": {"class-map": {"0": "wolf"}},
            },
            "bb.annotations[0]: label 'wolf' is not one of the job's labels",
        ),
    ],
)
def test_bad_initial_values_name_the_field(data_object, message):
    with pytest.raises(TemplateError, match=re.escape(message)):
        adjustment_input(data_object, ["dog"])


def test_custom_templates_with_ground_truth_markup_name_their_tool():
    entity = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-entity-annotation name="ner" header="Highlight" text="{{ task.input.taskObject }}"
  labels="[{'label': 'person', 'shortDisplayName': 'per', 'fullDisplayName': 'Person'}, {label: 'date'}]">
</crowd-entity-annotation>"""
    data_object = {"source": "Ada, 1833", "secret": "gold"}
    task_input = build_task_input(
        "custom",
        data_object,
        labels=[],
        header="",
        short_instructions="",
        full_instructions="",
        good_examples=[],
        bad_examples=[],
    )
    html = render_task_html(entity, task_input, task_type="custom", data_object=data_object, grant_read_access=grant)
    payload = block(html)
    assert (payload["element"], payload["name"], payload["labels"]) == (
        "crowd-entity-annotation",
        "ner",
        ["person", "date"],
    )
    assert "secret" not in payload["taskInput"]


def test_cdata_breaking_text_survives_html_question():
    text = "a ]]> b <![CDATA[ c \"d\" 'e' </script>"
    html = render_builtin("named-entity-recognition", {"source": text}, grant, labels=["x"])
    root = ElementTree.fromstring(html_question(html))
    content = root.find("{*}HTMLContent").text
    assert content == html
    assert 'text="a ]]&gt; b &lt;![CDATA[ c &#34;d&#34; &#39;e&#39; &lt;/script&gt;"' in content


def test_label_verification_is_built_per_batch():
    with pytest.raises(TemplateError, match="build_verification_task_input"):
        build_task_input(
            "label-verification",
            IMAGE,
            labels=["cat"],
            header="",
            short_instructions="",
            full_instructions="",
            good_examples=[],
            bad_examples=[],
        )


def test_tools_show_default_examples_only_when_the_requester_gives_none():
    html = render_builtin("bounding-box", IMAGE, grant, good_examples=[], bad_examples=[])
    assert "Too loose: background inside the box." in html
    own = render_builtin("bounding-box", IMAGE, grant, good_examples=["<p>Mine</p>"], bad_examples=[])
    assert "<p>Mine</p>" in own and "Too loose" not in own
    classifier = render_builtin("image-classification", IMAGE, grant, good_examples=[], bad_examples=[])
    assert "Too loose" not in classifier and "Good example" not in classifier
