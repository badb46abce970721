"""The control search: each candidate's overrides reach the fit, only the control is recorded."""

from __future__ import annotations

import json

from conftest import TINY_PARAMS

from hoilib.config import flat_view
from hoilib.ordering import consumers
from hoilib.run.control_search import CANDIDATES, search, section

MLP2 = "MLP of two hidden layers of 256, batches of 256"


def test_each_candidate_gets_its_control_and_nothing_about_the_order(tiny_cfg, tmp_path):
    flat = flat_view(tiny_cfg.model_dump())
    params = {k: flat[k] for k in ("run.run_dir", "world.data_root", *TINY_PARAMS)}
    candidates = {k: CANDIDATES[k] for k in ("the book's recipe", MLP2)}
    out = tmp_path / "search.json"
    rec = search("smoke", params | {"ezhoi.seeds": [0]}, out, candidates=candidates)
    assert json.loads(out.read_text()) == rec
    rows = rec["rows"]
    assert len(rows) == len(candidates) * len(consumers.KINDS) * 2
    assert not any("wrong" in k for r in rows for k in r)  # the order contrast is never computed
    by = {(r["candidate"], r["kind"], r["consumer"]): r for r in rows}
    book, mlp2 = "the book's recipe", MLP2
    for kind in ("prototypes", "Gaussian"):  # no MLP in them: the same control under both
        assert (
            by[(book, kind, "adapted")]["test Unseen gain"]
            == by[(mlp2, kind, "adapted")]["test Unseen gain"]
        )
    a, b = by[(book, "MLP", "adapted")], by[(mlp2, "MLP", "adapted")]
    # the override reached the MLP
    assert (a["validation gain"], a["test Unseen gain"]) != (
        b["validation gain"],
        b["test Unseen gain"],
    )
    text = "\n".join(section(out))
    assert "positive control passes" in text and MLP2 in text and "world seed" in text
    assert section(tmp_path / "absent.json") == []
