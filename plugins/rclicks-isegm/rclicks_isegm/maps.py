"""Click maps: the positive and negative clicks of a batch as two disk images per item.

The networks see clicks as images: pixel (r, c) of the positive map is 1 when some valid
positive click (y, x) has ``(r - y)² + (c - x)² <= radius²`` (RITM's ``DistMaps`` with
``use_disks=True``), the same for the negative map. The arithmetic follows the reference so the
maps are equal bit for bit: the pixel grid is float32, the difference with the click coordinate
is taken in the click's own dtype (float64 after a zoom-in gives fractional coordinates) and
rounded to float32, then squared and summed in float32. A click with ``max(y, x) < 0`` is
padding.
"""

from __future__ import annotations

import torch


def disk_maps(points: torch.Tensor, height: int, width: int, radius: float = 5.0) -> torch.Tensor:
    """``points``: B×2N×3 rows ``(y, x, click_index)`` — N positive rows, then N negative rows,
    padded with -1. Returns B×2×H×W float32 maps (positive, negative)."""
    b, n2, _ = points.shape
    device = points.device
    rows = torch.arange(height, dtype=torch.float32, device=device)
    cols = torch.arange(width, dtype=torch.float32, device=device)
    yx = points[..., :2]
    dy = (rows.view(1, 1, -1) - yx[..., 0:1]).to(torch.float32)  # B×2N×H
    dx = (cols.view(1, 1, -1) - yx[..., 1:2]).to(torch.float32)  # B×2N×W
    d2 = dy.square().unsqueeze(-1) + dx.square().unsqueeze(-2)  # B×2N×H×W
    valid = yx.amax(dim=-1) >= 0  # B×2N
    inside = (d2 <= float(radius) ** 2) & valid.view(b, n2, 1, 1)
    half = n2 // 2
    pos = inside[:, :half].any(dim=1)
    neg = inside[:, half:].any(dim=1)
    return torch.stack([pos, neg], dim=1).to(torch.float32)


def soft_disk_maps(
    yx: torch.Tensor,
    positive: torch.Tensor,
    height: int,
    width: int,
    radius: float = 5.0,
) -> torch.Tensor:
    """Disk maps of clicks at continuous positions whose gradient reaches the positions:
    ``yx`` B×N×2 (row, column), ``positive`` B×N bool. Returns B×2×H×W (positive, negative).

    The values are those of :func:`disk_maps` (the network sees exactly the reference
    encoding, also for fractional positions); the gradient is that of the anti-aliased disk
    ``clamp(radius + 0.5 − distance, 0, 1)``, whose one-pixel edge moves with the click (a
    straight-through estimate: a hard disk has no gradient, and a soft one would change the
    values). Several clicks of a side combine by their maximum."""
    rows = torch.arange(height, dtype=torch.float32, device=yx.device).view(1, 1, -1, 1)
    cols = torch.arange(width, dtype=torch.float32, device=yx.device).view(1, 1, 1, -1)
    dy = (rows - yx[..., 0, None, None]).to(torch.float32)  # in the click's dtype, then float32
    dx = (cols - yx[..., 1, None, None]).to(torch.float32)
    d2 = dy.square() + dx.square()  # B×N×H×W
    hard = (d2 <= float(radius) ** 2).to(torch.float32)
    soft = (radius + 0.5 - torch.sqrt(d2 + 1e-12)).clamp(0.0, 1.0)
    value = hard + (soft - soft.detach())
    sides = []
    for want in (True, False):
        keep = (positive == want)[..., None, None]
        sides.append(torch.where(keep, value, torch.zeros_like(value)).amax(dim=1))
    return torch.stack(sides, dim=1)
