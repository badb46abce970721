"""Official HICO-DET lists shipped in hoilib/data/hico/data: counts, known entries and split properties."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from hoilib.data.hico import lists as L

UO_OBJECTS = {
    "dog",
    "elephant",
    "zebra",
    "frisbee",
    "skis",
    "baseball_bat",
    "skateboard",
    "tennis_racket",
    "pizza",
    "refrigerator",
    "clock",
    "toothbrush",
}
UV_VERBS = {
    "block",
    "dribble",
    "feed",
    "herd",
    "hose",
    "inspect",
    "install",
    "move",
    "park",
    "ride",
    "sail",
    "scratch",
    "sign",
    "squeeze",
    "stab",
    "stop_at",
    "swing",
    "tag",
    "toast",
    "wear",
}
COUNTS = {"uv": 84, "rf-uc": 120, "nf-uc": 120, "uo": 100}


def test_data_file_is_strict_json_inside_the_package():
    path = resources.files("hoilib.data.hico").joinpath("data/hico_lists.json")

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
    assert set(L.unseen("rf-uc")) < rare  # 120 of the 138 rare classes
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


# --- CLIP prompts (GEN-VLKT hico_text_label, stored in HOI order) ---------------------------------

_PERSON = "a photo of a person "


def _object_name(o):
    return L.objects()[o].replace("_", " ")


def test_prompts_are_600_distinct_non_empty_strings():
    prompts = L.prompts()
    assert len(prompts) == 600
    assert all(isinstance(p, str) and p.strip() for p in prompts)
    assert len(set(prompts)) == 600


def test_prompt_of_class_0_is_boarding_an_airplane():
    p = L.prompts()[0]
    assert "board" in p and "airplane" in p
    assert p == "a photo of a person boarding an airplane"


def test_every_prompt_ends_with_its_object_name():
    # object names use underscores, prompts spaces; no upstream prompt uses a synonym
    for i, (p, (_, o)) in enumerate(zip(L.prompts(), L.classes(), strict=False)):
        assert p.startswith(_PERSON), (i, p)
        assert p.endswith(" " + _object_name(o)), (i, p)


def test_no_interaction_prompts_name_only_person_and_object():
    for p, (v, o) in zip(L.prompts(), L.classes(), strict=False):
        if v == 57:
            # articles are upstream's: 'an airplane' but also 'a umbrella'
            assert re.fullmatch(rf"a photo of a person and an? {re.escape(_object_name(o))}", p), p
        else:
            assert " and " not in p, p
    assert L.prompts()[9] == "a photo of a person and an airplane"


def test_each_verb_has_one_phrase_across_objects():
    """Upstream keys are (verb, object) in our numbering: a verb-index mix-up would break this."""
    phrases = {}
    for p, (v, o) in zip(L.prompts(), L.classes(), strict=False):
        if v == 57:
            continue
        middle = p[len(_PERSON) : -len(" " + _object_name(o))]
        middle = re.sub(r" an?$", "", middle)
        phrases.setdefault(v, set()).add(middle)
    assert all(len(s) == 1 for s in phrases.values()), {
        v: s for v, s in phrases.items() if len(s) > 1
    }
    flat = {v: next(iter(s)) for v, s in phrases.items()}
    assert len(set(flat.values())) == len(flat) == 116  # every verb but no_interaction
    verbs = L.verbs()
    assert flat[verbs.index("board")] == "boarding"
    assert flat[verbs.index("sit_on")] == "sitting on"
    assert flat[verbs.index("stop_at")] == "stopping at"


def test_prompts_are_copies_and_have_provenance():
    L.prompts().clear()
    assert len(L.prompts()) == 600
    e = L.provenance()["prompts"]
    assert e["repository"] == "YueLiao/gen-vlkt" and e["path"] == "datasets/hico_text_label.py"
    assert e["key"] == "hico_text_label"
    assert re.fullmatch(r"[0-9a-f]{40}", e["commit"])
