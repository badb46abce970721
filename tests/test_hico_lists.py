"""Official HICO-DET lists shipped in hoilib/hico/data: counts, known entries and split properties."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from hoilib.hico import lists as L

UO_OBJECTS = {"dog", "elephant", "zebra", "frisbee", "skis", "baseball_bat", "skateboard",
              "tennis_racket", "pizza", "refrigerator", "clock", "toothbrush"}
UV_VERBS = {"block", "dribble", "feed", "herd", "hose", "inspect", "install", "move", "park", "ride",
            "sail", "scratch", "sign", "squeeze", "stab", "stop_at", "swing", "tag", "toast", "wear"}
COUNTS = {"uv": 84, "rf-uc": 120, "nf-uc": 120, "uo": 100}


def test_data_file_is_strict_json_inside_the_package():
    path = resources.files("hoilib.hico").joinpath("data/hico_lists.json")
    def bad_constant(name):
        raise AssertionError(f"non-strict JSON constant {name}")
    json.loads(path.read_text(encoding="utf-8"), parse_constant=bad_constant)


def test_counts():
    assert len(L.verbs()) == 117
    assert len(L.objects()) == 80
    assert len(L.classes()) == 600
    assert len(L.rare()) == 138
    for split, n in COUNTS.items():
        assert len(L.unseen(split)) == n, split


def test_known_entries():
    verbs, objects, classes = L.verbs(), L.objects(), L.classes()
    assert verbs[0] == "adjust" and verbs[57] == "no_interaction" and verbs[-1] == "zip"
    # hicodet numbers objects in COCO-80 order, not alphabetically
    assert objects[0] == "person" and objects[4] == "airplane" and objects[79] == "toothbrush"
    assert (verbs[classes[0][0]], objects[classes[0][1]]) == ("board", "airplane")
    assert (verbs[classes[9][0]], objects[classes[9][1]]) == ("no_interaction", "airplane")
    assert (verbs[classes[599][0]], objects[classes[599][1]]) == ("no_interaction", "zebra")


def test_classes_are_unique_valid_pairs_covering_every_verb_and_object():
    classes = L.classes()
    assert len(set(classes)) == 600
    assert all(0 <= v < 117 and 0 <= o < 80 for v, o in classes)
    assert {v for v, _ in classes} == set(range(117))
    assert {o for _, o in classes} == set(range(80))
    # every object has exactly one no_interaction class
    assert sorted(o for v, o in classes if v == 57) == list(range(80))


def _sorted_unique_in_range(idx):
    return idx == sorted(set(idx)) and all(0 <= i < 600 for i in idx)


def test_rare_is_a_sorted_subset_of_the_classes():
    assert _sorted_unique_in_range(L.rare())


@pytest.mark.parametrize("split", sorted(COUNTS))
def test_unseen_indices_sorted_unique_in_range(split):
    assert _sorted_unique_in_range(L.unseen(split))


def test_uo_is_exactly_the_classes_of_the_12_unseen_objects():
    objects, classes = L.objects(), L.classes()
    assert UO_OBJECTS <= set(objects)
    unseen = L.unseen("uo")
    assert {objects[classes[i][1]] for i in unseen} == UO_OBJECTS
    assert unseen == [i for i, (_, o) in enumerate(classes) if objects[o] in UO_OBJECTS]


def test_uv_is_exactly_the_classes_of_the_20_unseen_verbs():
    verbs, classes = L.verbs(), L.classes()
    assert UV_VERBS <= set(verbs)
    unseen = L.unseen("uv")
    assert {verbs[classes[i][0]] for i in unseen} == UV_VERBS
    assert unseen == [i for i, (v, _) in enumerate(classes) if verbs[v] in UV_VERBS]


def test_rf_uc_is_drawn_only_from_rare_and_nf_uc_only_from_non_rare():
    rare = set(L.rare())
    assert set(L.unseen("rf-uc")) < rare          # 120 of the 138 rare classes
    assert not set(L.unseen("nf-uc")) & rare


def test_unknown_split_names_the_valid_ones():
    with pytest.raises(ValueError, match="uv, rf-uc, nf-uc, uo"):
        L.unseen("ua")


def test_results_are_copies():
    L.verbs().append("x")
    L.unseen("uo").clear()
    L.provenance().clear()
    assert len(L.verbs()) == 117 and len(L.unseen("uo")) == 100 and L.provenance()


def test_provenance_names_repository_path_and_commit_for_every_list():
    prov = L.provenance()
    entries = [prov[k] for k in ("verbs", "objects", "correspondence", "rare")]
    entries += [prov["unseen"][s] for s in COUNTS]
    for e in entries:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", e["repository"]) and e["path"]
        assert re.fullmatch(r"[0-9a-f]{40}", e["commit"])
