"""End to end against the reference evaluation loop (``../shared/fixtures/isegm``, "Trajectory
cases"): RITM HRNet-18 with the deterministic weights, saved as an official
``{"config", "state_dict"}`` checkpoint, run by ``rclicks eval --model ritm --model-opt
checkpoint=...`` on the real GrabCut llama image: the same 20 baseline clicks and the same IoUs."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from fixture_weights import FIXTURES, fixture_state_dict
from PIL import Image
from rclicks.testing import run_rclicks

from rclicks_isegm.checkpoints import HRNET_CLASS

pytestmark = pytest.mark.skipif(
    FIXTURES is None, reason="../shared/fixtures/isegm is not beside this clone (CI has it)"
)

#: the constructor arguments of RITM's hrnet18_cocolvis_itermask_3p config, as stored
HRNET18_PARAMS = {
    "width": 18,
    "ocr_width": 64,
    "with_aux_output": True,
    "use_leaky_relu": True,
    "use_rgb_conv": False,
    "use_disks": True,
    "norm_radius": 5,
    "with_prev_mask": True,
    "norm_layer": "torch.nn.modules.batchnorm.BatchNorm2d",
}


def official_checkpoint(path, cls: str, params: dict, state: dict) -> None:
    """Save ``state`` in the release format (``isegm/utils/misc.py: save_checkpoint``)."""
    config = {
        "class": cls,
        "params": {
            k: {"type": "class" if k == "norm_layer" else "builtin", "value": v, "specified": True}
            for k, v in params.items()
        },
    }
    torch.save({"config": config, "state_dict": state}, path)


def folder_dataset(root, image: np.ndarray, gt: np.ndarray, stem: str) -> None:
    """The image and its object in the generic folder layout (PNG: lossless)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(image).save(root / "images" / f"{stem}.png")
    Image.fromarray((gt == 1).astype(np.uint8)).save(root / "masks" / f"{stem}.png")


def test_ritm_hrnet18_eval_gives_the_reference_trajectory(tmp_path):
    z = np.load(FIXTURES / "ritm_hrnet18" / "traj_grabcut_llama.npz")
    assert (z["gt_i8"] == -1).sum() == 0  # llama has no ignore band
    ckpt = tmp_path / "coco_lvis_h18_itermask.pth"
    official_checkpoint(ckpt, HRNET_CLASS, HRNET18_PARAMS, fixture_state_dict("ritm_hrnet18"))
    folder_dataset(tmp_path / "grabcut-llama", z["image_rgb_u8"], z["gt_i8"], "llama")
    out = tmp_path / "run"
    proc = run_rclicks(
        "eval", "--model", "ritm", "--model-opt", f"checkpoint={ckpt}",
        "--simulator", "baseline", "--dataset", str(tmp_path / "grabcut-llama"),
        "--max-clicks", "20", "--device", "cpu", "--out", str(out),
        plugins="isegm", timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = sorted(pq.read_table(out / "per_click.parquet").to_pylist(), key=lambda r: r["click"])
    assert [(r["x"], r["y"], r["positive"]) for r in rows] == [
        (int(x), int(y), bool(p)) for x, y, p in z["clicks_xyp"]
    ]
    np.testing.assert_allclose([r["iou"] for r in rows], z["iou"], atol=1e-5, rtol=0)


def test_simpleclick_vit_b_first_clicks_are_the_reference_trajectory(tmp_path):
    """ViT-B with the deterministic weights: the first 5 clicks of the reference trajectory
    through ``rclicks.evaluate`` (the whole 20-click case takes minutes here; it was run once
    through ``rclicks eval --model simpleclick --model-opt checkpoint=...``: 20 of 20 clicks
    identical, IoU within 2.3e-5, one pixel at 0.49 at click 6 that the float64 network also
    gets right)."""
    import rclicks
    from test_predictor_pipeline import LlamaDataset

    from rclicks_isegm.model import IsegmModel
    from rclicks_isegm.plainvit import build_plainvit
    from rclicks_isegm.predictor import ZoomIn

    z = np.load(FIXTURES / "simpleclick_vit_base" / "traj_grabcut_llama.npz")
    net = build_plainvit("simpleclick_vit_base")
    net.load_state_dict(fixture_state_dict("simpleclick_vit_base"))
    model = IsegmModel(net, ZoomIn((448, 448), skip_clicks=-1))
    run = rclicks.evaluate(model, "baseline", LlamaDataset(z), max_clicks=5, out=tmp_path / "run")
    rows = run.per_click.sort_values("click")
    assert [tuple(r) for r in rows[["x", "y", "positive"]].itertuples(index=False)] == [
        (int(x), int(y), bool(p)) for x, y, p in z["clicks_xyp"][:5]
    ]
    np.testing.assert_allclose(rows["iou"].to_numpy(), z["iou"][:5], atol=1e-5, rtol=0)
