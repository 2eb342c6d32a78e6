"""Tiny random-weight instances of both networks (the real architectures, narrow): a click
step of several trajectories in one ``predict_batch`` equals running each alone."""

from __future__ import annotations

import numpy as np
import pytest
import rclicks
import torch
from rclicks.clicks import next_click

from rclicks_isegm.hrnet import HRNetModel
from rclicks_isegm.model import IsegmModel
from rclicks_isegm.plainvit import PlainVitModel
from rclicks_isegm.predictor import ZoomIn


def tiny_hrnet() -> HRNetModel:
    torch.manual_seed(0)
    return HRNetModel(width=8, ocr_width=16)


def tiny_vit() -> PlainVitModel:
    torch.manual_seed(0)
    return PlainVitModel(
        backbone_params=dict(
            img_size=(448, 448), patch_size=(16, 16), in_chans=3, embed_dim=64, depth=4,
            num_heads=2, mlp_ratio=2, qkv_bias=True,
        ),
        neck_params=dict(in_dim=64, out_dims=[16, 32, 64, 128]),
        head_params=dict(
            in_channels=[16, 32, 64, 128], in_index=[0, 1, 2, 3], dropout_ratio=0.1,
            num_classes=1, align_corners=False, upsample="x1", channels=32,
        ),
    )  # fmt: skip


@pytest.mark.parametrize(
    "build,zoom",
    [(tiny_hrnet, ZoomIn(400, skip_clicks=1)), (tiny_vit, ZoomIn((448, 448), skip_clicks=-1))],
    ids=["ritm", "simpleclick"],
)
def test_a_batched_step_equals_one_by_one(build, zoom):
    sample = rclicks.build("datasets", "demo")[0]
    masks = list(sample.instances.values())
    model = IsegmModel(build(), zoom)
    emb = model.encode(sample.image)
    clicks: list[list] = [[] for _ in masks]
    alone: list = [None] * len(masks)
    batched: list = [None] * len(masks)
    probs = [np.zeros(sample.image.shape[:2], np.float32) for _ in masks]
    for _ in range(3):
        for i, gt in enumerate(masks):  # each trajectory clicks on its own instance
            clicks[i].append(next_click(gt, probs[i] > model.threshold, clicks[i]).click)
        one = [model.predict(emb, c, s) for c, s in zip(clicks, alone)]
        many, batched = model.predict_batch(emb, clicks, batched)
        for (p1, _), p2 in zip(one, many):
            np.testing.assert_allclose(p1, p2, atol=1e-5, rtol=0)
        alone = [s for _, s in one]
        probs = many
    assert len(masks) >= 2 and any(s.box is not None for s in batched)


def test_another_input_size_resizes_the_positional_embedding_as_the_reference():
    """DAVIS runs SimpleClick at 672 (``interpolate_pos_embed_inference``): the trained grid's
    embedding resized bicubically, row 0 kept, 3 x 3 windows; back at 448 it is the trained
    one again."""
    import torch.nn.functional as F

    net = tiny_vit().eval()
    trained = net.backbone.pos_embed.detach().clone()
    net.set_input_size((672, 672))
    pos = net.backbone.pos_embed.detach()
    grid = trained[:, 1:].reshape(1, 28, 28, -1).permute(0, 3, 1, 2)
    want = F.interpolate(grid, size=(42, 42), mode="bicubic", align_corners=False)
    assert torch.equal(pos[:, 0], trained[:, 0])
    assert torch.equal(pos[:, 1:], want.permute(0, 2, 3, 1).flatten(1, 2))
    assert net.backbone.num_windows == (3, 3)
    x = torch.rand(2, 4, 672, 672)
    pts = torch.tensor([[[300.0, 300.0, 0], [-1, -1, -1]]] * 2)
    with torch.no_grad():
        assert net(x, pts)["instances"].shape == (2, 1, 672, 672)
    net.set_input_size((448, 448))
    assert torch.equal(net.backbone.pos_embed.detach(), trained)
    model = IsegmModel(net, ZoomIn((448, 448), skip_clicks=-1))
    assert model.zoom.target_size == (448, 448)
