#!/usr/bin/env python
"""Benchmark of the SAM plugin (``plugins/rclicks-sam``) under the full RClicks protocol.

Run from the repository root (the plugin installed: ``pip install -e plugins/rclicks-sam``)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sam.py            # ~4 min on 2 cores
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sam.py --quick    # < 1 min

A measurement script, not a test: it prints times, ratios and peak memory, asserts nothing.

One synthetic 480×640 image, one instance, the full protocol: baseline + 10 clicking groups ×
20 clicks (``distance`` simulator), with a random-weight SAM (seeded) of the real input size
1024 (so the mask decoder, the 256×256 low-res logits and the upscaling cost what they cost
with real weights) but a 2-block, 64-wide image encoder (so the run fits in minutes; a real
ViT-B/L/H encoder costs 10-100× more, which only widens the gap below). Two ways:

- engine: ``rclicks.engine.process_sample``: one ``encode``, then one ``predict_batch`` per
  click index over the 11 trajectories;
- reference-style: as RClicks' ``is_sam_model.py`` runs it: trajectories one after another,
  and for every click the image encoded again and that trajectory decoded alone.

Each way runs in its own child process, so its peak memory (``ru_maxrss``; tracemalloc for
the Python/numpy side) is its own. The clicks of both are compared (same random generators).

Finally (not with ``--quick``) one encode of a real-size ViT-B (segment_anything's own builder,
random weights) is timed, and both measured runs are extrapolated to that encoder by swapping
the per-call encode time; the output labels this line EXTRAPOLATED.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")


DATASET = "bench"


def _settings(quick: bool) -> dict:
    if quick:
        return {"shape": (240, 320), "image_size": 512, "groups": 3, "max_clicks": 10}
    return {"shape": (480, 640), "image_size": 1024, "groups": 10, "max_clicks": 20}


def _setup(args):
    import torch
    from rclicks_sam import make_sam

    from rclicks.engine import ProtocolSettings
    from rclicks.testing import TinyDataset
    from rclicks.types import Sample

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    s = _settings(args.quick)
    full = TinyDataset(n=1, size=s["shape"], seed=3)[0]
    iid, gt = next(iter(full.instances.items()))
    sample = Sample(full.sample_id, full.image, {iid: gt})
    model = make_sam(
        variant="vit_b",
        random_weights=True,
        device="cpu",
        image_size=s["image_size"],
        encoder_depth=args.depth,
        encoder_embed_dim=args.embed_dim,
    )
    from rclicks import Click

    model.predict(model.encode(sample.image), [Click(1, 1, True)], None)  # warm-up
    return model, sample, iid, ProtocolSettings(groups=s["groups"], max_clicks=s["max_clicks"])


class Timed:
    """Wraps the model and records the time of every encode / decode call."""

    def __init__(self, model):
        self.model = model
        self.threshold = model.threshold
        self.encodes: list[float] = []
        self.decodes: list[tuple[float, int]] = []  # (seconds, trajectories)

    def encode(self, image):
        t0 = time.perf_counter()
        out = self.model.encode(image)
        self.encodes.append(time.perf_counter() - t0)
        return out

    def predict(self, embedding, clicks, state):
        t0 = time.perf_counter()
        out = self.model.predict(embedding, clicks, state)
        self.decodes.append((time.perf_counter() - t0, 1))
        return out

    def predict_batch(self, embedding, clicks, states):
        t0 = time.perf_counter()
        out = self.model.predict_batch(embedding, clicks, states)
        self.decodes.append((time.perf_counter() - t0, len(clicks)))
        return out


def run_engine(args) -> dict:
    from rclicks.engine import process_sample
    from rclicks.runs import RunFolder
    from rclicks.simulators import DistanceSimulator

    model, sample, iid, protocol = _setup(args)
    timed = Timed(model)
    tracemalloc.start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = RunFolder(tmp)
        folder.prepare()
        t0 = time.perf_counter()
        out = process_sample(
            timed, {"distance": DistanceSimulator()}, protocol, folder, DATASET, sample
        )
        wall = time.perf_counter() - t0
        rows = [r for t in folder.journal_tables() for r in t.to_pylist()]
    traj = {}
    for r in sorted(rows, key=lambda r: (r["simulator"], r["group"], r["click"])):
        traj.setdefault(f"{r['simulator']}/{r['group']}", []).append(
            [r["x"], r["y"], r["positive"], r["iou"]]
        )
    return _result("engine", wall, timed, traj, extra={"errors": out.errors})


def run_reference(args) -> dict:
    from reference_loop import reference_trajectory

    from rclicks import engine
    from rclicks.clicks import trajectory_rng
    from rclicks.simulators import DistanceSimulator

    model, sample, iid, protocol = _setup(args)
    timed = Timed(model)
    sim = DistanceSimulator()
    gt = sample.instances[iid]
    specs = [(engine.BASELINE, 0)] + [("distance", g) for g in range(1, protocol.groups + 1)]
    tracemalloc.start()
    t0 = time.perf_counter()
    traj = {}
    for simulator, group in specs:
        rng = trajectory_rng(protocol.seed, DATASET, sample.sample_id, iid, simulator, group, 1)
        out = reference_trajectory(
            timed, sample.image, gt, simulator, group, protocol, rng, sim.density, model.threshold
        )
        traj[f"{simulator}/{group}"] = [list(c) for c in out]
    wall = time.perf_counter() - t0
    return _result("reference", wall, timed, traj)


def _result(name, wall, timed, traj, extra=None) -> dict:
    _, py_peak = tracemalloc.get_traced_memory()
    per_traj_decode = [s / n for s, n in timed.decodes]
    return {
        "name": name,
        "wall": wall,
        "encodes": len(timed.encodes),
        "encode_s": sum(timed.encodes),
        "decode_calls": len(timed.decodes),
        "decode_s": sum(s for s, _ in timed.decodes),
        "decode_call_median": statistics.median(s for s, _ in timed.decodes),
        "decode_per_traj_median": statistics.median(per_traj_decode),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "py_peak_mib": py_peak / 2**20,
        "traj": traj,
        **(extra or {}),
    }


def _child(phase: str, args) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase]
    cmd += ["--depth", str(args.depth), "--embed-dim", str(args.embed_dim)]
    cmd += ["--quick"] if args.quick else []
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{phase} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="240×320, S=512, 3 groups × 10 clicks")
    ap.add_argument("--depth", type=int, default=2, help="encoder blocks (default 2)")
    ap.add_argument("--embed-dim", type=int, default=64, help="encoder width (default 64)")
    ap.add_argument(
        "--no-vit-b-probe",
        action="store_true",
        help="skip timing one encode of a real-size (random-weight) ViT-B",
    )
    ap.add_argument("--phase", choices=["engine", "reference", "probe"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        fn = {"engine": run_engine, "reference": run_reference, "probe": run_probe}[args.phase]
        print(json.dumps(fn(args)))
        return
    s = _settings(args.quick)
    h, w = s["shape"]
    print(
        f"SAM plugin benchmark: one {h}×{w} image, one instance, baseline + {s['groups']} groups "
        f"× {s['max_clicks']} clicks (distance simulator); random-weight SAM, input "
        f"{s['image_size']}, encoder {args.depth} blocks × {args.embed_dim} wide; "
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    )
    results = {}
    for phase in ("engine", "reference"):
        t0 = time.perf_counter()
        results[phase] = _child(phase, args)
        print(f"  {phase} done in {time.perf_counter() - t0:.1f} s (incl. start-up)", flush=True)
    e, r = results["engine"], results["reference"]
    print()
    print(f"{'':28}{'engine':>14}{'reference-style':>18}")
    rows = [
        ("wall time, s", "wall", "{:.2f}"),
        ("encode calls", "encodes", "{:d}"),
        ("encode time, s", "encode_s", "{:.2f}"),
        ("decode calls", "decode_calls", "{:d}"),
        ("decode time, s", "decode_s", "{:.2f}"),
        ("decode call median, ms", "decode_call_median", "{:.1f}"),
        ("decode/trajectory med., ms", "decode_per_traj_median", "{:.1f}"),
        ("peak RSS, MiB", "maxrss_mib", "{:.0f}"),
        ("peak Python/numpy, MiB", "py_peak_mib", "{:.1f}"),
    ]
    for label, key, fmt in rows:
        ev, rv = e[key], r[key]
        if key in ("decode_call_median", "decode_per_traj_median"):
            ev, rv = ev * 1000, rv * 1000
        print(f"{label:28}{fmt.format(ev):>14}{fmt.format(rv):>18}")
    clicks = sum(len(v) for v in e["traj"].values())
    print()
    print(f"speed-up (reference-style wall / engine wall): {r['wall'] / e['wall']:.1f}×")
    print(
        f"per click (all {clicks} clicks): engine {1000 * e['wall'] / clicks:.1f} ms, "
        f"reference-style {1000 * r['wall'] / clicks:.1f} ms"
    )
    same_clicks = sum(
        a[:3] == b[:3] for k in e["traj"] for a, b in zip(e["traj"][k], r["traj"].get(k, []))
    )
    max_diou = max(
        abs(a[3] - b[3]) for k in e["traj"] for a, b in zip(e["traj"][k], r["traj"].get(k, []))
    )
    print(
        f"identical clicks: {same_clicks}/{clicks}; max |IoU difference| {max_diou:.2e} "
        "(batched vs single decoding differ by float rounding only)"
    )
    if args.no_vit_b_probe or args.quick:
        return
    t0 = time.perf_counter()
    probe = _child("probe", args)
    print(f"  ViT-B probe done in {time.perf_counter() - t0:.1f} s (incl. start-up)")
    t_b = probe["encode_s"]
    # Only the encoder differs: swap the measured tiny-encoder time for ViT-B's, per call.
    e_wall = e["wall"] - e["encode_s"] + e["encodes"] * t_b
    r_wall = r["wall"] - r["encode_s"] + r["encodes"] * t_b
    print(
        f"real-size ViT-B encoder (random weights, same image, 1 thread): {t_b:.1f} s per encode."
        f"\nEXTRAPOLATED to ViT-B (the measured runs above with each encode call costing "
        f"{t_b:.1f} s): engine {e_wall:.0f} s vs reference-style {r_wall:.0f} s "
        f"-> {r_wall / e_wall:.0f}× (not measured end to end: that reference run would take "
        f"{r_wall / 60:.0f} min)"
    )


def run_probe(args) -> dict:
    """One encode of a full-size ViT-B SAM (segment_anything's own builder, random weights)."""
    import torch
    from rclicks_sam.model import SamModel
    from segment_anything import sam_model_registry

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(0)
    model = SamModel(sam_model_registry["vit_b"](), device="cpu")
    image = _setup_image(args)
    model.encode(image)  # warm-up (allocations)
    t0 = time.perf_counter()
    model.encode(image)
    return {"encode_s": time.perf_counter() - t0}


def _setup_image(args):
    from rclicks.testing import TinyDataset

    s = _settings(args.quick)
    return TinyDataset(n=1, size=s["shape"], seed=3)[0].image


if __name__ == "__main__":
    main()
