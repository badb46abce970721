"""Mutation check: one-line bugs in the core science functions, and whether their tests catch them.

    .venv/bin/python benchmarks/mutants.py [--only NAME ...] [--list] [--no-baseline] [--keep]
                                           [--tests NODE ...] [--show]

Each mutant names a file, an exact substring of one of its lines, the replacement and the tests
that should fail with it in place. The working tree's ``hoilib/``, ``tests/`` and
``pyproject.toml`` are copied into a temporary folder (never the working tree: other people
edit it); each mutant is applied to the copy alone, its tests run there with ``pytest -x -q``,
and the file is put back before the next. The copy's tests import the copy's ``hoilib``
(checked: ``hoilib.__file__`` must lie in the copy, or the run stops), not the editable
install. First, unless ``--no-baseline``, the selected mutants' tests run once unmutated: a
test that fails without a bug catches nothing.

Prints one row per mutant (caught / SURVIVED / NOT FOUND, seconds) and exits 1 if any mutant
survives, if an original line is no longer found exactly once (the list has gone stale), or
if the baseline fails. ``--tests`` runs other tests against the chosen mutants (e.g. the suite
before a guard was written, to see the mutant survive it); ``--show`` prints pytest's output.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("hoilib", "tests", "pyproject.toml")
G = "tests/test_guards_models.py"
GO = "tests/test_guards_ordering.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # relative to the repository root
    original: str  # an exact substring of one line of ``file``, found exactly once
    replacement: str
    tests: tuple[str, ...]  # pytest node ids, relative to the repository root
    why: str = ""


MUTANTS = (
    # ---- the nine a reviewer's one-line bugs left alive (issue 32, item 13) -------------------
    Mutant(
        "twobytwo-wrong-order-uses-own-model",
        "hoilib/ordering/twobytwo.py",
        "self.spaces()[diffusion]",
        "self.spaces()[consumer]",
        (f"{GO}::test_the_wrong_order_cell_is_bridged_by_the_other_spaces_model",),
        "(a) every wrong-order cell bridged by the consumer's own diffusion model",
    ),
    Mutant(
        "head-chooses-on-raw-grid",
        "hoilib/ordering/head.py",
        'choice = choose(vg["adapted"], base, cfg.bridge.strength_by)',
        'choice = choose(vg["raw"], base, cfg.bridge.strength_by)',
        (f"{GO}::test_the_heads_strength_is_chosen_on_the_adapted_models_grid",),
        "(b) EZ-HOI's head chooses its strength on the raw-trained grid",
    ),
    Mutant(
        "strength-lambda-forced-one",
        "hoilib/ordering/strength.py",
        "return blend(vision, bridge_at(t), lam)",
        "return blend(vision, bridge_at(t), 1.0)",
        (f"{GO}::test_applied_blends_at_the_chosen_lambda",),
        "(c) lambda forced to 1.0 in applied",
    ),
    Mutant(
        "control-drops-test-conditions",
        "hoilib/ordering/claims.py",
        'passes = val_gain >= margin and test["mean"] >= margin and test["lo"] > 0',
        "passes = val_gain >= margin",
        (f"{GO}::test_the_control_fails_without_a_test_set_gain",),
        "(d) the positive control's test-set conditions dropped",
    ),
    Mutant(
        "judged-no-seed-swap",
        "hoilib/measure/effects.py",
        "with_, against = (up, down) if margin > 0 else (down, up)",
        "with_, against = (up, down)",
        (f"{GO}::test_a_predicted_loss_is_judged_in_the_predicted_direction",),
        "(e) no swap of the seeds for and against when the claim predicts a loss (judged)",
    ),
    Mutant(
        "prompts-offset-wrong-slot",
        "hoilib/models/ezhoi/prompts.py",
        "return ctx + offsets[rows, slot]",
        "return ctx + offsets[rows, 0]",
        (f"{G}::test_a_class_prompt_is_the_shared_prompt_plus_its_related_offsets_slot_by_slot",),
        "(f) class prompt offsets read from the wrong slot",
    ),
    Mutant(
        "capdec-std-is-variance",
        "hoilib/models/gap_closing.py",
        "generator=generator) * variance**0.5",
        "generator=generator) * variance",
        (f"{G}::test_capdec_noise_has_the_configured_std_by_its_effect",),
        "(g) CapDec's noise std set to its variance",
    ),
    Mutant(
        "ddim-eps-sign",
        "hoilib/models/diffusion/bridge.py",
        "eps = (xt.double() - a.sqrt() * x0.double())",
        "eps = (a.sqrt() * x0.double() - xt.double())",
        (f"{G}::test_each_ddim_step_follows_the_formula",),
        "(h) the DDIM step's eps sign flipped",
    ),
    Mutant(
        "ddim-no-renormalisation",
        "hoilib/models/diffusion/bridge.py",
        "xt = SCALE * F.normalize(z, dim=-1)",
        "xt = z",
        (f"{G}::test_each_ddim_step_follows_the_formula",),
        "(i) the DDIM step's renormalisation of x_t dropped",
    ),
    Mutant(
        "control-interval-ignored",
        "hoilib/ordering/claims.py",
        ' and test["lo"] > 0',
        "",
        (f"{GO}::test_the_control_fails_without_a_test_set_gain",),
        "the control passes a test gain whose interval reaches below 0",
    ),
    Mutant(
        "strength-ties-to-strongest",
        "hoilib/ordering/strength.py",
        "best = grid.iloc[int(np.argmax(vals))]",
        "best = grid.iloc[len(vals) - 1 - int(np.argmax(vals[::-1]))]",
        (
            "tests/test_consumer.py::"
            "test_the_choice_is_a_bridge_with_the_best_validation_score_and_ties_go_to_the_weaker",
        ),
        "a tie in validation goes to the stronger bridge",
    ),
    Mutant(
        "consumer-accuracy-ignores-valid-classes",
        "hoilib/ordering/consumers.py",
        'pred = logits.masked_fill(~valid, float("-inf")).argmax(-1)',
        "pred = logits.argmax(-1)",
        (f"{GO}::test_accuracy_chooses_among_the_valid_classes_only",),
        "accuracy picks among every class, not the pair's object's",
    ),
    Mutant(
        "consumer-held-out-by-class",
        "hoilib/ordering/consumers.py",
        "return torch.isin(torch.arange(len(corpus_class)) // n_classes, held)",
        "return torch.isin(torch.arange(len(corpus_class)) % n_classes, held)",
        ("tests/test_consumers.py::test_held_out_rows_are_whole_sentence_sets",),
        "held-out rows are whole classes, not whole sentence sets",
    ),
    # ---- more of the core: metric, zero-shot scoring, order guard, denoisers, gap closing --------
    Mutant(
        "bridge-radius-dropped",
        "hoilib/models/diffusion/model.py",
        "F.normalize(z.float(), dim=-1) * radius + text_mean",
        "F.normalize(z.float(), dim=-1) + text_mean",
        (f"{G}::test_a_bridge_lands_where_the_written_out_path_does",),
        "back to the text sphere without the text set's radius",
    ),
    Mutant(
        "order-guard-never-fires",
        "hoilib/models/diffusion/bridge.py",
        "if diff.fingerprint != space_fingerprint and not allow_mismatch:",
        "if diff.fingerprint is None and not allow_mismatch:",
        (f"{GO}::test_the_order_guard_refuses_a_mismatch",),
        "check_order lets any mismatch through",
    ),
    Mutant(
        "ap-no-interpolation",
        "hoilib/measure/metric.py",
        "prec_suffix_max = np.maximum.accumulate(precision[::-1])[::-1]",
        "prec_suffix_max = precision",
        ("tests/test_metric.py",),
        "AP reads the precision at the threshold's rank, not the max at recall >= t",
    ),
    Mutant(
        "ap-threshold-side",
        "hoilib/measure/metric.py",
        'first = np.searchsorted(recall, grid, side="left")',
        'first = np.searchsorted(recall, grid, side="right")',
        ("tests/test_metric.py",),
        "a recall exactly on a threshold does not reach it",
    ),
    Mutant(
        "ap-grid-k10",
        "hoilib/measure/metric.py",
        "grid = _grid(recall_grid)",
        'grid = _grid("k/10")',
        ("tests/test_metric.py",),
        "the exact-tenths grid instead of eval_hico.m's 0:0.1:1",
    ),
    Mutant(
        "metric-non-rare-mask",
        "hoilib/measure/metric.py",
        "non_rare=None if rare is None else _masked_mean(ap, ~rare)",
        "non_rare=None if rare is None else _masked_mean(ap, rare)",
        ("tests/test_metric.py",),
        "non-rare mean over the rare classes",
    ),
    Mutant(
        "metric-unseen-mask",
        "hoilib/measure/metric.py",
        "unseen=None if unseen is None else _masked_mean(ap, unseen)",
        "unseen=None if unseen is None else _masked_mean(ap, ~unseen)",
        ("tests/test_metric.py",),
        "unseen mean over the seen classes",
    ),
    Mutant(
        "metric-no-gt-counts-zero",
        "hoilib/measure/metric.py",
        "vals = ap[mask & ~np.isnan(ap)]",
        "vals = np.nan_to_num(ap[mask])",
        ("tests/test_metric.py",),
        "classes without GT enter the means as AP 0",
    ),
    Mutant(
        "match-iou-strict",
        "hoilib/measure/metric.py",
        "keep = ov[cand[first]] >= iou_threshold",
        "keep = ov[cand[first]] > iou_threshold",
        ("tests/test_metric.py",),
        "an overlap of exactly 0.5 is not a match",
    ),
    Mutant(
        "zeroshot-softmax-over-all-classes",
        "hoilib/measure/zeroshot.py",
        'probs = torch.softmax((logit_scale * cos).masked_fill(~mask, float("-inf")), dim=-1)',
        "probs = torch.softmax(logit_scale * cos, dim=-1)",
        ("tests/test_zeroshot.py::test_scores_only_classes_of_the_pair_object",),
        "a pair's softmax runs over every class, not its object's",
    ),
    Mutant(
        "closed-form-temperature",
        "hoilib/models/diffusion/closed_form.py",
        "- a * c_sq[cs : cs + corpus_chunk]) / (2 * var)",
        "- a * c_sq[cs : cs + corpus_chunk]) / var",
        ("tests/test_closed_form.py",),
        "the posterior's softmax at half the forward variance",
    ),
    Mutant(
        "mean-center-skips-normalise",
        "hoilib/models/gap_closing.py",
        "return F.normalize(F.normalize(x.float(), dim=-1) - m, dim=-1)",
        "return F.normalize(x.float() - m, dim=-1)",
        ("tests/test_gap_closing.py",),
        "mean-centering subtracts the mean of unit rows from rows not made unit",
    ),
    Mutant(
        "procrustes-transposed",
        "hoilib/models/gap_closing.py",
        "return (u @ vh).to(x.dtype)",
        "return (u @ vh).T.to(x.dtype)",
        ("tests/test_gap_closing.py",),
        "the inverse rotation",
    ),
    Mutant(
        "decap-temperature-inverted",
        "hoilib/models/gap_closing.py",
        "w = torch.softmax(v @ mem.T / temperature, dim=-1)",
        "w = torch.softmax(v @ mem.T * temperature, dim=-1)",
        ("tests/test_gap_closing.py",),
        "DeCap's softmax multiplied by its temperature",
    ),
)


def _copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)


def _pytest(copy: Path, tests: list[str], timeout: float) -> tuple[int, str]:
    """Run pytest in ``copy`` with the copy's hoilib first on sys.path (checked before any test)."""
    boot = (
        "import sys; sys.path.insert(0, sys.argv[1]); import hoilib, pathlib; "
        "f = pathlib.Path(hoilib.__file__).resolve(); "
        "assert pathlib.Path(sys.argv[1]).resolve() in f.parents, f'hoilib from {f}'; "
        "import pytest; sys.exit(pytest.main(sys.argv[2:]))"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(copy)}
    args = ["-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
    try:
        p = subprocess.run(
            [sys.executable, "-c", boot, str(copy), *args],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return -1, "timed out"
    return p.returncode, p.stdout + p.stderr


def _apply(copy: Path, m: Mutant) -> str | None:
    """Apply ``m`` to the copy; returns the original text to restore, or None if not found once."""
    path = copy / m.file
    if not path.is_file():
        return None
    text = path.read_text()
    if text.count(m.original) != 1:
        return None
    path.write_text(text.replace(m.original, m.replacement))
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", nargs="+", default=None, help="run these mutants only (names)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per pytest run")
    ap.add_argument(
        "--tests", nargs="+", default=None, help="run these tests instead of each mutant's own"
    )
    ap.add_argument("--show", action="store_true", help="print the end of each pytest output")
    args = ap.parse_args(argv)
    names = [m.name for m in MUTANTS]
    if len(set(names)) != len(names):
        raise SystemExit("mutant names must be unique")
    chosen = list(MUTANTS)
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            raise SystemExit(f"unknown mutant(s) {unknown}; see --list")
        chosen = [m for m in MUTANTS if m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name:40s} {m.file}  {m.why}")
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="hoi-mutants-"))
    copy = tmp / "repo"
    copy.mkdir()
    _copy_tree(copy)
    print(f"copy of the working tree: {copy}", flush=True)
    bad = False
    try:
        if not args.no_baseline:
            tests = args.tests or sorted({t for m in chosen for t in m.tests})
            t0 = time.perf_counter()
            rc, out = _pytest(copy, tests, args.timeout * 2)
            print(
                f"baseline (no mutant, {len(tests)} selections): rc {rc}, "
                f"{time.perf_counter() - t0:.1f} s",
                flush=True,
            )
            if rc != 0:
                print(out[-3000:])
                print("the baseline fails: fix the tests or the list before reading any mutant")
                return 1
        rows = []
        for m in chosen:
            t0 = time.perf_counter()
            original = _apply(copy, m)
            if original is None:
                rows.append((m.name, "NOT FOUND", 0.0))
                bad = True
            else:
                try:
                    rc, out = _pytest(copy, args.tests or list(m.tests), args.timeout)
                finally:
                    (copy / m.file).write_text(original)
                # a test failure (1) catches it; a usage or collection error (2-5) or a
                # timeout is reported as such, not as a catch
                verdict = {0: "SURVIVED", 1: "caught"}.get(rc, f"error rc={rc}")
                if rc != 1:
                    bad = True
                if rc not in (0, 1) or args.show:
                    print(out[-2000:])
                rows.append((m.name, verdict, time.perf_counter() - t0))
            print(f"{rows[-1][0]:40s} {rows[-1][1]:10s} {rows[-1][2]:7.1f} s", flush=True)
        print()
        print(f"{'mutant':40s} {'verdict':10s} {'seconds':>9s}")
        for name, verdict, sec in rows:
            print(f"{name:40s} {verdict:10s} {sec:9.1f}")
        caught = sum(v == "caught" for _, v, _ in rows)
        print(f"\n{caught} of {len(rows)} caught")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
