"""Generate the bundled demo dataset ``rclicks/demo_data`` (deterministic, numpy + OpenCV + PIL).

Every scene is a textured background (gradient + low-frequency noise + stripes / checks /
grain) with a few coloured, mildly textured objects drawn back to front with soft shadows and
anti-aliased edges. Some objects are target instances, the others are distractors. Each
object's binary mask is the supersampled coverage thresholded at one half, and the object is
painted with that coverage as alpha, so the masks agree with the drawn pixels. An instance's
mask excludes whatever is drawn over it.

Usage: ``python scripts/make_demo.py [--out DIR]``. Running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

cv2.setNumThreads(1)

SEED = 20240611
SS = 4  # supersampling factor of the shape rasteriser
# instance count per image (sums to 30)
INSTANCE_COUNTS = [3, 2, 2, 3, 1, 2, 3, 2, 2, 3, 1, 2, 2, 2]
# shape kinds cycled through so that every kind appears several times
KINDS = ["ellipse", "roundrect", "blob", "star", "ring", "thin"]
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "rclicks" / "demo_data"
# how hard the scenes are (see docs/datasets.md#the-demo)
SUBTLE_SHARE = 0.85  # share of instances coloured close to their background
SUBTLE_LAB = (6.0, 10.0)  # Lab distance of a subtle instance to its background
MIN_LAB = 16.0  # ... and of the other objects
TEXTURE_GAIN = 2.5  # amplitude of background and object textures


# --------------------------------------------------------------------------- colour helpers


def hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """HSV in [0, 1] to RGB float in [0, 255]."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array([r, g, b]) * 255.0


def to_lab(rgb: np.ndarray) -> np.ndarray:
    px = np.clip(np.asarray(rgb, dtype=np.float32).reshape(1, 1, 3) / 255.0, 0, 1)
    return cv2.cvtColor(px, cv2.COLOR_RGB2Lab).reshape(3).astype(np.float64)


# --------------------------------------------------------------------------- textures


def low_freq_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth noise in about [-1, 1]: a coarse random grid, bicubically upsampled."""
    gh = max(2, round(cells * h / max(h, w))) + 2
    gw = max(2, round(cells * w / max(h, w))) + 2
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (w + 2 * w // gw, h + 2 * h // gh), interpolation=cv2.INTER_CUBIC)
    oy, ox = h // gh, w // gw
    out = big[oy : oy + h, ox : ox + w]
    return np.clip(out / 1.5, -1.5, 1.5)


def pattern(rng: np.random.Generator, h: int, w: int, kind: str) -> np.ndarray:
    """A mild periodic or random texture in about [-1, 1]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, math.pi)
    u = xx * math.cos(ang) + yy * math.sin(ang)
    v = -xx * math.sin(ang) + yy * math.cos(ang)
    if kind == "stripes":
        period = rng.uniform(7, 18)
        return np.sin(2 * math.pi * u / period)
    if kind == "checks":
        period = rng.uniform(12, 26)
        c = np.sin(2 * math.pi * u / period) * np.sin(2 * math.pi * v / period)
        return np.tanh(3 * c)
    if kind == "weave":
        period = rng.uniform(6, 12)
        return 0.5 * (np.sin(2 * math.pi * u / period) + np.sin(2 * math.pi * v / period))
    if kind == "spots":
        return low_freq_noise(rng, h, w, cells=int(rng.integers(10, 18)))
    # "grain": fine random noise, slightly smoothed
    g = rng.standard_normal((h, w)).astype(np.float32)
    return cv2.GaussianBlur(g, (0, 0), 0.7) * 1.6


def background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Textured background (float RGB) and its mean colour."""
    hue = rng.uniform(0, 1)
    c0 = hsv_to_rgb(hue, rng.uniform(0.1, 0.35), rng.uniform(0.55, 0.85))
    c1 = hsv_to_rgb(
        (hue + rng.uniform(-0.12, 0.12)) % 1.0, rng.uniform(0.1, 0.35), rng.uniform(0.45, 0.8)
    )
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx - w / 2) * math.cos(ang) + (yy - h / 2) * math.sin(ang)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    img = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    lum = low_freq_noise(rng, h, w, cells=int(rng.integers(3, 6)))
    tint = np.stack([low_freq_noise(rng, h, w, cells=4) for _ in range(3)], axis=-1)
    img = img + 14.0 * lum[..., None] + 5.0 * tint
    kind = ["stripes", "checks", "grain", "weave", "spots"][int(rng.integers(0, 5))]
    amp = {"stripes": 9.0, "checks": 8.0, "grain": 7.0, "weave": 8.0, "spots": 12.0}[kind]
    img = img + TEXTURE_GAIN * amp * pattern(rng, h, w, kind)[..., None]
    mean = img.reshape(-1, 3).mean(axis=0)
    # out-of-focus clutter: soft blotches of nearby colours (background, not objects)
    for _ in range(int(rng.integers(3, 7))):
        yy0, xx0 = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.06, 0.16) * h, rng.uniform(0.06, 0.16) * w
        blot = (((yy - yy0) / ry) ** 2 + ((xx - xx0) / rx) ** 2 <= 1.0).astype(np.float32)
        blot = cv2.GaussianBlur(blot, (0, 0), rng.uniform(2.5, 5.0))
        shift = rng.normal(0.0, 16.0, size=3)
        img = img + blot[..., None] * shift[None, None, :]
    return img, mean


# --------------------------------------------------------------------------- shapes


def smooth_radius(rng: np.random.Generator, n: int, spikes: int | None) -> np.ndarray:
    """Relative radius r(theta) > 0 for a blob (random low harmonics) or a star."""
    th = np.linspace(0, 2 * math.pi, n, endpoint=False)
    if spikes is not None:
        r = 1.0 + 0.38 * np.cos(spikes * th + rng.uniform(0, 2 * math.pi))
        r = r + 0.05 * np.cos(2 * th + rng.uniform(0, 2 * math.pi))
    else:
        r = np.ones(n)
        for k in range(2, 6):
            r = r + rng.uniform(0.04, 0.22) / k**0.5 * np.cos(k * th + rng.uniform(0, 6.3))
    # circular smoothing
    ker = np.exp(-0.5 * (np.arange(-8, 9) / 3.0) ** 2)
    ker /= ker.sum()
    r = np.convolve(np.concatenate([r[-8:], r, r[:8]]), ker, mode="same")[8:-8]
    return np.maximum(r, 0.3)


def rotate(pts: np.ndarray, ang: float) -> np.ndarray:
    c, s = math.cos(ang), math.sin(ang)
    return pts @ np.array([[c, s], [-s, c]])


def shape_polygons(rng: np.random.Generator, kind: str, size: float):
    """Polygons (outer, holes) of a shape centred at the origin, in pixels."""
    ang = rng.uniform(0, math.pi)
    n = 256
    th = np.linspace(0, 2 * math.pi, n, endpoint=False)
    circle = np.stack([np.cos(th), np.sin(th)], axis=1)
    if kind == "ellipse":
        ax = np.array([size * rng.uniform(0.9, 1.15), size * rng.uniform(0.55, 0.85)])
        return [rotate(circle * ax, ang)], []
    if kind == "roundrect":
        a, b = size * rng.uniform(0.85, 1.1), size * rng.uniform(0.5, 0.85)
        rad = min(a, b) * rng.uniform(0.25, 0.5)
        # superellipse-free construction: offset a rectangle by a circle of radius rad
        pts = []
        corners = [
            (a - rad, b - rad),
            (-(a - rad), b - rad),
            (-(a - rad), -(b - rad)),
            (a - rad, -(b - rad)),
        ]
        for q, (cx, cy) in enumerate(corners):
            t = np.linspace(q * math.pi / 2, (q + 1) * math.pi / 2, 24)
            pts.append(np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], axis=1))
        return [rotate(np.concatenate(pts), ang)], []
    if kind in ("blob", "star"):
        spikes = int(rng.integers(5, 8)) if kind == "star" else None
        r = smooth_radius(rng, n, spikes) * size * (0.85 if spikes else 0.95)
        return [rotate(circle * r[:, None], ang)], []
    if kind == "ring":
        outer = size * rng.uniform(0.9, 1.05)
        inner = outer * rng.uniform(0.42, 0.55)
        squash = rng.uniform(0.8, 1.0)
        ax = np.array([1.0, squash])
        return [rotate(circle * ax * outer, ang)], [rotate(circle * ax * inner, ang)]
    # "thin": a gently curved band, elongated and narrow
    length = size * rng.uniform(1.9, 2.4)
    half_w = rng.uniform(5.0, 7.5)
    t = np.linspace(-1, 1, 64)
    bend = rng.uniform(-0.25, 0.25) * length
    spine = np.stack([t * length / 2, bend * (t**2 - 0.33)], axis=1)
    d = np.gradient(spine, axis=0)
    nrm = np.stack([-d[:, 1], d[:, 0]], axis=1)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    taper = half_w * (0.75 + 0.25 * np.cos(t * math.pi / 2))
    left = spine + nrm * taper[:, None]
    right = spine - nrm * taper[:, None]
    pts = np.concatenate([left, right[::-1]])
    return [rotate(pts, ang)], []


def rasterise(outer, holes, centre, h: int, w: int) -> np.ndarray:
    """Coverage in [0, 1] (float32) from polygons, by SS× supersampling."""
    canvas = np.zeros((h * SS, w * SS), dtype=np.uint8)
    c = np.asarray(centre, dtype=np.float64)

    def to_int(p):
        return [np.round((q + c) * SS + (SS - 1) / 2).astype(np.int32) for q in p]

    cv2.fillPoly(canvas, to_int(outer), 255)
    if holes:
        cv2.fillPoly(canvas, to_int(holes), 0)
    cov = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return cov


# --------------------------------------------------------------------------- objects


def from_lab(lab: np.ndarray) -> np.ndarray:
    px = np.asarray(lab, dtype=np.float32).reshape(1, 1, 3)
    return np.clip(cv2.cvtColor(px, cv2.COLOR_Lab2RGB).reshape(3), 0, 1).astype(np.float64) * 255


def object_colour(rng, bg_lab, used_labs, subtle=False, min_obj=22.0) -> np.ndarray:
    """A colour far enough from the other objects and from the local background; a *subtle*
    object sits only SUBTLE_LAB Lab units from its background, the others at least MIN_LAB."""
    for _ in range(2000):
        if subtle:
            d = rng.standard_normal(3)
            d[0] *= 0.6
            lab = bg_lab + d / np.linalg.norm(d) * rng.uniform(SUBTLE_LAB[0] + 1, SUBTLE_LAB[1])
            rgb = from_lab(lab)
        else:
            rgb = hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.45, 0.9), rng.uniform(0.35, 0.97))
        lab = to_lab(rgb)
        dist = np.linalg.norm(lab - bg_lab)
        if (subtle and not SUBTLE_LAB[0] <= dist <= SUBTLE_LAB[1]) or (
            not subtle and dist < MIN_LAB
        ):
            continue
        apart = min(min_obj, SUBTLE_LAB[0]) if subtle else min_obj
        if any(np.linalg.norm(lab - u) < apart for u in used_labs):
            continue
        return rgb
    raise RuntimeError("could not find a distinct colour")


def paint_object(rng, h, w, colour, mask, second=None) -> np.ndarray:
    """Object appearance (float RGB over the whole canvas): colour, shading, mild texture;
    a two-tone object gets a second colour on one side of a line or in a band across it."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    shade = ((xx - w / 2) * math.cos(ang) + (yy - h / 2) * math.sin(ang)) / max(h, w)
    base = np.broadcast_to(colour[None, None, :], (h, w, 3))
    if second is not None:
        ys, xs = np.nonzero(mask)
        cy, cx = ys.mean(), xs.mean()
        a2 = rng.uniform(0, 2 * math.pi)
        sd = (xx - cx) * math.cos(a2) + (yy - cy) * math.sin(a2)
        if rng.random() < 0.5:  # a band across the object
            half = rng.uniform(0.15, 0.3) * math.sqrt(len(ys))
            sd = half - np.abs(sd - rng.uniform(-0.2, 0.2) * math.sqrt(len(ys)))
        else:  # the two halves
            sd = sd - rng.uniform(-0.25, 0.25) * math.sqrt(len(ys))
        t = np.clip(sd + 0.5, 0.0, 1.0)[..., None]
        base = base * (1 - t) + second[None, None, :] * t
    img = base * (1.0 + 0.3 * shade[..., None])
    kind = ["stripes", "spots", "grain", "weave", "plain"][int(rng.integers(0, 5))]
    if kind != "plain":
        amp = {"stripes": 10.0, "spots": 12.0, "grain": 6.0, "weave": 8.0}[kind]
        img = img + TEXTURE_GAIN * amp * pattern(rng, h, w, kind)[..., None]
    return img


def make_scene(index: int, n_instances: int):
    rng = np.random.default_rng([SEED, index])
    portrait = index % 3 == 1
    long_side = int(rng.integers(240, 401))
    short_side = int(np.clip(round(long_side * rng.uniform(0.7, 0.8)), 180, 300))
    w, h = (short_side, long_side) if portrait else (long_side, short_side)

    img, _bg_mean = background(rng, h, w)
    n_distractors = int(rng.integers(0, 3))
    n_obj = n_instances + n_distractors
    # instances use the kinds in rotation; the thin ones appear every few images
    kinds = [KINDS[(index * 2 + k) % len(KINDS)] for k in range(n_instances)]
    kinds += [
        ["ellipse", "blob", "roundrect", "thin"][int(rng.integers(0, 4))]
        for _ in range(n_distractors)
    ]
    is_inst = [True] * n_instances + [False] * n_distractors
    order = rng.permutation(n_obj)  # back-to-front drawing order

    side = min(h, w)
    for _attempt in range(400):
        covs = []
        for k in range(n_obj):
            size = side * (rng.uniform(0.17, 0.27) if is_inst[k] else rng.uniform(0.1, 0.2))
            outer, holes = shape_polygons(rng, kinds[k], size)
            centre = (rng.uniform(0.18, 0.82) * w, rng.uniform(0.18, 0.82) * h)
            covs.append(rasterise(outer, holes, centre, h, w))
        masks = [c >= 0.5 for c in covs]
        visible = []
        for pos, k in enumerate(order):
            above = np.zeros((h, w), dtype=bool)
            for j in order[pos + 1 :]:
                above |= masks[j]
            visible.append((k, masks[k] & ~above))
        vis = dict(visible)
        ok = True
        for k in range(n_obj):
            full = int(masks[k].sum())
            seen = int(vis[k].sum())
            # fully inside the frame (a thin margin), mostly visible, reasonably large
            touches = (
                masks[k][:2].any()
                or masks[k][-2:].any()
                or masks[k][:, :2].any()
                or masks[k][:, -2:].any()
            )
            need = 0.6 if is_inst[k] else 0.35
            if touches or seen < need * full or (is_inst[k] and seen < 900):
                ok = False
                break
            if is_inst[k]:
                n_cc, _ = cv2.connectedComponents(vis[k].astype(np.uint8), connectivity=8)
                if n_cc - 1 != 1:
                    ok = False
                    break
        if ok:
            break
    else:
        raise RuntimeError(f"scene {index}: could not place objects")

    used: list[np.ndarray] = []
    labels = np.zeros((h, w), dtype=np.uint8)
    inst_ids = {k: i + 1 for i, k in enumerate(k for k in range(n_obj) if is_inst[k])}
    for k in order:
        # colour against what lies under the object now (the local background)
        local_bg = to_lab(img[masks[k]].mean(axis=0))
        subtle = is_inst[k] and kinds[k] != "thin" and rng.random() < SUBTLE_SHARE
        colour = object_colour(rng, local_bg, used, subtle=subtle)
        used.append(to_lab(colour))
        second = None
        if is_inst[k] and kinds[k] != "thin" and not subtle and rng.random() < 0.4:
            second = object_colour(rng, local_bg, used)
            used.append(to_lab(second))
        alpha = covs[k][..., None]  # coverage >= 0.5 exactly where the mask is set
        # soft drop shadow, offset down-right
        dx, dy = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        shifted = np.zeros_like(covs[k])
        shifted[dy:, dx:] = covs[k][:-dy, :-dx]
        shadow = cv2.GaussianBlur(shifted, (0, 0), 2.5) * rng.uniform(0.22, 0.35)
        img = img * (1.0 - shadow[..., None])
        obj = paint_object(rng, h, w, colour, masks[k], second)
        img = img * (1.0 - alpha) + obj * alpha
    for k in order:
        if is_inst[k]:
            labels[vis[k]] = inst_ids[k]
    # a touch of sensor noise
    img = img + rng.normal(0.0, 1.5, size=img.shape)
    img8 = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return img8, labels


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    out: Path = args.out
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    entries = []
    for i, n_inst in enumerate(INSTANCE_COUNTS):
        stem = f"demo_{i:02d}"
        img, labels = make_scene(i, n_inst)
        img_path = out / "images" / f"{stem}.png"
        mask_path = out / "masks" / f"{stem}.png"
        Image.fromarray(img, mode="RGB").save(img_path, format="PNG", optimize=True)
        Image.fromarray(labels, mode="L").save(mask_path, format="PNG", optimize=True)
        ids = sorted(int(v) for v in np.unique(labels) if v)
        entries.append(
            {
                "stem": stem,
                "image": f"images/{stem}.png",
                "mask": f"masks/{stem}.png",
                "width": int(img.shape[1]),
                "height": int(img.shape[0]),
                "instances": len(ids),
                "instance_ids": ids,
                "sha256": {
                    f"images/{stem}.png": sha256(img_path),
                    f"masks/{stem}.png": sha256(mask_path),
                },
            }
        )
    manifest = {
        "name": "rclicks-demo",
        "generator": "scripts/make_demo.py",
        "seed": SEED,
        "mask_format": "8-bit single-channel PNG; 0 = background, 1..k = instances",
        "stems": [e["stem"] for e in entries],
        "total_instances": int(sum(e["instances"] for e in entries)),
        "samples": entries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"wrote {len(entries)} images, {manifest['total_instances']} instances, "
        f"{total / 1e6:.2f} MB to {out}"
    )


if __name__ == "__main__":
    main()
