"""Input manifest: Ground Truth's JSON Lines rules, each error naming its line."""

from __future__ import annotations

import json

import pytest

from broker.manifest import MAX_ATTRIBUTE_CHARS, MAX_LINE_CHARS, ManifestError, read_manifest, write_rejected


def errors(path, **kwargs) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ManifestError) as caught:
        read_manifest(str(path), **kwargs)
    return [(issue.line, issue.field, issue.message) for issue in caught.value.issues]


def test_reads_objects_and_passes_other_keys_through(write_manifest, tmp_path):
    path = write_manifest(
        [
            {"source-ref": "s3://bucket/a.jpg", "id": 1, "meta": {"k": [1, 2]}},
            {"source": "some text", "extra": "kept"},
            {"source-ref": "images/b.png"},
        ]
    )
    lines, rejected = read_manifest(str(path))
    assert rejected == []
    assert [line.line_number for line in lines] == [1, 2, 3]
    assert [line.source_key for line in lines] == ["source-ref", "source", "source-ref"]
    assert lines[0].data == {"source-ref": "s3://bucket/a.jpg", "id": 1, "meta": {"k": [1, 2]}}
    assert lines[1].data["extra"] == "kept"
    assert lines[2].source == str(tmp_path / "images" / "b.png")  # relative to the manifest's folder


def test_blank_lines_are_skipped_but_line_numbers_kept(write_manifest):
    path = write_manifest([{"source": "a"}, "", "   ", {"source": "b"}])
    lines, _ = read_manifest(str(path))
    assert [line.line_number for line in lines] == [1, 4]


@pytest.mark.parametrize(
    ("row", "field", "fragment"),
    [
        ("{not json", "", "not valid JSON"),
        ("[1, 2]", "", "must be a JSON object"),
        ({"id": 1}, "", 'needs "source-ref"'),
        ({"source": "a", "source-ref": "s3://b/k"}, "", "both"),
        ({"source": ""}, "source", "non-empty string"),
        ({"source-ref": 5}, "source-ref", "non-empty string"),
        ({"source": "a", "$secret": 1}, "$secret", "may not start with '$'"),
        ('{"source": "a", "source": "b"}', "source", "appears twice"),
        ({"source": "a", "big": "x" * (MAX_ATTRIBUTE_CHARS + 1)}, "big", "20,000"),
        ({"source": "a", "big": ["x" * 100] * 200}, "big", "20,000"),
    ],
)
def test_bad_line_names_line_field_and_reason(write_manifest, row, field, fragment):
    path = write_manifest([{"source": "ok"}, row, {"source": "also ok"}])
    ((line, got_field, message),) = errors(path)
    assert (line, got_field) == (2, field)
    assert fragment in message


def test_attribute_at_the_limit_is_accepted(write_manifest):
    path = write_manifest([{"source": "a", "big": "x" * MAX_ATTRIBUTE_CHARS}])
    assert len(read_manifest(str(path))[0]) == 1


def test_line_length_limit(write_manifest):
    fields = {f"k{index}": "x" * 19_000 for index in range(6)}  # every attribute fine, the line too long
    path = write_manifest([dict(source="a", **fields)])
    ((line, _, message),) = errors(path)
    assert line == 1 and "100,000" in message
    assert len(json.dumps(dict(source="a", **fields))) > MAX_LINE_CHARS


def test_every_bad_line_is_reported(write_manifest):
    path = write_manifest([{"source": "ok"}, "{", {"x": 1}, {"source": "ok"}, "3"])
    assert [line for line, _, _ in errors(path)] == [2, 3, 5]


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "input.manifest"
    path.write_bytes(b'{"source": "ok"}\n{"source": "caf\xe9"}\n')
    ((line, _, message),) = errors(path)
    assert line == 2 and "UTF-8" in message


def test_byte_order_mark_is_tolerated(tmp_path):
    path = tmp_path / "input.manifest"
    path.write_bytes('\ufeff{"source": "ok"}\n'.encode())
    assert read_manifest(str(path))[0][0].data == {"source": "ok"}


def test_task_type_rules(write_manifest):
    path = write_manifest([{"source": "text"}])
    ((line, field, message),) = errors(path, task_type="image-classification")
    assert (line, field) == (1, "source") and 'needs "source-ref"' in message
    path = write_manifest([{"source-ref": "s3://b/k.txt"}], name="text.manifest")
    ((_, field, message),) = errors(path, task_type="text-classification")
    assert field == "source-ref" and 'needs "source"' in message


def test_skip_invalid_returns_rejected_lines_and_writes_them(write_manifest, tmp_path):
    path = write_manifest([{"source": "a"}, "{broken", {"source": "b"}, {"nothing": 1}])
    lines, rejected = read_manifest(str(path), skip_invalid=True)
    assert [line.line_number for line in lines] == [1, 3]
    assert [(line.line_number, line.text) for line in rejected] == [(2, "{broken"), (4, '{"nothing": 1}')]
    out = tmp_path / "rejected.manifest"
    write_rejected(rejected, str(out))
    assert out.read_text() == '{broken\n{"nothing": 1}\n'


def test_skip_invalid_with_nothing_valid_still_fails(write_manifest):
    path = write_manifest(["{", "["])
    assert errors(path, skip_invalid=True)[-1][2] == "no valid data objects in the manifest"


def test_empty_and_missing_manifest(tmp_path, write_manifest):
    assert errors(write_manifest([]))[0][2] == "no valid data objects in the manifest"
    ((line, _, message),) = errors(tmp_path / "missing.manifest")
    assert line is None and message == "not found"


def test_object_count_limit(monkeypatch, write_manifest):
    import broker.manifest as manifest

    monkeypatch.setattr(manifest, "MAX_OBJECTS", 2)
    path = write_manifest([{"source": "a"}, {"source": "b"}, {"source": "c"}])
    assert errors(path, skip_invalid=True)[-1][:1] == (3,)
