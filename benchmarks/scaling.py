"""Benchmark: how the heavy stages grow, fitted and extrapolated to HICO-DET's sizes, on a CPU or a GPU.

    .venv/bin/python benchmarks/scaling.py [--device cpu|cuda|auto] [--budget SECONDS] [--quick]
                                           [--repeats 3] [--out scaling.json]
    python -W ignore benchmarks/scaling.py --device cuda --budget 120 --out scaling-gpu.json

Each stage (``benchmarks/scaling_stages.py``) is timed at three or more sizes on synthetic inputs
of the ``hico-det`` profile's shapes, on ``--device`` (CUDA is synchronised before every clock
reading), the growth exponent fitted on log time against log size, and the time at HICO-DET's size
taken from the measured row when the largest measured size reaches it ("measured"), else
extrapolated from the largest measured size with that exponent (the table says from where):

* the closed-form denoiser (float64), against the corpus (HICO-DET: 53 sentences x 600 classes =
  31,800 vectors) and against the queries (its test set: about 33,000 pairs);
* the DDIM bridge through the MLP denoiser (512-d, hidden 1024, 4 blocks), 5 steps, over vectors;
* diffusion training at batch 64, against steps (the profile trains 100,000);
* UMAP of n points (128-d): umap-learn has no GPU path, so it runs on the CPU whatever --device;
* one EZ-HOI training step with ViT-B-16 (random init) against the classes (117, 300, 600 on CUDA;
  tiny sizes with --quick on a CPU, where ViT-B-16 at these sizes is too slow to time otherwise),
  extrapolated to an epoch of HICO-DET (38,118 training images at the profile's batch) and to the
  profile's epochs.

On CUDA the sizes reach HICO-DET's, so most values are measured. Each row has the process's peak
RSS (a high-water mark) and, on CUDA, the peak GPU memory of that size. ``--budget`` stops starting
sizes (recorded as skipped) once the wall time since start is spent, a size's predicted time
would overrun it, or a stage would start in the budget's last tenth. The JSON is rewritten after
every stage. Not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scaling_stages as st  # noqa: E402

from hoilib.machine import cpu_model  # noqa: E402


class Clock:
    """Wall time since start against ``--budget``: whether a size may start."""

    def __init__(self, budget: float | None):
        self.t0, self.budget = time.perf_counter(), budget

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def refuse(self, n: int, done: list[dict]) -> str | None:
        if self.budget is None:
            return None
        left = self.budget - self.elapsed()
        if left <= 0:
            return f"budget of {self.budget:g} s spent"
        if not done and left < self.budget / 10:
            # a stage's first size (warm-up, a model to build) has no prediction: keep a tenth
            return f"{left:.0f} s left of the {self.budget:g} s budget, under a tenth"
        if done:
            # the last size's whole wall time (warm-up included), grown at least linearly
            k = min(max(fit_exponent(done) or 1.0, 1.0), 3.0)
            guess = done[-1]["wall_s"] * (n / done[-1]["size"]) ** k
            if guess > left:
                return (
                    f"predicted {guess:.0f} s > {left:.0f} s left of the {self.budget:g} s budget"
                )
        return None


def fit_exponent(rows: list[dict]) -> float | None:
    if len(rows) < 2:
        return None
    x = np.log([r["size"] for r in rows])
    y = np.log([max(r["seconds"], 1e-6) for r in rows])
    return float(np.polyfit(x, y, 1)[0])


def at_hico(rows: list[dict], target: int) -> dict:
    """The time at HICO-DET's size: measured when a measured size reaches it, else extrapolated."""
    k = fit_exponent(rows)
    out = {"exponent": None if k is None else round(k, 2), "hico_size": target}
    reach = [r for r in rows if r["size"] >= target]
    if reach:
        r = min(reach, key=lambda r: r["size"])
        if r["size"] == target or k is None:
            return out | {"hico_seconds": r["seconds"], "hico_basis": f"measured at {r['size']:,}"}
        est, basis = r["seconds"] * (target / r["size"]) ** k, f"measured up to {r['size']:,}"
        return out | {"hico_seconds": round(est, 4), "hico_basis": f"{basis}, exponent {k:.2f}"}
    if k is None:
        return out | {"hico_seconds": None, "hico_basis": "not estimated: under two sizes ran"}
    last = rows[-1]
    est = last["seconds"] * (target / last["size"]) ** k
    basis = f"extrapolated from {last['size']:,} with exponent {k:.2f}"
    return out | {"hico_seconds": round(est, 2), "hico_basis": basis}


def run_stage(name, unit, ns, measure, target, device, clock, statistic) -> dict:
    """Time ``measure(n)`` for each n in ``ns`` within the budget; rows, exponent and HICO value."""
    print(f"[{clock.elapsed():5.0f} s] {name} on {device}: {unit} {ns}", flush=True)
    rows, done, failed = [], [], False
    for n in ns:
        why = "skipped after an error at a smaller size" if failed else clock.refuse(n, done)
        if why:
            rows.append({"size": n, "skipped": why})
            print(f"  {unit} {n:,}: skipped ({why})", flush=True)
            continue
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            row = {"size": n, "seconds": round(measure(n), 4)}
        except Exception as e:  # noqa: BLE001 -- one size's failure must not lose the run
            traceback.print_exc()
            rows.append({"size": n, "error": f"{type(e).__name__}: {e}"[:300]})
            failed = True
            continue
        row["wall_s"] = round(time.perf_counter() - t0, 2)
        row["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if device == "cuda":
            row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
        rows.append(row)
        done.append(row)
        gpu = f", peak GPU {row['peak_gpu_mib']:,} MiB" if "peak_gpu_mib" in row else ""
        print(f"  {unit} {n:,}: {row['seconds']:.4f} s (wall {row['wall_s']} s{gpu})", flush=True)
    head = {"stage": name, "unit": unit, "device": device, "statistic": statistic, "rows": rows}
    return head | at_hico(done, target)


def table(stages: list[dict], hico: dict) -> str:
    lines = [
        "| stage | device | grows with | exponent | measured (largest) | peak GPU | at HICO-DET's size |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in stages:
        done = [r for r in s["rows"] if "seconds" in r]
        last = f"{done[-1]['seconds']:.4g} s at {done[-1]['size']:,}" if done else "none"
        gpu = max((r.get("peak_gpu_mib", 0) for r in done), default=0)
        hs = "-" if s["hico_seconds"] is None else f"{s['hico_seconds']:,.4g} s"
        lines.append(
            f"| {s['stage']} | {s['device']} | {s['unit']} | {s['exponent']} | {last} | "
            f"{f'{gpu:,} MiB' if gpu else '-'} | {hs} at {s['hico_size']:,} ({s['hico_basis']}) |"
        )
    for s in stages:
        if s.get("hico_training_seconds") is not None:
            lines.append(
                f"\nEZ-HOI at HICO-DET: {s['hico_seconds']:.4g} s/step x {s['steps_per_epoch']:,} "
                f"steps ({hico['train images']:,} images / {s['images']} per step)"
                f" = {s['hico_epoch_seconds']:,.0f} s per epoch; x {hico['ezhoi epochs']} epochs "
                f"= {s['hico_training_seconds'] / 3600:,.2f} h per model ({hico['ezhoi seeds']} "
                f"seeds in the profile); {s['hico_basis']}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a check that it runs)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    ap.add_argument("--budget", type=float, default=None, help="wall seconds for the whole run")
    ap.add_argument("--ezhoi-images", type=int, default=None, help="default: the profile's batch")
    ap.add_argument("--ezhoi-pairs", type=int, default=None, help="pairs per image (CUDA: 8)")
    a = ap.parse_args(argv)
    clock = Clock(a.budget)
    cuda = torch.cuda.is_available()
    if a.device == "cuda" and not cuda:
        msg = f"scaling.py: --device cuda, but torch {torch.__version__} sees no CUDA device"
        print(msg, file=sys.stderr)
        return 1
    dev = "cuda" if a.device == "cuda" or (a.device == "auto" and cuda) else "cpu"
    hico, ns = st.hico_sizes(), st.sizes(dev, a.quick)
    images = a.ezhoi_images or (2 if dev == "cpu" else hico["ezhoi batch images"])
    pairs = a.ezhoi_pairs or (4 if dev == "cpu" else 8)
    record = {
        "machine": {
            "cpu": cpu_model(),
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name(0) if dev == "cuda" else None,
        },
        "torch": torch.__version__,
        "device": dev,
        "quick": a.quick,
        "budget_s": a.budget,
        "hico": hico,
        "stages": [],
    }
    print(f"device {dev}" + (f" ({record['machine']['gpu']})" if dev == "cuda" else ""), flush=True)
    best = f"best of {a.repeats} after a warm-up"
    qc = ns["queries corpus"][0]
    diff = st.mlp(dev)
    plan = [
        ("closed-form denoiser (float64), 1,024 queries", "corpus vectors", ns["corpus"],
         lambda: st.timed(lambda n: st.closed_form(n, 1024, dev), dev, a.repeats), hico["corpus"],
         dev, best),
        (f"closed-form denoiser (float64), {qc:,}-vector corpus", "queries", ns["queries"],
         lambda: st.timed(lambda q: st.closed_form(qc, q, dev), dev, a.repeats), hico["test pairs"],
         dev, best),
        ("DDIM bridge through the MLP (512-d, 5 steps)", "vectors", ns["bridge"],
         lambda: st.timed(lambda n: st.bridge_call(n, diff), dev, a.repeats), hico["test pairs"],
         dev, best),
        ("diffusion training (512-d, hidden 1024, batch 64)", "steps", ns["train"],
         lambda: st.timed(lambda n: st.train_steps(n, dev), dev, 1, warm_each=False),
         hico["diffusion steps"], dev, "once, after a warm-up at the first size"),
        (f"EZ-HOI training step (ViT-B-16, {images} images x {pairs} pairs)", "classes",
         ns["ezhoi"], lambda: st.ezhoi_step(dev, images, pairs, a.repeats), hico["classes"], dev,
         f"median of {a.repeats} steps after a warm-up step (benchmarks/vit_b16.py)"),
        ("UMAP (128-d, 200 epochs; CPU only)", "points", ns["umap"],
         lambda: st.timed(st.umap_points, "cpu", 1, warm_each=False), hico["umap points"], "cpu",
         "once, after a warm-up at the first size"),
    ]  # fmt: skip
    failed = False
    for name, unit, sizes_, build, target, where, stat in plan:
        if not sizes_:
            why = "a ViT-B-16 EZ-HOI step takes minutes at 117-600 classes on a CPU (--quick: tiny)"
            print(f"[{clock.elapsed():5.0f} s] {name}: skipped on the CPU ({why})", flush=True)
            record["stages"].append({"stage": name, "device": where, "skipped": why})
            continue
        if clock.refuse(sizes_[0], []):
            rows = [{"size": n, "skipped": clock.refuse(n, [])} for n in sizes_]
            s = {"stage": name, "unit": unit, "device": where, "statistic": stat, "rows": rows}
            record["stages"].append(s | at_hico([], target))
            print(f"[{clock.elapsed():5.0f} s] {name}: skipped ({rows[0]['skipped']})", flush=True)
            continue
        try:
            s = run_stage(name, unit, sizes_, build(), target, where, clock, stat)
        except Exception as e:  # noqa: BLE001 -- a stage that cannot start must not lose the others
            traceback.print_exc()
            s, failed = {"stage": name, "device": where, "error": f"{type(e).__name__}: {e}"}, True
        failed |= any("error" in r for r in s.get("rows", []))
        if unit == "classes" and s.get("hico_seconds") is not None:
            steps = math.ceil(hico["train images"] / images)
            epoch = s["hico_seconds"] * steps
            s |= {"images": images, "pairs": pairs, "steps_per_epoch": steps}
            s["hico_epoch_seconds"] = round(epoch, 1)
            s["hico_training_seconds"] = round(epoch * hico["ezhoi epochs"], 1)
        record["stages"].append(s)
        if a.out:
            Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    record["wall_s"] = round(clock.elapsed(), 1)
    print("\n" + table([s for s in record["stages"] if "rows" in s], hico), flush=True)
    for s in record["stages"]:
        if "rows" not in s:
            print(f"{s['stage']}: {s.get('error') or s.get('skipped')}", flush=True)
    print(f"\nwall time {record['wall_s']} s", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
