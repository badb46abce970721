"""Chapter 5's tables in five cached stages: a warm stage is read back, a cold one recomputed,
and every mix of the two gives the tables a single cold pass gives, bit for bit."""

from __future__ import annotations

import json

import pytest

from hoilib import exactjson
from hoilib.ordering import experiment

STAGES = ("05_fixed", "05_text", "05_head", "05_dose", "05_geometry")


class DictStore:
    """``memo.cached``'s shape over a dict: the key is the stage name and its inputs."""

    def __init__(self):
        self.values, self.computed = {}, []

    def __call__(self, name, compute, *, code, **inputs):
        key = (name, json.dumps(inputs, sort_keys=True))
        if key not in self.values:
            self.computed.append(name)
            self.values[key] = exactjson.encode(compute())  # stored as the memo stores it
        return exactjson.decode(json.loads(json.dumps(self.values[key])))


def _encoded(tables) -> str:
    return json.dumps(exactjson.encode(tables.to_dict()), sort_keys=True)


@pytest.fixture(scope="module")
def cold(tiny_experiment):
    cfg, _, _, ctx, run = tiny_experiment
    store = DictStore()
    tables, costs = experiment.stage_tables(cfg, ctx, [run], store=store)
    return store, tables, costs


def test_each_stage_is_stored_once_and_timed(cold, tiny_experiment):
    cfg, _, _, ctx, run = tiny_experiment
    store, tables, costs = cold
    assert store.computed == list(STAGES)
    assert len(costs) == len(STAGES) and all(s >= 0 and new for s, new in costs.values())
    again, costs2 = experiment.stage_tables(cfg, ctx, [run], store=store)
    assert store.computed == list(STAGES)  # nothing computed twice
    # read back: the seconds measured when computed, marked as not computed now
    assert costs2 == {k: (s, False) for k, (s, _) in costs.items()}
    assert _encoded(again) == _encoded(tables)


@pytest.mark.parametrize("dropped", STAGES)
def test_a_stage_recomputed_alone_gives_the_same_tables(cold, tiny_experiment, dropped):
    """The dose-response recomputed with the text stage read back fits the text stage's
    consumers again (``twobytwo.fit_seed``): the same curve as when they were handed over."""
    cfg, _, _, ctx, run = tiny_experiment
    store, tables, _ = cold
    partial = DictStore()
    partial.values = {k: v for k, v in store.values.items() if k[0] != dropped}
    again, costs = experiment.stage_tables(cfg, ctx, [run], store=partial)
    assert partial.computed == [dropped]
    assert [k for k, (_, new) in costs.items() if new] == [
        label for label, name in zip(costs, STAGES, strict=True) if name == dropped
    ]
    assert _encoded(again) == _encoded(tables)


def test_the_dose_is_keyed_on_what_it_reads_from_the_text_stage(cold):
    store, _, _ = cold
    (inputs,) = [json.loads(k[1]) for k in store.values if k[0] == "05_dose"]
    assert set(inputs) == {"kind", "strengths"} and inputs["strengths"]
