"""The closed-form stand-in network of ``../shared/fixtures/isegm/pipeline_toy`` (README,
"Pipeline toy cases"), so the predictor's zoom-in, flip and paste-back can be checked against
the reference loop without trained weights."""

from __future__ import annotations

import torch


class ToyNetwork(torch.nn.Module):
    """``logits = 6 (prev − 0.5) + 8 Gpos − 8 Gneg + 2 (gray − 0.5) − 2`` in float64, returned
    as float32: ``Gpos`` the largest Gaussian bump (σ = 0.12 · min(h, w) of the input) over the
    valid positive points, ``Gneg`` the same for the negative ones."""

    with_prev_mask = True

    def forward(self, image: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
        x = image.double()
        b, _, h, w = x.shape
        prev, gray = x[:, 3], x[:, :3].mean(dim=1)
        sigma = 0.12 * min(h, w)
        rows = torch.arange(h, dtype=torch.float64).view(1, 1, h, 1)
        cols = torch.arange(w, dtype=torch.float64).view(1, 1, 1, w)
        p = points.double()
        y, xx = p[..., 0].view(b, -1, 1, 1), p[..., 1].view(b, -1, 1, 1)
        bumps = torch.exp(-((rows - y) ** 2 + (cols - xx) ** 2) / (2 * sigma**2))
        valid = (p[..., :2].amax(dim=-1) >= 0).view(b, -1, 1, 1)
        bumps = torch.where(valid, bumps, torch.zeros_like(bumps))
        n = p.shape[1] // 2
        g_pos = bumps[:, :n].amax(dim=1)
        g_neg = bumps[:, n:].amax(dim=1)
        logits = 6 * (prev - 0.5) + 8 * g_pos - 8 * g_neg + 2 * (gray - 0.5) - 2
        return {"instances": logits[:, None].float()}
