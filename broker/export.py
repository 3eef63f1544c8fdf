"""Exports of an object-detection output manifest: COCO JSON, YOLO txt, Pascal VOC XML, flat CSV.

Training code rarely reads Ground Truth's manifest directly; these are the three box formats
detectors load. Class ids follow the job's label order (Ground Truth's ``class_id`` is already
an index into it), so YOLO's class list is the job's ``labels``. Coordinates stay in pixels as
Ground Truth wrote them (COCO ``bbox`` = left, top, width, height; VOC corners; YOLO centres
normalised by the image size).
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

DETECTION_TYPE = "groundtruth/object-detection"
SPAN_TYPE = "groundtruth/text-span"
FORMATS = ("manifest", "csv", "coco", "yolo", "voc")


class ExportError(ValueError):
    """A manifest that cannot be exported; the message names the line and field."""


@dataclass(frozen=True)
class Box:
    class_id: int
    left: float
    top: float
    width: float
    height: float
    confidence: float | None = None


@dataclass(frozen=True)
class ImageBoxes:
    """One manifest line's image and its consolidated boxes (``line`` is 1-based)."""

    line: int
    source: str
    width: int
    height: int
    depth: int
    boxes: tuple[Box, ...]
    object_id: str = ""  # the line's own "id" field, if it has one


def read_detections(manifest_text: str, attribute: str) -> tuple[list[ImageBoxes], dict[int, str]]:
    """Labeled lines of an object-detection manifest, plus the class map merged over all lines.

    Lines without the attribute (failed objects) are skipped; a labeled line with a malformed
    box is an ``ExportError`` naming its line number and field.
    """
    images: list[ImageBoxes] = []
    class_map: dict[int, str] = {}
    for number, text in enumerate(manifest_text.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExportError(f"line {number}: not JSON ({exc.msg})") from None
        if attribute not in line:
            continue
        metadata = line.get(f"{attribute}-metadata") or {}
        if metadata.get("type") != DETECTION_TYPE:
            raise ExportError(
                f"line {number}: {attribute}-metadata.type is {metadata.get('type')!r}, "
                f"not {DETECTION_TYPE!r}: only bounding-box jobs export to COCO, YOLO or VOC"
            )
        class_map.update({int(k): str(v) for k, v in (metadata.get("class-map") or {}).items()})
        images.append(_image_boxes(number, line, attribute, metadata))
    return images, class_map


def _image_boxes(number: int, line: dict, attribute: str, metadata: dict) -> ImageBoxes:
    value = line[attribute]
    where = f"line {number}: {attribute}"
    try:
        size = value["image_size"][0]
        width, height, depth = int(size["width"]), int(size["height"]), int(size.get("depth", 3))
    except (KeyError, IndexError, TypeError, ValueError):
        raise ExportError(f"{where}.image_size[0] needs width and height") from None
    objects = metadata.get("objects") or []
    boxes = []
    for i, box in enumerate(value.get("annotations") or []):
        try:
            confidence = objects[i].get("confidence") if i < len(objects) else None
            boxes.append(
                Box(
                    int(box["class_id"]),
                    float(box["left"]),
                    float(box["top"]),
                    float(box["width"]),
                    float(box["height"]),
                    None if confidence is None else float(confidence),
                )
            )
        except (KeyError, TypeError, ValueError):
            raise ExportError(f"{where}.annotations[{i}] needs class_id, left, top, width and height") from None
    source = str(line.get("source-ref") or line.get("source") or "")
    return ImageBoxes(number, source, width, height, depth, tuple(boxes), _own_id(line))


def class_names(class_map: dict[int, str], labels: list[str] | None = None) -> list[str]:
    """Class list indexed by class id: the job's labels, else the manifest's class-map."""
    if labels:
        return list(labels)
    size = max(class_map, default=-1) + 1
    return [class_map.get(i, f"class_{i}") for i in range(size)]


def to_coco(images: list[ImageBoxes], classes: list[str]) -> dict:
    """COCO detection JSON; category ids are class id + 1 (COCO keeps 0 for background)."""
    coco_images, annotations = [], []
    for image_id, image in enumerate(images, start=1):
        coco_images.append({"id": image_id, "file_name": image.source, "width": image.width, "height": image.height})
        for box in image.boxes:
            annotation = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": box.class_id + 1,
                "bbox": [box.left, box.top, box.width, box.height],
                "area": box.width * box.height,
                "iscrowd": 0,
            }
            if box.confidence is not None:
                annotation["score"] = box.confidence
            annotations.append(annotation)
    categories = [{"id": i + 1, "name": name, "supercategory": ""} for i, name in enumerate(classes)]
    return {
        "info": {"description": "crowd-broker export"},
        "images": coco_images,
        "annotations": annotations,
        "categories": categories,
    }


def _stems(images: list[ImageBoxes]) -> list[str]:
    """A file stem per image from its source's basename; a clash gets the manifest line number."""
    stems, seen = [], set()
    for image in images:
        stem = posixpath.splitext(posixpath.basename(image.source.replace("\\", "/")))[0] or f"line{image.line}"
        if stem in seen:
            stem = f"{stem}_line{image.line}"
        seen.add(stem)
        stems.append(stem)
    return stems


def to_yolo(images: list[ImageBoxes], classes: list[str]) -> dict[str, str]:
    """``{file name: text}``: one ``<stem>.txt`` per image (class cx cy w h, normalised) + classes.txt."""
    files = {"classes.txt": "".join(f"{name}\n" for name in classes)}
    for stem, image in zip(_stems(images), images):
        files[f"{stem}.txt"] = "".join(
            f"{box.class_id} {(box.left + box.width / 2) / image.width:.6f} "
            f"{(box.top + box.height / 2) / image.height:.6f} {box.width / image.width:.6f} "
            f"{box.height / image.height:.6f}\n"
            for box in image.boxes
        )
    return files


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def to_voc(images: list[ImageBoxes], classes: list[str]) -> dict[str, str]:
    """``{file name: XML}``: one Pascal VOC annotation per image (corners in pixels)."""
    files = {}
    for stem, image in zip(_stems(images), images):
        root = Element("annotation")
        SubElement(root, "filename").text = posixpath.basename(image.source) or stem
        SubElement(root, "path").text = image.source
        size = SubElement(root, "size")
        for name, value in (("width", image.width), ("height", image.height), ("depth", image.depth)):
            SubElement(size, name).text = str(value)
        SubElement(root, "segmented").text = "0"
        for box in image.boxes:
            obj = SubElement(root, "object")
            SubElement(obj, "name").text = classes[box.class_id] if box.class_id < len(classes) else str(box.class_id)
            SubElement(obj, "pose").text = "Unspecified"
            SubElement(obj, "truncated").text = "0"
            SubElement(obj, "difficult").text = "0"
            if box.confidence is not None:
                SubElement(obj, "confidence").text = f"{box.confidence:.4f}"
            corners = SubElement(obj, "bndbox")
            for name, value in (
                ("xmin", box.left),
                ("ymin", box.top),
                ("xmax", box.left + box.width),
                ("ymax", box.top + box.height),
            ):
                SubElement(corners, name).text = _number(value)
        files[f"{stem}.xml"] = tostring(root, encoding="unicode") + "\n"
    return files


ID_COLUMNS = ["datasetObjectId", "id"]  # the line's 0-based position (Ground Truth's id), its own "id" field


def _own_id(line: dict) -> str:
    value = line.get("id")
    return "" if value is None else str(value)


def boxes_csv(images: list[ImageBoxes], classes: list[str]) -> str:
    """One row per box: the object's ids, object, class, left, top, width, height, confidence."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*ID_COLUMNS, "object", "class", "left", "top", "width", "height", "confidence"])
    for image in images:
        for box in image.boxes:
            name = classes[box.class_id] if box.class_id < len(classes) else str(box.class_id)
            writer.writerow(
                [
                    image.line - 1,
                    image.object_id,
                    image.source,
                    name,
                    _number(box.left),
                    _number(box.top),
                    _number(box.width),
                    _number(box.height),
                    "" if box.confidence is None else box.confidence,
                ]
            )
    return out.getvalue()


def _lines(manifest_text: str) -> Iterator[tuple[int, dict]]:
    for number, text in enumerate(manifest_text.splitlines(), start=1):
        if text.strip():
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                raise ExportError(f"line {number}: not JSON ({exc.msg})") from None


def manifest_type(manifest_text: str, attribute: str) -> str | None:
    """The metadata `type` of the first labeled line (None when nothing is labeled yet)."""
    for _, line in _lines(manifest_text):
        if attribute in line:
            return (line.get(f"{attribute}-metadata") or {}).get("type")
    return None


def is_detection_manifest(manifest_text: str, attribute: str) -> bool:
    """Whether the first labeled line is an object-detection label."""
    return manifest_type(manifest_text, attribute) == DETECTION_TYPE


def spans_csv(manifest_text: str, attribute: str) -> str:
    """A text-span manifest, one row per entity: the object's ids, object, label, offsets, confidence."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*ID_COLUMNS, "object", "label", "startOffset", "endOffset", "confidence"])
    for number, line in _lines(manifest_text):
        if attribute not in line:
            continue
        try:
            entities = line[attribute]["annotations"]["entities"]
            confidences = [
                e.get("confidence", "") for e in (line.get(f"{attribute}-metadata") or {}).get("entities", [])
            ]
            for n, entity in enumerate(entities):
                writer.writerow(
                    [
                        number - 1,
                        _own_id(line),
                        line.get("source", ""),
                        entity["label"],
                        entity["startOffset"],
                        entity["endOffset"],
                        confidences[n] if n < len(confidences) else "",
                    ]
                )
        except (KeyError, TypeError) as exc:
            raise ExportError(
                f"line {number}: {attribute}.annotations.entities is not a list of entities ({exc})"
            ) from None
    return out.getvalue()


def export_files(manifest_text: str, attribute: str, fmt: str, labels: list[str] | None = None) -> dict[str, str]:
    """``{file name: text}`` for a box format (coco: one JSON file; yolo, voc: one file per image)."""
    if fmt not in ("coco", "yolo", "voc"):
        raise ExportError(f"unknown box export format {fmt!r}; known: coco, yolo, voc")
    images, class_map = read_detections(manifest_text, attribute)
    classes = class_names(class_map, labels)
    if fmt == "coco":
        return {"annotations.json": json.dumps(to_coco(images, classes), indent=1) + "\n"}
    return (to_yolo if fmt == "yolo" else to_voc)(images, classes)


def manifest_csv(manifest_text: str, spec: Any) -> str:
    """`broker export --csv`: the object's ids, object, label, confidence per line (multi-label joined by ';')."""
    attribute = spec.label_attribute_name
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*ID_COLUMNS, "object", "label", "confidence"])
    for number, line in _lines(manifest_text):
        ids = [number - 1, _own_id(line)]
        source = line.get("source-ref", line.get("source", ""))
        metadata = line.get(f"{attribute}-metadata") or {}
        if attribute not in line:
            writer.writerow([*ids, source, "", ""])
        elif "internal-color-map" in metadata:  # segmentation: the mask's URI, one confidence per image
            confidence = next(iter(metadata["internal-color-map"].values()), {}).get("confidence", "")
            writer.writerow([*ids, source, line[attribute], confidence])
        elif "class-map" in metadata:
            names = [metadata["class-map"][str(i)] for i in line[attribute]]
            confidences = [str(metadata.get("confidence-map", {}).get(str(i), "")) for i in line[attribute]]
            writer.writerow([*ids, source, ";".join(names), ";".join(confidences)])
        else:
            writer.writerow([*ids, source, metadata.get("class-name", line[attribute]), metadata.get("confidence", "")])
    return out.getvalue()


__all__ = [
    "ExportError",
    "FORMATS",
    "Box",
    "ImageBoxes",
    "read_detections",
    "class_names",
    "to_coco",
    "to_yolo",
    "to_voc",
    "boxes_csv",
    "spans_csv",
    "export_files",
    "is_detection_manifest",
    "manifest_csv",
    "manifest_type",
]
