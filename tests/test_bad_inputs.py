"""Every bad input a user can give ends the same way: exit status 1, one line naming the file or field and
what was expected, no traceback, and no run folder left behind for the checks that come before any work.

Each case goes through the real command line (``hoilib.cli.main``); the HICO-DET ones break a copy of the
test fixture in one place each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hoilib.cli import main
from hoilib.config import resolve
from hoilib.data.hico.fixture import make_fixture
from hoilib.errors import DataError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    return make_fixture(tmp_path_factory.mktemp("hico-ok"))


def _broken_copy(fixture_root: Path, tmp_path: Path, edit) -> Path:
    root = tmp_path / "hico"
    shutil.copytree(fixture_root, root)
    edit(root)
    return root


def _edit_annotations(split: str, change):
    def edit(root: Path):
        path = root / f"instances_{split}2015.json"
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc))

    return edit


def _disagree(key: str):
    """Set the first instance's object (or verb) to a valid index that is not its class's."""

    def change(doc):
        first = doc["annotation"][0]
        first[key][0] = (first[key][0] + 1) % len(doc["objects" if key == "object" else "verbs"])

    return change


def _truncate_first_test_image(root: Path) -> None:
    img = _first_image(root, "test")
    data = img.read_bytes()
    img.write_bytes(data[: len(data) // 3])


def _first_image(root: Path, split: str) -> Path:
    doc = json.loads((root / f"instances_{split}2015.json").read_text())
    return root / "images" / f"{split}2015" / doc["filenames"][0]


def _run(capfd, *args) -> tuple[int, str, str]:
    rc = main(["run", *args])
    out, err = capfd.readouterr()
    return rc, out, err


def _assert_one_line_error(rc: int, out: str, err: str, *expected: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 1, (rc, out, err)
    assert "Traceback" not in out + err, err
    assert len(lines) == 1 and lines[0].startswith("hoilib: error: "), err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


# (case, extra arguments, texts the one line must hold): values rejected by the profile checks
VALUE_CASES = [
    ("unknown parameter", ["--set", "bogus=1"], ["unknown parameter 'bogus'"]),
    ("wrong type", ["--set", "run.seed=x"], ["parameter 'run.seed' must be int", "'x'"]),
    (
        "bad split",
        ["--set", "world.split=zz"],
        ["parameter 'world.split' = 'zz'", "uv, rf-uc, nf-uc, uo"],
    ),
    (
        "negative image count",
        ["--set", "world.n_train_images=-5"],
        ["parameter 'world.n_train_images' = -5", "integer in [1, 10,000,000]"],
    ),
    (
        "more images than any machine holds",
        ["--set", "world.n_pretrain_images=20000000"],
        ["parameter 'world.n_pretrain_images' = 20000000", "integer in [1, 10,000,000]"],
    ),
    (
        "zero steps",
        ["--set", "diffusion.steps=0"],
        ["'diffusion.steps' = 0", "in [1, 10,000,000]"],
    ),
    (
        "fraction out of range",
        ["--set", "ezhoi.val_fraction=1.5"],
        ["'ezhoi.val_fraction' = 1.5", "(0, 1)"],
    ),
    ("t* out of range", ["--set", "bridge.t_start=1000"], ["'bridge.t_start' = 1000", "[0, 999]"]),
    (
        "sweep element out of range",
        ["--set", "bridge.sweep_t_starts=[0, 1200]"],
        ["bridge.sweep_t_starts", "element 1 is 1200"],
    ),
    ("repeated seed", ["--set", "ezhoi.seeds=[0, 0]"], ["'ezhoi.seeds'", "distinct"]),
    (
        "patch that does not tile",
        ["--set", "backbone.patch_size=12"],
        ["'backbone.patch_size' = 12", "divisor"],
    ),
    ("unknown device name", ["--set", "run.device=gpu"], ["'run.device' = 'gpu'", "auto, cpu"]),
    (
        "empty list",
        ["--set", "evaluation.gap_shift_deltas=[]"],
        ["'evaluation.gap_shift_deltas'", "non-empty"],
    ),
    (
        "unknown backbone",
        ["--set", "backbone.name=ViT-Q-99"],
        ["parameter 'backbone.name' = 'ViT-Q-99'", "open_clip model name"],
    ),
]


@pytest.mark.parametrize("case,args,expected", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_bad_values_stop_before_anything_runs(capfd, tmp_path, case, args, expected):
    run_dir = tmp_path / "run"
    rc, out, err = _run(capfd, "--profile", "smoke", "--set", f"run.run_dir={run_dir}", *args)
    _assert_one_line_error(rc, out, err, *expected)
    assert not run_dir.exists()  # nothing half-written


def test_unknown_profile_and_missing_profile_file(capfd, tmp_path):
    _assert_one_line_error(
        *_run(capfd, "--profile", "nope"), "unknown profile 'nope'", "known profiles"
    )
    _assert_one_line_error(
        *_run(capfd, "--profile", str(tmp_path / "mine.yml")), "profile file not found", "mine.yml"
    )


def test_run_dir_that_cannot_be_created(capfd):
    _assert_one_line_error(
        *_run(capfd, "--profile", "smoke", "--set", "run.run_dir=/proc/hoibook"),
        "parameter 'run.run_dir' = '/proc/hoibook'",
        "writable folder",
    )


def test_device_this_machine_lacks(capfd, tmp_path):
    import torch

    if torch.cuda.is_available():  # on a GPU machine ask for one more card than there is
        dev = f"cuda:{torch.cuda.device_count()}"
    else:
        dev = "cuda"
    _assert_one_line_error(
        *_run(
            capfd,
            "--profile",
            "smoke",
            "--set",
            f"run.device={dev}",
            "--set",
            f"run.run_dir={tmp_path / 'r'}",
        ),
        f"parameter 'run.device' = '{dev}'",
    )


# HICO-DET copies broken in one place each: (case, how, texts the line must hold)
DATA_CASES = [
    (
        "missing annotation file",
        lambda r: (r / "instances_train2015.json").unlink(),
        ["annotation file not found", "instances_train2015.json", "fredzzhang/hicodet"],
    ),
    (
        "malformed annotation file",
        lambda r: (r / "instances_test2015.json").write_text('{"annotation": [1, 2'),
        ["instances_test2015.json is not valid JSON"],
    ),
    (
        "missing image",
        lambda r: _first_image(r, "test").unlink(),
        ["instances_test2015.json", "image file not found"],
    ),
    (
        "box outside its image",
        _edit_annotations("train", lambda d: d["annotation"][0]["boxes_h"][0].__setitem__(2, 1e5)),
        ["instances_train2015.json", "field 'boxes_h'[0]", "not a box inside the image"],
    ),
    (
        "altered verb list",
        _edit_annotations("test", lambda d: d["verbs"].__setitem__(3, "bake")),
        ["field 'verbs' differs from the official HICO-DET list at index 3", "'bake'"],
    ),
    (
        "class out of range",
        _edit_annotations("test", lambda d: d["annotation"][0]["hoi"].__setitem__(0, 600)),
        ["instances_test2015.json", "field 'hoi' holds 600", "[0, 600)"],
    ),
    (
        "truncated image",
        _truncate_first_test_image,
        ["test2015", "HICO_test2015_", "cannot be read (truncated"],
    ),
    (
        "object out of range",
        _edit_annotations("test", lambda d: d["annotation"][0]["object"].__setitem__(0, 9999)),
        ["instances_test2015.json", "field 'object'[0] = 9999", "index into 'objects' in [0, 80)"],
    ),
    (
        "object that disagrees with its class",
        _edit_annotations("train", _disagree("object")),
        ["instances_train2015.json", "field 'object'[0]", "'correspondence'"],
    ),
    (
        "verb that disagrees with its class",
        _edit_annotations("test", _disagree("verb")),
        ["instances_test2015.json", "field 'verb'[0]", "'correspondence'"],
    ),
]


@pytest.mark.parametrize("case,edit,expected", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_broken_hico_copy_is_named_before_any_chapter(
    capfd, fixture_root, tmp_path, case, edit, expected
):
    root = _broken_copy(fixture_root, tmp_path, edit)
    run_dir = tmp_path / "run"
    rc, out, err = _run(
        capfd,
        "--profile",
        "hico-fixture",
        "--set",
        f"world.data_root={root}",
        "--set",
        f"run.run_dir={run_dir}",
    )
    _assert_one_line_error(rc, out, err, *expected)
    assert not run_dir.exists()


def test_missing_weights_and_detections_files(capfd, fixture_root, tmp_path):
    base = [
        "--profile",
        "hico-fixture",
        "--set",
        f"world.data_root={fixture_root}",
        "--set",
        f"run.run_dir={tmp_path / 'r'}",
    ]
    _assert_one_line_error(
        *_run(capfd, *base, "--set", f"backbone.pretrained={tmp_path / 'weights.pt'}"),
        "parameter 'backbone.pretrained'",
        "weights.pt",
        "no such weights file",
    )
    _assert_one_line_error(
        *_run(capfd, *base, "--set", f"world.pair_source={tmp_path / 'dets.json'}"),
        "parameter 'world.pair_source'",
        "dets.json",
        "no such detections file",
    )
    bad = tmp_path / "bad-dets.json"
    bad.write_text(json.dumps({"format": "something-else", "images": []}))
    _assert_one_line_error(
        *_run(capfd, *base, "--set", f"world.pair_source={bad}"), "bad-dets.json", "field 'format'"
    )
    assert not (tmp_path / "r").exists()


def test_image_decoding_is_remembered_and_a_changed_file_is_decoded_again(
    fixture_root, tmp_path, monkeypatch
):
    """The decode check pays once: a second preflight decodes nothing; a rewritten file is decoded
    again and, truncated, named."""
    from hoilib.data import image_check
    from hoilib.run.preflight import check_inputs

    root = _broken_copy(fixture_root, tmp_path, lambda r: None)
    cfg = resolve(
        "hico-fixture", {"world.data_root": str(root), "run.run_dir": str(tmp_path / "run")}
    )
    decoded = []
    real = image_check.decode_error
    monkeypatch.setattr(image_check, "decode_error", lambda p: decoded.append(p) or real(p))
    check_inputs(cfg)
    n_images = len(decoded)
    assert n_images > 0 and (tmp_path / "run" / "images-decoded.json").is_file()
    decoded.clear()
    check_inputs(cfg)
    assert decoded == []
    _truncate_first_test_image(root)
    with pytest.raises(DataError, match=r"cannot be read \(truncated"):
        check_inputs(cfg)
    assert decoded == [_first_image(root, "test")]
