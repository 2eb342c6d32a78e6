"""``predict_differentiable``: the soft disk encoding gives the map of ``predict`` (zoomed,
fractional click positions included) and a finite, non-zero gradient with respect to the
click positions."""

from __future__ import annotations

import numpy as np
import pytest
import rclicks
import torch
from rclicks.types import Click
from test_tiny_batched import tiny_hrnet, tiny_vit

from rclicks_isegm.maps import disk_maps, soft_disk_maps
from rclicks_isegm.model import IsegmModel
from rclicks_isegm.predictor import ZoomIn


def test_soft_disks_have_the_values_of_the_disks_and_a_gradient():
    pts = torch.tensor([[[10.0, 12.0, 0], [30.0, 5.0, 1], [20.0, 40.0, 2], [-1, -1, -1]]])
    hard = disk_maps(pts, 48, 64)
    yx = pts[0, :3, :2][None]
    positive = torch.tensor([[True, True, False]])
    soft = soft_disk_maps(yx, positive, 48, 64)
    assert torch.equal(hard, soft)
    frac = pts.clone()
    frac[0, :3, :2] += torch.tensor([0.3, -0.45])
    moved = frac[0, :3, :2][None].clone().double().requires_grad_(True)
    out = soft_disk_maps(moved, positive, 48, 64)
    assert torch.equal(out.detach(), disk_maps(frac.double(), 48, 64))
    (out[0, 0] * torch.arange(64.0)).sum().backward()  # weight columns: x matters
    assert torch.isfinite(moved.grad).all() and moved.grad[0, :2, 1].abs().min() > 0


@pytest.mark.parametrize(
    "build,cascade", [(tiny_hrnet, 1), (tiny_vit, 1), (tiny_vit, 2)],
    ids=["ritm", "simpleclick", "cfr-icl"],
)  # fmt: skip
def test_the_differentiable_map_equals_predict_and_has_a_gradient(build, cascade):
    sample = rclicks.build("datasets", "demo")[0]
    zoom = ZoomIn(400, skip_clicks=1) if build is tiny_hrnet else ZoomIn((448, 448), -1)
    model = IsegmModel(build(), zoom, cascade=cascade)
    emb = model.encode(sample.image)
    clicks = [Click(120, 100, True), Click(200, 60, False), Click(150, 180, True)]
    state = None
    for k in range(1, len(clicks) + 1):
        prob, new = model.predict(emb, clicks[:k], state)
        pts = torch.tensor([[c.x, c.y] for c in clicks[:k]], dtype=torch.float32)
        pts.requires_grad_(True)
        logits = model.predict_differentiable(emb, pts, [c.positive for c in clicks[:k]], state)
        assert logits.shape == prob.shape
        np.testing.assert_allclose(torch.sigmoid(logits).detach().numpy(), prob, atol=1e-5)
        logits.sigmoid().sum().backward()
        assert torch.isfinite(pts.grad).all() and pts.grad.abs().sum() > 0
        state = new
