#!/usr/bin/env python
"""The GPU benchmark, prepared for the day a device is lent: SAM ViT-H and SAM 2.1 Hiera-L at
their real size (random weights, built by the real ``segment_anything`` / ``sam2`` packages
through the first-party plugins), the full RClicks protocol (baseline + 10 clicking groups ×
20 clicks, ``distance``) on real DAVIS images, engine against the reference's loop structure.

Run from the repository root::

    # on this machine: copy the first 20 DAVIS images (and masks) for the device run
    .venv/bin/python benchmarks/gpu.py --bundle .bench-data
    # on the device (the `device` tool, with carry [".venv", ".bench-data"]):
    RCLICKS_DATA=.bench-data .venv/bin/python benchmarks/gpu.py --json "$OUT/gpu.json"
    # tested here on the CPU at tiny size (shrunk encoders, 2 images, a shorter protocol):
    RCLICKS_DATA=../shared/datasets .venv/bin/python benchmarks/gpu.py --tiny

Per model and precision (fp32; bf16 where the device supports it) it prints and writes:

- ``engine``: ``rclicks.evaluate`` of the protocol — wall time, encode time per image, decode
  time per click (the engine's ``seconds``: one batched decode of all trajectories of a click
  step, divided among them), the toolkit's own time per click (wall − encode − decode, /
  clicks), peak GPU memory;
- ``reference``: the reference's structure on the first instance (every trajectory alone, the
  image encoded again before every click): the baseline and groups 1 and 10 are timed and
  their cost is extrapolated to the full protocol (said so in the output); their clicks and
  IoUs are compared with the engine's;
- ``bf16 vs fp32``: the share of identical clicks and the mean and largest |ΔIoU| per click.

A measurement script, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from reference_loop import reference_trajectory  # noqa: E402

MODELS = ("sam-vit-h", "sam2.1-hiera-l")


class Timed:
    """A model with its encode and decode calls timed (synchronised on CUDA)."""

    def __init__(self, model, sync) -> None:
        self.model = model
        self.sync = sync
        self.threshold = getattr(model, "threshold", 0.5)
        self.encode_s: list[float] = []
        self.decode_s = 0.0

    def encode(self, image):
        t0 = time.perf_counter()
        emb = self.model.encode(image)
        self.sync()
        self.encode_s.append(time.perf_counter() - t0)
        return emb

    def _decode(self, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        self.sync()
        self.decode_s += time.perf_counter() - t0
        return out

    def predict(self, embedding, clicks, state):
        return self._decode(self.model.predict, embedding, clicks, state)

    def predict_batch(self, embedding, clicks, states):
        return self._decode(self.model.predict_batch, embedding, clicks, states)


def build(name: str, tiny: bool, device: str, precision: str):
    """A random-weight model of the real architecture (``tiny``: shrunk, for the CPU test)."""
    if name.startswith("sam-"):
        import rclicks_sam
        from rclicks_sam import model as m

        if tiny:
            return rclicks_sam.make_sam(
                random_weights=True, device=device, precision=precision, image_size=256
            )
        import torch
        from segment_anything import sam_model_registry

        torch.manual_seed(0)
        sam = sam_model_registry["vit_h"]()  # the package's own builder, random init
        dev = m.resolve_device(device)
        return m.SamModel(
            sam, dev, "reference", "reference", 0.5, precision, "sam-random-vit_h", "predictor"
        )
    import rclicks_sam2

    return rclicks_sam2.create_model(
        variant=name,
        random_weights=True,
        tiny=tiny,
        device=device,
        autocast=precision == "bf16",
    )


def run_case(name, precision, args, dataset, device, sync, settings):
    import torch

    import rclicks
    from rclicks.clicks import trajectory_rng
    from rclicks.engine import BASELINE
    from rclicks.simulators import DistanceSimulator

    model = Timed(build(name, args.tiny, device, precision), sync)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = rclicks.evaluate(
            model,
            "distance",
            dataset,
            limit=args.images,
            groups=settings.groups,
            max_clicks=settings.max_clicks,
            out=Path(tmp) / "run",
            device=device,
        )
        wall = time.perf_counter() - t0
        rows = run.per_click.drop(columns=["seconds"])
    encode = sum(model.encode_s)
    clicks = len(rows)
    out = {
        "model": name,
        "precision": precision,
        "images": len(model.encode_s),
        "instances": int(rows.groupby(["sample_id", "instance_id"]).ngroups),
        "clicks": clicks,
        "wall_s": wall,
        "encode_s_per_image": encode / max(1, len(model.encode_s)),
        "decode_ms_per_click": model.decode_s / clicks * 1e3,
        "toolkit_ms_per_click": (wall - encode - model.decode_s) / clicks * 1e3,
        "gpu_peak_gib": (
            torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
        ),
    }
    # the reference's structure on the first instance: baseline, groups 1 and 10
    sample = rclicks.build("datasets", dataset)[0]
    iid, gt = next(iter(sample.instances.items()))
    ref = Timed(model.model, sync)
    sim = DistanceSimulator()
    density = lambda image, gt_mask, err: sim.density(image, gt_mask, err)  # noqa: E731
    label = rows["dataset"].iloc[0]
    t0 = time.perf_counter()
    same = True
    for simulator, group in ((BASELINE, 0), ("distance", 1), ("distance", settings.groups)):
        rng = trajectory_rng(settings.seed, label, sample.sample_id, iid, simulator, group, 1)
        traj = reference_trajectory(
            ref, sample.image, gt, simulator, group, settings, rng, density, model.threshold
        )
        mine = rows[
            (rows["sample_id"] == sample.sample_id)
            & (rows["instance_id"] == iid)
            & (rows["simulator"] == simulator)
            & (rows["group"] == group)
        ].sort_values("click")
        got = list(zip(mine["x"], mine["y"], mine["positive"], mine["iou"]))
        same &= [(int(x), int(y), bool(p)) for x, y, p, _ in got] == [t[:3] for t in traj]
    ref_wall = time.perf_counter() - t0
    per_traj = ref_wall / 3
    trajectories = 1 + settings.groups
    engine_instance = wall / max(1, out["instances"])
    out.update(
        reference_s_per_instance_extrapolated=per_traj * trajectories,
        engine_s_per_instance=engine_instance,
        speedup_extrapolated=per_traj * trajectories / engine_instance,
        reference_same_clicks=bool(same),
    )
    return out, rows


def agreement(a, b) -> dict:
    keys = ["sample_id", "instance_id", "simulator", "group", "click"]
    m = a.merge(b, on=keys, suffixes=("_fp32", "_bf16"))
    same = (
        (m["x_fp32"] == m["x_bf16"])
        & (m["y_fp32"] == m["y_bf16"])
        & (m["positive_fp32"] == m["positive_bf16"])
    )
    d = (m["iou_fp32"] - m["iou_bf16"]).abs()
    return {
        "clicks": int(len(m)),
        "same_clicks": float(same.mean()),
        "mean_abs_diou": float(d.mean()),
        "max_abs_diou": float(d.max()),
    }


def bundle(target: Path, n: int) -> None:
    """The first ``n`` DAVIS images and masks, copied byte for byte in their layout."""
    root = Path(os.environ.get("RCLICKS_DATA", REPO.parent / "shared" / "datasets")) / "DAVIS"
    if not (root / "img").is_dir():
        raise SystemExit(f"no DAVIS at {root} (set RCLICKS_DATA)")
    for sub, ext in (("img", ".jpg"), ("gt", ".png")):
        (target / "DAVIS" / sub).mkdir(parents=True, exist_ok=True)
        for f in sorted((root / sub).glob(f"*{ext}"))[:n]:
            shutil.copyfile(f, target / "DAVIS" / sub / f.name)
    print(f"copied {n} DAVIS images and masks to {target / 'DAVIS'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="shrunk encoders and protocol (CPU)")
    ap.add_argument("--images", type=int, default=None, help="DAVIS images (default 20; 2)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--bundle", type=Path, help="copy the images for a device run, then stop")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    args.images = args.images or (2 if args.tiny else 20)
    if args.bundle:
        bundle(args.bundle, args.images)
        return
    import torch

    from rclicks.engine import ProtocolSettings

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    settings = ProtocolSettings(groups=3, max_clicks=4) if args.tiny else ProtocolSettings()
    precisions = ["fp32"] + (
        ["bf16"] if device == "cuda" and torch.cuda.is_bf16_supported() else []
    )
    info = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "tiny": args.tiny,
        "protocol": {"groups": settings.groups, "max_clicks": settings.max_clicks},
        "cases": [],
        "agreement": {},
    }
    print(f"device: {info['device']}; protocol: baseline + {settings.groups} groups × "
          f"{settings.max_clicks} clicks, distance, {args.images} DAVIS images")  # fmt: skip
    for name in args.models.split(","):
        rows = {}
        for precision in precisions:
            case, rows[precision] = run_case(name, precision, args, "DAVIS", device, sync, settings)
            info["cases"].append(case)
            print(
                f"{name:15s} {precision}: {case['clicks']} clicks in {case['wall_s']:.1f} s; "
                f"encode {case['encode_s_per_image'] * 1e3:.0f} ms/image, decode "
                f"{case['decode_ms_per_click']:.2f} ms/click, toolkit "
                f"{case['toolkit_ms_per_click']:.2f} ms/click, GPU peak "
                f"{case['gpu_peak_gib'] or 0:.2f} GiB; reference structure EXTRAPOLATED "
                f"{case['reference_s_per_instance_extrapolated']:.1f} s vs engine "
                f"{case['engine_s_per_instance']:.1f} s per instance "
                f"(×{case['speedup_extrapolated']:.1f}), same clicks: "
                f"{case['reference_same_clicks']}"
            )
        if "bf16" in rows:
            info["agreement"][name] = agreement(rows["fp32"], rows["bf16"])
            print(f"{name:15s} bf16 vs fp32: {info['agreement'][name]}")
        elif device == "cpu":
            print(f"{name:15s} bf16 vs fp32: not measured (no CUDA device)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
