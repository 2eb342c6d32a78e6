"""Check the weightless geodesic model on the bundled demo dataset.

For every demo instance, run N clicks (default 20) starting from an empty prediction: the
baseline robot clicks the deepest point of the larger error; ``--mode random`` instead draws
each click uniformly inside the error region of the side the baseline rule picks. Prints
per-instance NoC@85 / NoC@90 and final IoU, the share of instances reaching IoU 0.85 / 0.90,
and the median encode / predict times.

Usage: ``python scripts/check_demo_model.py [--mode baseline|random|both] [--opt key=value ...]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rclicks.clicks import baseline_click, density_click  # noqa: E402
from rclicks.models.geodesic import make_model  # noqa: E402
from rclicks.types import Click  # noqa: E402

DEMO = ROOT / "rclicks" / "demo_data"


def load_demo(root: Path = DEMO):
    manifest = json.loads((root / "manifest.json").read_text())
    for entry in manifest["samples"]:
        image = np.asarray(Image.open(root / entry["image"]).convert("RGB"))
        labels = np.asarray(Image.open(root / entry["mask"]))
        yield entry["stem"], image, {k: labels == k for k in entry["instance_ids"]}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def noc(ious: list[float], thr: float, n_clicks: int) -> int:
    for i, v in enumerate(ious):
        if v >= thr:
            return i + 1
    return n_clicks


def run_trajectory(model, emb, gt, n_clicks, mode, rng, predict_times):
    clicks: list[Click] = []
    state = None
    pred = np.zeros(gt.shape, dtype=bool)
    ious: list[float] = []
    uniform = np.ones(gt.shape, dtype=np.float32)
    for _ in range(n_clicks):
        if mode == "baseline":
            click = baseline_click(gt, pred, clicks)
        else:
            click, _ = density_click(uniform, gt, pred, clicks, rng)
        clicks.append(click)
        t = time.perf_counter()
        prob, state = model.predict(emb, clicks, state)
        predict_times.append(time.perf_counter() - t)
        pred = prob > model.threshold
        ious.append(iou(pred, gt))
    return ious


def evaluate(model, mode: str, n_clicks: int, seed: int, verbose: bool) -> dict:
    rng = np.random.default_rng(seed)
    enc_t: list[float] = []
    pred_t: list[float] = []
    rows = []
    for stem, image, instances in load_demo():
        t = time.perf_counter()
        emb = model.encode(image)
        enc_t.append(time.perf_counter() - t)
        for k, gt in instances.items():
            ious = run_trajectory(model, emb, gt, n_clicks, mode, rng, pred_t)
            row = {
                "instance": f"{stem}/{k}",
                "area": int(gt.sum()),
                "noc85": noc(ious, 0.85, n_clicks),
                "noc90": noc(ious, 0.90, n_clicks),
                "reached85": max(ious) >= 0.85,
                "reached90": max(ious) >= 0.90,
                "iou1": ious[0],
                "final": ious[-1],
            }
            rows.append(row)
            if verbose:
                print(
                    f"  {row['instance']:<12} area {row['area']:>6}  IoU@1 {row['iou1']:.3f}  "
                    f"NoC@85 {row['noc85']:>2}  NoC@90 {row['noc90']:>2}  "
                    f"final IoU {row['final']:.3f}"
                )
    n = len(rows)
    summary = {
        "mode": mode,
        "instances": n,
        "share85": sum(r["reached85"] for r in rows) / n,
        "share90": sum(r["reached90"] for r in rows) / n,
        "mean_noc85": float(np.mean([r["noc85"] for r in rows])),
        "mean_noc90": float(np.mean([r["noc90"] for r in rows])),
        "mean_iou1": float(np.mean([r["iou1"] for r in rows])),
        "mean_final": float(np.mean([r["final"] for r in rows])),
        "min_final": float(min(r["final"] for r in rows)),
        "encode_ms": 1000 * statistics.median(enc_t),
        "predict_ms": 1000 * statistics.median(pred_t),
        "predict_p95_ms": 1000 * float(np.percentile(pred_t, 95)),
    }
    return summary


def parse_opts(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--opt expects key=value, got {item!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["baseline", "random", "both"], default="both")
    ap.add_argument("--clicks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opt", action="append", default=[], help="model option key=value")
    ap.add_argument("--quiet", action="store_true", help="summary only")
    ap.add_argument("--strict", action="store_true", help="exit 1 if the baseline targets fail")
    args = ap.parse_args(argv)
    model = make_model(**parse_opts(args.opt))
    modes = ["baseline", "random"] if args.mode == "both" else [args.mode]
    ok = True
    for mode in modes:
        print(f"== {mode} clicks ({args.clicks} per instance)")
        s = evaluate(model, mode, args.clicks, args.seed, not args.quiet)
        print(
            f"  instances {s['instances']}  reached IoU>=0.85: {100 * s['share85']:.1f}%  "
            f"reached IoU>=0.90: {100 * s['share90']:.1f}%\n"
            f"  mean NoC@85 {s['mean_noc85']:.2f}  mean NoC@90 {s['mean_noc90']:.2f}  "
            f"mean IoU@1 {s['mean_iou1']:.3f}  mean final IoU {s['mean_final']:.3f}  "
            f"min final IoU {s['min_final']:.3f}\n"
            f"  median encode {s['encode_ms']:.1f} ms  median predict {s['predict_ms']:.2f} ms  "
            f"(p95 {s['predict_p95_ms']:.2f} ms)"
        )
        if mode == "baseline" and s["share85"] < 0.85:
            ok = False
    if args.strict and not ok:
        print("FAIL: fewer than 85% of instances reach IoU 0.85 with baseline clicks")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
