"""Crowd test helpers: HIT pages following the template/crowd contract, publishing, reading answers."""

from __future__ import annotations

import json
from typing import Any

TIME_SCALE = 200.0
HTML_QUESTION_NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"


def contract_page(element: str, labels: list[str], data_object: dict[str, Any], name: str = "category") -> str:
    """A page like the built-in templates': the crowd-task-input block and a form to externalSubmit."""
    block = json.dumps(
        {
            "element": element,
            "name": name,
            "labels": labels,
            "dataObject": data_object,
            "taskInput": {"taskObject": data_object.get("source-ref", data_object.get("source"))},
        }
    )
    block = block.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (
        "<!DOCTYPE html><html><body>"
        f'<script type="application/json" id="crowd-task-input">{block}</script>'
        "<form method='post' action='/mturk/externalSubmit'><input type='hidden' name='assignmentId'>"
        "<input type='hidden' name='taskAnswers'></form></body></html>"
    )


def html_question(html: str) -> str:
    return (
        f'<HTMLQuestion xmlns="{HTML_QUESTION_NS}"><HTMLContent><![CDATA[{html}]]></HTMLContent>'
        "<FrameHeight>500</FrameHeight></HTMLQuestion>"
    )


def publish(
    mturk, pages: list[str], *, reward: str = "0.10", assignments: int = 3, title: str = "Classify"
) -> tuple[str, list[str]]:
    """(HITTypeId, HITIds) for one HIT per page in a new HIT type."""
    hit_type_id = mturk.create_hit_type(
        Title=title,
        Description="Label it.",
        Reward=reward,
        AssignmentDurationInSeconds=3600,
        AutoApprovalDelayInSeconds=86400,
    )["HITTypeId"]
    hit_ids = [
        mturk.create_hit_with_hit_type(
            HITTypeId=hit_type_id, MaxAssignments=assignments, LifetimeInSeconds=7 * 86400, Question=html_question(page)
        )["HIT"]["HITId"]
        for page in pages
    ]
    return hit_type_id, hit_ids


def task_answers(mturk, hit_ids: list[str]) -> list[dict[str, Any]]:
    """Every submitted assignment of these HITs as {worker, hit, fields} (fields: QuestionIdentifier -> [text])."""
    from broker.marketplace.questions import answers_from_xml

    rows = []
    for hit_id in hit_ids:
        for assignment in mturk.list_assignments_for_hit(HITId=hit_id, MaxResults=100)["Assignments"]:
            rows.append(
                {"worker": assignment["WorkerId"], "hit": hit_id, "fields": answers_from_xml(assignment["Answer"])}
            )
    return rows
