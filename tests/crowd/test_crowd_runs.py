"""The crowd against a real marketplace over HTTP: answers, determinism, replay, third-party forms, prices."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.cli import app as cli_app
from broker.marketplace.config import MarketplaceConfig
from broker.marketplace.crowd import run_crowd
from broker.marketplace.crowd.truth import TruthFileError, load_truth
from broker.marketplace.server import start_in_thread

from .crowd_helpers import TIME_SCALE, contract_page, html_question, publish, task_answers

LABELS = ["cat", "dog", "bird"]


def classification_pages(n: int) -> tuple[list[str], dict[str, str]]:
    sources = [f"s3://bucket/images/{i:03d}.jpg" for i in range(n)]
    truth = {s: LABELS[i % 3] for i, s in enumerate(sources)}
    return [contract_page("crowd-image-classifier", LABELS, {"source-ref": s}) for s in sources], truth


def submitted_labels(mturk, hit_ids, sources_by_hit) -> list[tuple[str, str, str]]:
    rows = []
    for row in task_answers(mturk, hit_ids):
        [answer] = json.loads(row["fields"]["taskAnswers"][0])
        rows.append((row["worker"], sources_by_hit[row["hit"]], answer["category"]["label"]))
    return rows


def test_crowd_completes_every_assignment_with_contract_answers(market, mturk) -> None:
    pages, truth = classification_pages(12)
    _, hit_ids = publish(mturk, pages)
    stats = run_crowd(
        market.worker_site_url,
        n_workers=6,
        seed=3,
        truth=truth,
        mix="good=1",
        time_scale=TIME_SCALE,
        idle_seconds=0.5,
        concurrency=4,
    )
    assert stats.error_count == 0, stats.errors
    assert stats.assignments_submitted == 36 == sum(stats.per_worker.values())
    sources = dict(zip(hit_ids, truth))
    rows = submitted_labels(mturk, hit_ids, sources)
    assert len(rows) == 36 and Counter(hit for hit in (r[1] for r in rows)).most_common(1)[0][1] == 3
    assert len({(w, s) for w, s, _ in rows}) == 36  # nobody answered an object twice
    accuracy = sum(label == truth[source] for _, source, label in rows) / len(rows)
    assert accuracy > 0.8
    assert all(not h["NumberOfAssignmentsAvailable"] for h in mturk.list_hits()["HITs"])


def test_same_seed_gives_each_worker_the_same_answer_to_each_object() -> None:
    pages, truth = classification_pages(10)
    runs = []
    for _ in range(2):
        with start_in_thread(MarketplaceConfig(db_path=":memory:", time_scale=TIME_SCALE)) as running:
            client = running.client()
            _, hit_ids = publish(client, pages)
            stats = run_crowd(
                running.worker_site_url,
                n_workers=5,
                seed=42,
                truth=truth,
                time_scale=TIME_SCALE,
                idle_seconds=0.5,
                concurrency=3,
            )
            rows = submitted_labels(client, hit_ids, dict(zip(hit_ids, truth)))
            runs.append({(stats.usernames[w], s): label for w, s, label in rows})
    shared = runs[0].keys() & runs[1].keys()
    assert len(shared) >= 10
    assert all(runs[0][k] == runs[1][k] for k in shared)


def test_constant_spammers_always_give_the_same_label(market, mturk) -> None:
    pages, truth = classification_pages(8)
    _, hit_ids = publish(mturk, pages, assignments=2)
    stats = run_crowd(
        market.worker_site_url,
        n_workers=3,
        seed=1,
        truth=truth,
        mix="constant=1",
        time_scale=TIME_SCALE,
        idle_seconds=0.5,
        concurrency=3,
    )
    assert stats.assignments_submitted == 16
    by_worker: dict[str, set[str]] = {}
    for worker, _, label in submitted_labels(mturk, hit_ids, dict(zip(hit_ids, truth))):
        by_worker.setdefault(worker, set()).add(label)
    assert all(len(labels) == 1 for labels in by_worker.values())
    assert set(stats.worker_models.values()) == {"constant"}
    assert {spec.kind for spec in stats.worker_specs.values()} == {"constant"} and len(stats.worker_specs) == 3


def test_replay_submits_the_real_workers_real_labels(market, mturk, tmp_path: Path) -> None:
    answers = [
        ("w1", "t1", "pos"),
        ("w2", "t1", "neg"),
        ("w1", "t2", "neg"),
        ("w3", "t2", "neg"),
        ("w2", "t3", "pos"),
        ("w3", "t3", "pos"),
        ("w1", "t4", "pos"),
        ("w3", "t4", "neg"),
    ]
    csv_path = tmp_path / "answers.csv"
    csv_path.write_text("worker,task,label\n" + "".join(f"{w},{t},{label}\n" for w, t, label in answers))
    tasks = ["t1", "t2", "t3", "t4"]
    _, hit_ids = publish(
        mturk, [contract_page("crowd-classifier", ["pos", "neg"], {"source": t}) for t in tasks], assignments=2
    )
    stats = run_crowd(
        market.worker_site_url,
        n_workers=1,
        seed=0,
        replay_csv=str(csv_path),
        time_scale=TIME_SCALE,
        idle_seconds=0.5,
        concurrency=3,
    )
    assert stats.error_count == 0, stats.errors
    assert stats.replay_fallbacks == 0 and stats.assignments_submitted == 8
    replayed = {
        (stats.usernames[w].rsplit("-", 1)[1], task, label)
        for w, task, label in submitted_labels(mturk, hit_ids, dict(zip(hit_ids, tasks)))
    }
    assert replayed == set(answers)


def test_replay_of_a_shared_dataset_sample(market, mturk, shared_datasets: Path, tmp_path: Path) -> None:
    lines = (shared_datasets / "zheng_duck" / "answers.csv").read_text().splitlines()
    header, rows = lines[0], [line.split(",") for line in lines[1:]]
    tasks = sorted({r[1] for r in rows})[:4]
    sample = [r for r in rows if r[1] in tasks]
    sample_csv = tmp_path / "duck.csv"
    sample_csv.write_text(header + "\n" + "\n".join(",".join(r) for r in sample) + "\n")
    per_task = Counter(r[1] for r in sample)
    hit_ids = [
        publish(mturk, [contract_page("crowd-classifier", ["0", "1"], {"source": t})], assignments=per_task[t])[1][0]
        for t in tasks
    ]
    stats = run_crowd(
        market.worker_site_url,
        n_workers=1,
        seed=0,
        replay_csv=str(sample_csv),
        time_scale=TIME_SCALE,
        idle_seconds=0.5,
        concurrency=4,
    )
    assert stats.assignments_submitted == len(sample) and stats.replay_fallbacks == 0
    got = Counter((t, label) for _, t, label in submitted_labels(mturk, hit_ids, dict(zip(hit_ids, tasks))))
    assert got == Counter((r[1], r[2]) for r in sample)


def test_third_party_form_is_filled_generically(market, mturk) -> None:
    form = (
        "<!DOCTYPE html><html><body><form method='post' action='https://www.mturk.com/mturk/externalSubmit'>"
        "<input type='hidden' name='assignmentId' value=''>"
        "<input type='radio' name='quality' value='good'><input type='radio' name='quality' value='bad'>"
        "<select name='topic'><option value='a'>A</option><option value='b'>B</option></select>"
        "<input type='checkbox' name='tags' value='x'><input type='checkbox' name='tags' value='y'>"
        "<input type='text' name='why'><input type='submit'></form></body></html>"
    )
    hit = mturk.create_hit(
        Title="Rate",
        Description="d",
        Reward="0.20",
        AssignmentDurationInSeconds=600,
        LifetimeInSeconds=3600,
        MaxAssignments=2,
        Question=html_question(form),
    )["HIT"]
    stats = run_crowd(
        market.worker_site_url, n_workers=2, seed=5, time_scale=TIME_SCALE, idle_seconds=0.5, concurrency=2
    )
    assert stats.assignments_submitted == 2 and stats.generic_forms == 2
    for row in task_answers(mturk, [hit["HITId"]]):
        fields = row["fields"]
        assert set(fields) == {"quality", "topic", "tags", "why"}
        assert len(fields["quality"]) == 1 and fields["quality"][0] in ("good", "bad")
        assert fields["topic"][0] in ("a", "b") and 1 <= len(fields["tags"]) <= 2 and fields["why"][0].strip()


def test_better_paid_work_is_picked_up_first(market, mturk) -> None:
    pages, truth = classification_pages(16)
    poor_type, _ = publish(mturk, pages[:8], reward="0.01", assignments=1, title="Poorly paid")
    rich_type, _ = publish(mturk, pages[8:], reward="0.50", assignments=1, title="Well paid")
    stats = run_crowd(
        market.worker_site_url,
        n_workers=6,
        seed=9,
        truth=truth,
        mix="good=1",
        time_scale=TIME_SCALE,
        idle_seconds=0.5,
        max_assignments=8,
        concurrency=3,
    )
    assert stats.assignments_submitted == 8
    assert stats.per_group.get(rich_type, 0) >= 7 > stats.per_group.get(poor_type, 0)


def test_truth_files_load_and_errors_name_the_line(tmp_path: Path) -> None:
    jsonl = tmp_path / "truth.jsonl"
    jsonl.write_text('{"source-ref": "s3://b/1.jpg", "label": "cat"}\n\n{"source": "hello", "labels": ["a", "b"]}\n')
    assert load_truth(jsonl) == {"s3://b/1.jpg": "cat", "hello": ["a", "b"]}
    csv_file = tmp_path / "truth.csv"
    csv_file.write_text("source-ref,label\ns3://b/1.jpg,dog\n")
    assert load_truth(csv_file) == {"s3://b/1.jpg": "dog"}
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"source": "x", "label": "a"}\n{"source": "y"}\n')
    with pytest.raises(TruthFileError, match=r"broken.jsonl:2: no truth field"):
        load_truth(broken)


def test_cli_runs_the_crowd(market, mturk, tmp_path: Path) -> None:
    pages, truth = classification_pages(3)
    _, hit_ids = publish(mturk, pages, assignments=2)
    truth_file = tmp_path / "truth.jsonl"
    truth_file.write_text("".join(json.dumps({"source-ref": k, "label": v}) + "\n" for k, v in truth.items()))
    result = CliRunner().invoke(
        cli_app,
        [
            "marketplace",
            "crowd",
            "--endpoint",
            market.worker_site_url,
            "--workers",
            "3",
            "--seed",
            "4",
            "--truth",
            str(truth_file),
            "--time-scale",
            str(TIME_SCALE),
            "--idle-seconds",
            "0.5",
            "--mix",
            "good=0.7,sloppy=0.3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "submitted 6 assignments" in result.output
    assert len(task_answers(mturk, hit_ids)) == 6
    bad = CliRunner().invoke(
        cli_app, ["marketplace", "crowd", "--endpoint", market.worker_site_url, "--mix", "wizard=1"]
    )
    assert bad.exit_code != 0 and "wizard" in bad.output


def test_box_workers_measure_the_served_image_and_jitter_true_boxes(tmp_path: Path) -> None:
    from PIL import Image

    image = tmp_path / "street.png"
    Image.new("RGB", (320, 200)).save(image)
    truth = {
        "s3://b/street.png": {
            "boundingBoxes": [{"label": "car", "left": 40, "top": 50, "width": 120, "height": 80}],
            "inputImageProperties": {"width": 320, "height": 200},
        }
    }
    page_with_truth = contract_page(
        "crowd-bounding-box", ["car"], {"source-ref": "s3://b/street.png"}, name="annotatedResult"
    )
    untruthed = contract_page("crowd-bounding-box", ["car"], {"source-ref": "s3://b/other.png"}, name="annotatedResult")
    untruthed = untruthed.replace("<form", f'<crowd-bounding-box src="/local-files{image}"></crowd-bounding-box><form')
    with start_in_thread(
        MarketplaceConfig(db_path=":memory:", time_scale=TIME_SCALE, file_roots=[str(tmp_path)])
    ) as running:
        client = running.client()
        _, hit_ids = publish(client, [page_with_truth, untruthed], assignments=3, title="Boxes")
        stats = run_crowd(
            running.worker_site_url,
            n_workers=3,
            seed=2,
            truth=truth,
            mix="good=1",
            time_scale=TIME_SCALE,
            idle_seconds=0.5,
            concurrency=3,
        )
        assert stats.assignments_submitted == 6 and stats.error_count == 0, stats.errors
        results = {hit: [] for hit in hit_ids}
        for row in task_answers(client, hit_ids):
            results[row["hit"]].append(json.loads(row["fields"]["taskAnswers"][0])[0]["annotatedResult"])
    for result in results[hit_ids[0]]:
        assert result["inputImageProperties"] == {"height": 200, "width": 320}
        for box in result["boundingBoxes"]:
            assert abs(box["left"] - 40) < 25 and abs(box["width"] - 120) < 30 and box["label"] == "car"
    for result in results[hit_ids[1]]:  # no truth: the size comes from the image the page loads
        assert result["inputImageProperties"] == {"height": 200, "width": 320}


def test_crowd_works_a_hit_rendered_from_a_built_in_template(market, mturk) -> None:
    templates = pytest.importorskip("broker.templates")
    source = (Path(__file__).resolve().parents[2] / "hit_templates" / "text-classification.liquid").read_text()
    sources = ["great film", "dull plot", "fine acting"]
    pages = [
        templates.render_task_html(
            source,
            {"taskObject": s, "labels": ["positive", "negative"], "header": "Tone?"},
            task_type="text-classification",
            data_object={"source": s},
            grant_read_access=lambda url: url,
        )
        for s in sources
    ]
    _, hit_ids = publish(mturk, pages, assignments=2)
    stats = run_crowd(
        market.worker_site_url,
        n_workers=3,
        seed=8,
        truth={"great film": "positive"},
        mix="good=1",
        time_scale=TIME_SCALE,
        idle_seconds=0.5,
        concurrency=3,
    )
    assert stats.assignments_submitted == 6 and stats.generic_forms == 0, stats.errors
    for row in task_answers(mturk, hit_ids):
        [answer] = json.loads(row["fields"]["taskAnswers"][0])
        [(name, value)] = answer.items()
        assert value["label"] in ("positive", "negative")


def test_stopping_mid_work_returns_the_hit_instead_of_leaving_it_accepted() -> None:
    import threading
    import time

    pages, truth = classification_pages(6)
    with start_in_thread(MarketplaceConfig(db_path=":memory:", time_scale=5.0)) as running:
        client = running.client()
        _, hit_ids = publish(client, pages, assignments=1)
        stop = threading.Event()

        watcher_client = running.client()

        def stop_once_someone_is_working() -> None:
            while not stop.is_set():
                if any(watcher_client.get_hit(HITId=h)["HIT"]["NumberOfAssignmentsPending"] for h in hit_ids):
                    stop.set()
                time.sleep(0.01)

        watcher = threading.Thread(target=stop_once_someone_is_working)
        watcher.start()
        stats = run_crowd(
            running.worker_site_url,
            n_workers=8,
            seed=3,
            truth=truth,
            mix="good=1",
            time_scale=5.0,
            idle_seconds=30,
            stop_event=stop,
            concurrency=4,
        )
        watcher.join()
        hits = [client.get_hit(HITId=h)["HIT"] for h in hit_ids]
        assert stats.assignments_returned >= 1
        assert sum(h["NumberOfAssignmentsPending"] for h in hits) == 0  # nothing left accepted
        assert sum(h["NumberOfAssignmentsAvailable"] for h in hits) == 6 - stats.assignments_submitted


def test_a_hit_whose_page_does_not_load_is_returned_not_kept(market, mturk) -> None:
    external = (
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        '2006-07-14/ExternalQuestion.xsd"><ExternalURL>http://127.0.0.1:9/task</ExternalURL>'
        "<FrameHeight>400</FrameHeight></ExternalQuestion>"
    )
    hit_type = mturk.create_hit_type(
        Title="Broken page", Description="Its page does not load.", Reward="0.10", AssignmentDurationInSeconds=3600
    )["HITTypeId"]
    hit_id = mturk.create_hit_with_hit_type(
        HITTypeId=hit_type, MaxAssignments=2, LifetimeInSeconds=86400, Question=external
    )["HIT"]["HITId"]
    stats = run_crowd(
        market.worker_site_url,
        n_workers=3,
        seed=2,
        mix="good=1",
        time_scale=TIME_SCALE,
        idle_seconds=1.0,
        concurrency=2,
    )
    hit = mturk.get_hit(HITId=hit_id)["HIT"]
    assert stats.assignments_submitted == 0 and stats.assignments_returned >= 1
    assert any("did not load" in error for error in stats.errors)
    assert hit["NumberOfAssignmentsPending"] == 0 and hit["NumberOfAssignmentsAvailable"] == 2
