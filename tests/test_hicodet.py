"""The annotation reader: bad input gives errors naming the file, the field and what was expected."""

from __future__ import annotations

import json
import shutil

import pytest

from hoilib.data.annotations import enumerate_pairs, load_annotations
from hoilib.errors import DataError


@pytest.fixture()
def copy_world(tmp_path, tiny_world):
    dst = tmp_path / "w"
    shutil.copytree(tiny_world, dst)
    return dst


def _edit(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def test_loads_and_enumerates(tiny_world):
    ds = load_annotations(tiny_world / "instances_test2015.json")
    pairs = enumerate_pairs(ds, tiny_world / "boxes_test2015.json")
    gt = ds.ground_truth()
    assert len(pairs) >= len(
        {
            (int(i), tuple(h), tuple(o))
            for i, h, o in zip(gt.image, gt.boxes_h, gt.boxes_o, strict=False)
        }
    )
    plain = enumerate_pairs(ds)  # from the annotated boxes alone (the HICO-DET default)
    assert 0 < len(plain) <= len(pairs)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="annotation file not found.*instances_test2015.json"):
        load_annotations(tmp_path / "instances_test2015.json")


def test_malformed_json(copy_world):
    p = copy_world / "instances_test2015.json"
    p.write_text(p.read_text()[:100])
    with pytest.raises(DataError, match="instances_test2015.json is not valid JSON"):
        load_annotations(p)


def test_missing_field(copy_world):
    p = copy_world / "instances_test2015.json"
    _edit(p, lambda d: d.pop("correspondence"))
    with pytest.raises(DataError, match=r"missing field\(s\) \['correspondence'\]"):
        load_annotations(p)


def test_field_length_mismatch(copy_world):
    p = copy_world / "instances_test2015.json"
    _edit(p, lambda d: d["annotation"][0]["verb"].append(0))
    with pytest.raises(DataError, match=r"image 0 .*field 'verb' has \d+ entries, expected \d+"):
        load_annotations(p)


def test_box_outside_image(copy_world):
    p = copy_world / "instances_test2015.json"

    def push(d):
        d["annotation"][1]["boxes_o"][0] = [10, 10, 999, 20]

    _edit(p, push)
    with pytest.raises(
        DataError,
        match=r"image 1 .*field 'boxes_o'\[0\] = \[10.0, 10.0, 999.0, 20.0\] is not a box inside the image.*x2 <= 128",
    ):
        load_annotations(p)


def test_missing_image(copy_world):
    p = copy_world / "instances_test2015.json"
    doc = json.loads(p.read_text())
    (copy_world / "images" / "test2015" / doc["filenames"][2]).unlink()
    with pytest.raises(
        DataError, match=r"image 2 .*image file not found: .*" + doc["filenames"][2]
    ):
        load_annotations(p)


def test_class_index_out_of_range(copy_world):
    p = copy_world / "instances_test2015.json"
    _edit(p, lambda d: d["annotation"][0]["hoi"].__setitem__(0, 10_000))
    with pytest.raises(
        DataError, match=r"field 'hoi' holds 10000, expected class indices in \[0, \d+\)"
    ):
        load_annotations(p)
