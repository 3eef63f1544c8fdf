"""Hooks of custom.yaml: Ground Truth's pre- and post-annotation Lambdas as plain functions.

A Lambda handler ports over unchanged: the same event in, the same response out (broker/hooks.py).
"""

import json
from collections import Counter

from broker.hooks import read_payload


def pre_annotation(event, context):
    """Show the review and its summary; a line without a summary needs no worker."""
    line = event["dataObject"]
    if not line.get("summary"):
        return {"taskInput": {}, "isHumanAnnotationRequired": False}
    return {
        "taskInput": {
            "taskObject": line["source"],
            "summary": line["summary"],
            "labels": ["accurate", "inaccurate"],
            "header": "Does the summary match the review?",
        }
    }


def post_annotation(event, context):
    """The majority label of the crowd-classifier answers, with its vote share."""
    results = []
    for item in read_payload(event):
        votes = Counter(
            json.loads(a["annotationData"]["content"])["crowd-classifier"]["label"] for a in item["annotations"]
        )
        label, count = votes.most_common(1)[0]
        results.append(
            {
                "datasetObjectId": item["datasetObjectId"],
                "consolidatedAnnotation": {
                    "content": {
                        event["labelAttributeName"]: {
                            "label": label,
                            "votes": count,
                            "workers": len(item["annotations"]),
                        }
                    }
                },
            }
        )
    return results
