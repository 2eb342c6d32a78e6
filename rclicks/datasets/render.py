"""How a sample looks: the image beside a copy with its instances tinted and outlined and its
ignore region hatched (what ``rclicks datasets show`` writes)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from rclicks.types import Sample

#: instance colours (RGB), in instance order, repeated after ten
PALETTE = np.array(
    [
        (230, 25, 75),
        (60, 180, 75),
        (0, 130, 200),
        (245, 130, 48),
        (145, 30, 180),
        (70, 240, 240),
        (240, 50, 230),
        (210, 245, 60),
        (0, 128, 128),
        (170, 110, 40),
    ],
    dtype=np.float32,
)


def render_sample(sample: Sample, alpha: float = 0.45) -> Image.Image:
    """The image (H×W×3 ``uint8``) beside a copy with every instance tinted (``alpha``) and
    outlined in its own colour and the ignore region hatched in grey, with a legend below: an
    RGB PIL image ``max(2W + 4, 240)`` wide and at least ``H + 24`` high."""
    from scipy.ndimage import binary_erosion

    img = np.asarray(sample.image, dtype=np.float32)
    h, w = img.shape[:2]
    over = img.copy()
    if sample.ignore is not None and sample.ignore.any():
        yy, xx = np.mgrid[:h, :w]
        hatch = ((xx + yy) // 3) % 2 == 0
        ign = sample.ignore
        over[ign] = over[ign] * 0.4 + 128 * 0.6
        over[ign & hatch] = (255, 255, 255)
    for k, (_iid, m) in enumerate(sample.instances.items()):
        c = PALETTE[k % len(PALETTE)]
        m = np.asarray(m, dtype=bool)
        over[m] = over[m] * (1 - alpha) + c * alpha
        edge = m & ~binary_erosion(m)
        over[edge] = c
    entries = [
        (f"instance {iid}", PALETTE[k % len(PALETTE)]) for k, iid in enumerate(sample.instances)
    ]
    if sample.ignore is not None:
        entries.append(("ignore (hatched)", np.array((160, 160, 160))))
    width = max(2 * w + 4, 240)
    spots, x, y = [], 4, 0
    for label, c in entries:
        step = 22 + 7 * len(label)
        if x + step > width and x > 4:
            x, y = 4, y + 16
        spots.append((x, y, label, c))
        x += step
    canvas = Image.new("RGB", (width, h + y + 24), (255, 255, 255))
    canvas.paste(Image.fromarray(sample.image), (0, 0))
    canvas.paste(Image.fromarray(np.clip(over, 0, 255).astype(np.uint8)), (w + 4, 0))
    draw = ImageDraw.Draw(canvas)
    for x, y, label, c in spots:
        y += h + 4
        draw.rectangle((x, y + 2, x + 10, y + 12), fill=tuple(int(v) for v in c))
        draw.text((x + 14, y), label, fill=(0, 0, 0))
    return canvas
