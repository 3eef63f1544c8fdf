"""Named entities: labeled character spans of a text (Ground Truth's text-span output).

Demo (`broker demo --task named-entity`): sentences built from names, places and organisations
with known offsets. Quality: exact-span F1 (start, end and label all right) over the job, of the
consolidated entities and of single workers' answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from broker.annotations import spans
from broker.tasks.base import (
    MAX_LABELS_MULTILABEL,
    ConsolidationMethod,
    DemoData,
    DemoOutcome,
    DemoRecipe,
    OutputLayout,
    TaskType,
)

ENTITY_LABELS = ["person", "place", "organization"]
PEOPLE = [
    "Ada Lovelace",
    "Alan Turing",
    "Grace Hopper",
    "Katherine Johnson",
    "Tim Berners-Lee",
    "Hedy Lamarr",
    "Claude Shannon",
    "Margaret Hamilton",
    "Linus Torvalds",
    "Barbara Liskov",
]
PLACES = ["London", "Paris", "New York", "Nairobi", "Tokyo", "Buenos Aires", "Oslo", "Lagos", "Sydney", "Lima"]
ORGS = [
    "Acme Corp",
    "the Royal Society",
    "Bell Labs",
    "the United Nations",
    "Globex",
    "the Red Cross",
    "Initech",
    "the World Bank",
]
SENTENCES = [  # {p}: person, {l}: place, {o}: organization
    "{p} flew from {l} to {l} to meet {p}.",
    "Yesterday {p} joined {o} in {l}.",
    "{o} opened an office in {l} last spring.",
    "According to {p}, {o} will move to {l}.",
    "The weather in {l} was mild all week.",
    "{p} and {p} wrote the report for {o}.",
    "Nobody expected the results to be so clear.",
]


def write_sentences(folder: Path, n: int, seed: int) -> DemoData:
    """n sentences with people, places and organisations at known offsets, and their manifest."""
    rng = np.random.default_rng(seed)
    pools = {"p": ("person", PEOPLE), "l": ("place", PLACES), "o": ("organization", ORGS)}
    truth: dict[str, Any] = {}
    lines = []
    for i in range(n):
        template = SENTENCES[int(rng.integers(0, len(SENTENCES)))]
        text, entities, rest = "", [], template
        while "{" in rest:
            before, slot, rest = rest[: rest.index("{")], rest[rest.index("{") + 1], rest[rest.index("}") + 1 :]
            label, pool = pools[slot]
            name = pool[int(rng.integers(0, len(pool)))]
            text += before
            entities.append({"label": label, "startOffset": len(text), "endOffset": len(text) + len(name)})
            text += name
        text = f"{text}{rest} (#{i})"  # every sentence distinct: the crowd's truth is keyed by text
        truth[text] = {"source": text, "entities": entities}
        lines.append(json.dumps({"source": text}, ensure_ascii=False))
    manifest = folder / "input.manifest"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {
        "job_name": "entities",
        "task_type": "named-entity-recognition",
        "labels": ENTITY_LABELS,
        "header": "Highlight every person, place and organization",
        "instructions": {
            "short": "Select each name and give it its type.",
            "full": "Highlight the whole name of every person, place and organization in the "
            "sentence (no surrounding spaces or punctuation) and pick its label.",
        },
        "title": "Find the names in a sentence",
        "description": "Highlight people, places and organizations.",
        "keywords": ["text", "entities", "names"],
        "reward": "0.03",
    }
    return DemoData(spec, manifest, truth)


def span_quality(outcome: DemoOutcome) -> dict[str, float]:
    """Exact-span F1 of the consolidated entities, and of single workers' answers, against the truth."""
    truth, labels = outcome.truth, outcome.labels

    def true_set(i: int) -> set[tuple[int, int, str]]:
        return {(e["startOffset"], e["endOffset"], e["label"]) for e in truth[i]["entities"]}

    def f1(pairs: list[tuple[set, set]]) -> float:
        hits = sum(len(predicted & true) for predicted, true in pairs)
        predicted, true = sum(len(p) for p, _ in pairs), sum(len(t) for _, t in pairs)
        return round(2 * hits / (predicted + true), 4) if predicted + true else 1.0

    consolidated = [
        ({(e["startOffset"], e["endOffset"], e["label"]) for e in value["annotations"]["entities"]}, true_set(i))
        for i, value in outcome.values.items()
    ]
    single = [({(s, e, labels[c]) for c, s, e in answer["entities"]}, true_set(i)) for i, answer in outcome.answers]
    return {"span_f1": f1(consolidated), "single_worker_span_f1": f1(single)}


DEMO = DemoRecipe(name="named-entity", objects=150, workers_per_object=3, write=write_sentences, quality=span_quality)

TASK_TYPE = TaskType(
    id="named-entity-recognition",
    element="crowd-entity-annotation",
    source_key="source",
    output_type="groundtruth/text-span",
    default_header="Highlight each entity in the text and give it a label",
    template_file="named-entity-recognition.liquid",
    consolidation=ConsolidationMethod.ANNOTATIONS,
    output_layout=OutputLayout.ANNOTATION,
    min_labels=1,
    max_labels=MAX_LABELS_MULTILABEL,
    annotation=spans.KIND,
    good_examples=(
        "<p><mark>Ada Lovelace</mark> met Charles Babbage in <mark>London</mark>.</p>"
        "<p>Select the whole name, without the spaces or punctuation around it.</p>",
    ),
    bad_examples=(
        "<p>Ada <mark>Lovelace met</mark> Charles Babbage.</p><p>Part of the name, plus a word that is not.</p>",
    ),
    demo=DEMO,
)
