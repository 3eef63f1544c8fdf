"""Box exports (COCO, YOLO, Pascal VOC, CSV) round-trip the output manifest's boxes."""

from __future__ import annotations

import csv
import io
import json

import defusedxml.ElementTree as SafeET
import pytest

from broker.export import ExportError, boxes_csv, class_names, export_files, read_detections

LABELS = ["dog", "bone", 'cat <&> "friend"']


def _line(source: str, boxes: list[tuple[int, int, int, int, int]], confidences: list[float]) -> dict:
    return {
        "source-ref": source,
        "bb": {
            "image_size": [{"width": 500, "height": 400, "depth": 3}],
            "annotations": [{"class_id": c, "left": x, "top": y, "width": w, "height": h} for c, x, y, w, h in boxes],
        },
        "bb-metadata": {
            "objects": [{"confidence": v} for v in confidences],
            "class-map": {str(c): LABELS[c] for c, *_ in boxes},
            "type": "groundtruth/object-detection",
            "human-annotated": "yes",
            "creation-date": "2026-12-06T00:00:00.000",
            "job-name": "labeling-job/bb",
        },
    }


LINES = [
    _line("s3://bkt/a/img1.png", [(0, 111, 134, 61, 128), (1, 161, 250, 30, 30)], [0.8, 0.9]),
    {"source-ref": "s3://bkt/failed.png", "bb-metadata": {"failure-reason": "no answers"}},  # failed object
    _line("s3://bkt/b/img1.png", [(2, 0, 0, 500, 400)], [0.55]),  # same basename, other folder
    _line("s3://bkt/empty.png", [], []),
]
MANIFEST = "".join(json.dumps(line) + "\n" for line in LINES)
EXPECTED = {  # source -> sorted (class, left, top, width, height)
    "s3://bkt/a/img1.png": [(0, 111, 134, 61, 128), (1, 161, 250, 30, 30)],
    "s3://bkt/b/img1.png": [(2, 0, 0, 500, 400)],
    "s3://bkt/empty.png": [],
}


def test_coco_round_trip():
    coco = json.loads(export_files(MANIFEST, "bb", "coco", LABELS)["annotations.json"])
    assert [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])] == LABELS
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {image["id"]: image["file_name"] for image in coco["images"]}
    assert sorted(files.values()) == sorted(EXPECTED)
    got: dict[str, list] = {source: [] for source in EXPECTED}
    for a in coco["annotations"]:
        got[files[a["image_id"]]].append((LABELS.index(names[a["category_id"]]), *a["bbox"]))
        assert a["area"] == a["bbox"][2] * a["bbox"][3]
    assert {k: sorted(v) for k, v in got.items()} == EXPECTED
    assert sorted(a["score"] for a in coco["annotations"]) == [0.55, 0.8, 0.9]
    assert len({a["id"] for a in coco["annotations"]}) == 3


def test_coco_loads_in_pycocotools(tmp_path):
    coco_api = pytest.importorskip("pycocotools.coco")
    path = tmp_path / "annotations.json"
    path.write_text(export_files(MANIFEST, "bb", "coco", LABELS)["annotations.json"])
    loaded = coco_api.COCO(str(path))
    assert len(loaded.getImgIds()) == 3 and len(loaded.getAnnIds()) == 3


def test_yolo_round_trip():
    files = export_files(MANIFEST, "bb", "yolo", LABELS)
    assert files["classes.txt"].splitlines() == LABELS
    assert set(files) == {"classes.txt", "img1.txt", "img1_line3.txt", "empty.txt"}
    by_file = {
        "img1.txt": "s3://bkt/a/img1.png",
        "img1_line3.txt": "s3://bkt/b/img1.png",
        "empty.txt": "s3://bkt/empty.png",
    }
    for name, source in by_file.items():
        boxes = []
        for row in files[name].splitlines():
            c, cx, cy, w, h = row.split()
            w, h = float(w) * 500, float(h) * 400
            boxes.append((int(c), round(float(cx) * 500 - w / 2), round(float(cy) * 400 - h / 2), round(w), round(h)))
        assert sorted(boxes) == EXPECTED[source]


def test_voc_round_trip_and_escaping():
    files = export_files(MANIFEST, "bb", "voc", LABELS)
    seen = {}
    for _name, xml in files.items():
        root = SafeET.fromstring(xml)
        assert root.findtext("size/width") == "500" and root.findtext("size/height") == "400"
        boxes = []
        for obj in root.iter("object"):
            corners = [int(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
            boxes.append(
                (
                    LABELS.index(obj.findtext("name")),
                    corners[0],
                    corners[1],
                    corners[2] - corners[0],
                    corners[3] - corners[1],
                )
            )
        seen[root.findtext("path")] = sorted(boxes)
    assert seen == EXPECTED  # the class name holding <, & and quotes came back intact


def test_csv_has_one_row_per_box():
    images, class_map = read_detections(MANIFEST, "bb")
    rows = list(csv.DictReader(io.StringIO(boxes_csv(images, class_names(class_map, LABELS)))))
    assert [(r["datasetObjectId"], r["object"], r["class"], r["left"], r["confidence"]) for r in rows] == [
        ("0", "s3://bkt/a/img1.png", "dog", "111", "0.8"),
        ("0", "s3://bkt/a/img1.png", "bone", "161", "0.9"),
        ("2", "s3://bkt/b/img1.png", LABELS[2], "0", "0.55"),  # line 3: the failed line keeps its place
    ]


def test_class_list_falls_back_to_the_class_map():
    _, class_map = read_detections(MANIFEST, "bb")
    assert class_names(class_map) == LABELS
    assert class_names({0: "a", 2: "c"}) == ["a", "class_1", "c"]


def test_classification_manifest_is_refused_with_its_line():
    line = {"source": "x", "bb": 0, "bb-metadata": {"type": "groundtruth/text-classification", "class-name": "a"}}
    with pytest.raises(ExportError, match=r"line 2: bb-metadata.type .*only bounding-box jobs"):
        export_files("\n" + json.dumps(line) + "\n", "bb", "coco")


def test_malformed_box_names_line_and_field():
    bad = _line("s3://bkt/x.png", [(0, 1, 2, 3, 4)], [0.5])
    del bad["bb"]["annotations"][0]["width"]
    with pytest.raises(ExportError, match=r"line 2: bb.annotations\[0\] needs"):
        export_files(MANIFEST.splitlines()[0] + "\n" + json.dumps(bad) + "\n", "bb", "yolo")


def test_span_manifest_exports_one_csv_row_per_entity():
    from broker.export import manifest_type, spans_csv

    text = 'Ada met Bob, in "Paris".'
    line = {
        "source": text,
        "ner": {
            "annotations": {
                "labels": [{"label": "person"}, {"label": "place"}],
                "entities": [
                    {"label": "person", "startOffset": 0, "endOffset": 3},
                    {"label": "person", "startOffset": 8, "endOffset": 11},
                    {"label": "place", "startOffset": 17, "endOffset": 22},
                ],
            }
        },
        "ner-metadata": {
            "entities": [{"confidence": 0.9}, {"confidence": 0.5}, {"confidence": 0.75}],
            "type": "groundtruth/text-span",
        },
    }
    manifest = json.dumps(line) + "\n" + json.dumps({"source": "unlabeled"}) + "\n"
    assert manifest_type(manifest, "ner") == "groundtruth/text-span"
    rows = list(csv.reader(io.StringIO(spans_csv(manifest, "ner"))))
    assert rows[0] == ["datasetObjectId", "id", "object", "label", "startOffset", "endOffset", "confidence"]
    assert rows[1:] == [
        ["0", "", text, "person", "0", "3", "0.9"],
        ["0", "", text, "person", "8", "11", "0.5"],
        ["0", "", text, "place", "17", "22", "0.75"],
    ]
    assert [text[int(r[4]) : int(r[5])] for r in rows[1:]] == ["Ada", "Bob", "Paris"]  # offsets survive quoting
    broken = json.dumps({"source": "x", "ner": {"annotations": {}}, "ner-metadata": {}}) + "\n"
    with pytest.raises(ExportError, match="line 1: ner.annotations.entities"):
        spans_csv(broken, "ner")


def test_segmentation_manifest_csv_gives_the_mask_uri_and_the_image_confidence():
    from types import SimpleNamespace

    from broker.export import manifest_csv

    line = {
        "source-ref": "s3://bkt/city.png",
        "id": 17,
        "city-ref": "s3://out/city/0_ab.png",
        "city-ref-metadata": {
            "internal-color-map": {"0": {"class-name": "BACKGROUND", "confidence": 0.87, "hex-color": "#ffffff"}},
            "type": "groundtruth/semantic-segmentation",
        },
    }
    rows = list(
        csv.reader(io.StringIO(manifest_csv(json.dumps(line) + "\n", SimpleNamespace(label_attribute_name="city-ref"))))
    )
    assert rows[1] == ["0", "17", "s3://bkt/city.png", "s3://out/city/0_ab.png", "0.87"]
