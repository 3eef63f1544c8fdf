"""Video classification, the task type added as one module, one template and one registry entry:
it runs through the whole engine like the built-in types (submit -> ... -> finalize)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from sqlmodel import Session, select

from broker.daemon import run_cycle
from broker.domain.lifecycle import JobStatus
from broker.stages.submit import submit_job
from broker.store.tables import Job
from broker.tasks.registry import TASK_TYPES
from broker.templates import builtin_template_source
from tests.engine.conftest import answer_open_hits, hit_data_object

WORKERS = ["AWORKERONE0001", "AWORKERTWO0002", "AWORKERTHREE03"]
LABELS = ["sports", "news", "music"]


def write_video_job(folder: Path, n: int) -> tuple[Path, dict[str, str]]:
    """n clips (placeholder bytes: the engine never decodes them) with known labels, and a spec."""
    (folder / "clips").mkdir(parents=True)
    truth, lines = {}, []
    for i in range(n):
        clip = folder / "clips" / f"clip-{i}.mp4"
        clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes([i]))
        truth[str(clip)] = LABELS[i % len(LABELS)]
        lines.append({"source-ref": str(clip)})
    manifest = folder / "input.manifest"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    spec = {
        "job_name": "clips",
        "task_type": "video-classification",
        "labels": LABELS,
        "input_manifest": str(manifest),
        "output": str(folder / "output"),
        "workers_per_object": 3,
        "reward": "0.08",
        "title": "What is this clip about?",
        "description": "Watch a short clip and choose its topic.",
    }
    spec_path = folder / "clips.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    return spec_path, truth


def test_the_task_type_is_registered_with_its_own_template() -> None:
    task = TASK_TYPES["video-classification"]
    assert (task.element, task.source_key, task.output_type) == (
        "crowd-classifier",
        "source-ref",
        "groundtruth/video-classification",
    )
    assert "<video" in builtin_template_source("video-classification")


def test_a_video_job_runs_through_the_engine(tmp_path, market, settings, engine) -> None:
    spec_path, truth = write_video_job(tmp_path, 6)
    submit_job(spec_path, engine, settings)
    assert run_cycle(engine, settings).errors == []

    pages = []

    def mostly_right(block: dict, worker: str) -> str:
        pages.append(block)
        right = truth[block["dataObject"]["source-ref"]]
        wrong = LABELS[(LABELS.index(right) + 1) % len(LABELS)]
        return wrong if worker == WORKERS[2] else right

    assert answer_open_hits(market, mostly_right, WORKERS) == 18
    assert {page["element"] for page in pages} == {"crowd-classifier"}
    hit_id = next(iter(market.marketplace.hits))
    html = market.marketplace.preview_hit(hit_id, None).html_content
    clip = html[html.index("<video") :].split(">", 1)[0]
    assert "/local-files/" in clip and "clip-" in clip  # the clip, served by the worker site
    assert hit_data_object(market.marketplace, hit_id)["labels"] == LABELS
    for _ in range(3):
        run_cycle(engine, settings)

    with Session(engine) as session:
        assert session.exec(select(Job)).one().status == JobStatus.COMPLETED
    manifest = tmp_path / "output" / "clips" / "manifests" / "output" / "output.manifest"
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(lines) == 6
    for line in lines:
        meta = line["clips-metadata"]
        assert meta["type"] == "groundtruth/video-classification"
        assert meta["class-name"] == truth[line["source-ref"]] == LABELS[line["clips"]]
