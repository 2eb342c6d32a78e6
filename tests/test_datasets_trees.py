"""Small generated trees in every benchmark layout, shared by the dataset tests.

Each writer returns the root and what the loader must find in it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def _image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1)
    noise = rng.integers(0, 40, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _disk(h: int, w: int, cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def grabcut_value_mask(h: int, w: int, cy: int, cx: int, r: int, band: int = 2) -> np.ndarray:
    """0 background, 255 object, 128 a band around the object (the GrabCut/Berkeley rule)."""
    obj = _disk(h, w, cy, cx, r)
    grown = _disk(h, w, cy, cx, r + band)
    m = np.zeros((h, w), np.uint8)
    m[grown & ~obj] = 128
    m[obj] = 255
    return m


def write_grabcut(root: Path, n: int = 2, size=(40, 56), layout="GrabCut") -> Path:
    """GrabCut (data_GT/*.jpg + boundary_GT/*.bmp) or Berkeley (images/*.jpg + masks/*.png)."""
    img_dir, mask_dir, mext = (
        ("data_GT", "boundary_GT", ".bmp") if layout == "GrabCut" else ("images", "masks", ".png")
    )
    (root / img_dir).mkdir(parents=True, exist_ok=True)
    (root / mask_dir).mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(n):
        Image.fromarray(_image(h, w, i)).save(root / img_dir / f"s{i}.png")
        m = grabcut_value_mask(h, w, h // 2, w // 2 - 4 + 3 * i, 9 + i)
        Image.fromarray(m).save(root / mask_dir / f"s{i}{mext}")
    return root


def write_davis(root: Path, n: int = 2, size=(36, 48)) -> Path:
    """DAVIS / COCO_MVal: img/*.jpg + gt/*.png, RGB masks, any channel > 0 = object."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "gt").mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(n):
        Image.fromarray(_image(h, w, 10 + i)).save(root / "img" / f"d{i}.jpg", quality=95)
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[_disk(h, w, h // 2, w // 2, 8)] = (0, 0, 7)  # only the blue channel, small value
        rgb[_disk(h, w, 6, 6, 3)] = (200, 0, 0)  # a second blob: also object
        Image.fromarray(rgb).save(root / "gt" / f"d{i}.png")
    return root


def tetris_mask(labels: np.ndarray) -> np.ndarray:
    """Instance ids -> the RGB PNG pixels that encode them (id = B·65536 + G·256 + R)."""
    r = labels & 0xFF
    g = (labels >> 8) & 0xFF
    b = (labels >> 16) & 0xFF
    return np.stack([r, g, b], -1).astype(np.uint8)


TETRIS_IDS = (0x0A0B0C, 0x000001, 0x010000)  # all three bytes differ: order mistakes show


def write_tetris(root: Path, big: bool = True) -> Path:
    """Two images: a small one with three instances, and (``big``) a flat 2100×30 one."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    h, w = 40, 60
    labels = np.zeros((h, w), np.int64)
    labels[5:15, 5:20] = TETRIS_IDS[0]
    labels[20:35, 10:30] = TETRIS_IDS[1]
    labels[8:30, 40:55] = TETRIS_IDS[2]
    Image.fromarray(_image(h, w, 3)).save(root / "images" / "a.b_small.png")
    Image.fromarray(tetris_mask(labels)).save(root / "masks" / "a.b_small.png")
    if big:
        H, W = 30, 2100
        img = np.full((H, W, 3), 90, np.uint8)
        img[:, W // 2 :] = 200
        labels = np.zeros((H, W), np.int64)
        labels[5:25, 100:1000] = 7
        labels[10:20, 1500:2000] = 0x123456
        Image.fromarray(img).save(root / "images" / "wide.png")
        Image.fromarray(tetris_mask(labels)).save(root / "masks" / "wide.png")
    return root


def write_sbd(root: Path) -> Path:
    from scipy.io import savemat

    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "inst").mkdir(parents=True, exist_ok=True)
    h, w = 32, 40
    for name, ids in (("2008_000001", (1, 2)), ("2008_000002", (3,))):
        Image.fromarray(_image(h, w, len(ids))).save(root / "img" / f"{name}.jpg", quality=95)
        seg = np.zeros((h, w), np.uint8)
        for k, v in enumerate(ids):
            seg[4 + 12 * k : 12 + 12 * k, 5:30] = v
        gt = {"Segmentation": seg, "Boundaries": np.zeros((1, 1)), "Categories": np.ones((1, 1))}
        savemat(root / "inst" / f"{name}.mat", {"GTinst": gt})
    (root / "val.txt").write_text("2008_000001\n2008_000002\n")
    return root


def write_voc(root: Path, n_objects: int = 17) -> Path:
    """One VOC image with ``n_objects`` instances (17: instances 1 and 16 share the reference's
    grey value), each with a 255 border."""
    from rclicks.datasets.sbd import voc_colormap

    for d in ("JPEGImages", "SegmentationObject", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True, exist_ok=True)
    h, w = 30, 20 * n_objects
    idx = np.zeros((h, w), np.uint8)
    for k in range(1, n_objects + 1):
        x0 = 20 * (k - 1)
        idx[5:25, x0 + 2 : x0 + 18] = 255
        idx[7:23, x0 + 4 : x0 + 16] = k
    Image.fromarray(_image(h, w, 5)).save(root / "JPEGImages" / "2007_000032.jpg", quality=95)
    pim = Image.fromarray(idx, mode="P")
    pim.putpalette(voc_colormap().ravel().tolist())
    pim.save(root / "SegmentationObject" / "2007_000032.png")
    (root / "ImageSets/Segmentation/val.txt").write_text("2007_000032\n")
    return root


def write_coco(root: Path) -> tuple[Path, dict]:
    """Two images: one with a polygon, a compressed-RLE and an uncompressed-RLE instance and a
    crowd region; one without annotations."""
    from pycocotools import mask as cmask

    (root / "images").mkdir(parents=True, exist_ok=True)
    h, w = 40, 50
    Image.fromarray(_image(h, w, 7)).save(root / "images" / "c1.png")
    Image.fromarray(_image(h, w, 8)).save(root / "images" / "c2.png")
    rle_mask = np.zeros((h, w), np.uint8, order="F")
    rle_mask[20:30, 5:15] = 1
    rle = cmask.encode(np.asfortranarray(rle_mask))
    rle["counts"] = rle["counts"].decode()
    # uncompressed RLE, column-major run lengths of a 6×6 block at rows 2..7, cols 40..45
    block = np.zeros((h, w), np.uint8)
    block[2:8, 40:46] = 1
    flat = block.ravel(order="F")
    counts, cur, run = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(run)
            cur, run = v, 0
        run += 1
    counts.append(run)
    crowd = np.zeros((h, w), np.uint8)
    crowd[32:38, 30:45] = 1
    crowd_rle = cmask.encode(np.asfortranarray(crowd))
    crowd_rle["counts"] = crowd_rle["counts"].decode()
    data = {
        "images": [
            {"id": 1, "file_name": "c1.png", "height": h, "width": w},
            {"id": 2, "file_name": "c2.png", "height": h, "width": w},
        ],
        "annotations": [
            {
                "id": 11,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": [[20, 2, 35, 2, 35, 16, 20, 16]],
            },
            {"id": 12, "image_id": 1, "category_id": 2, "iscrowd": 0, "segmentation": rle},
            {
                "id": 13,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": {"size": [h, w], "counts": counts},
            },
            {"id": 14, "image_id": 1, "category_id": 1, "iscrowd": 1, "segmentation": crowd_rle},
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    (root / "annotations.json").write_text(json.dumps(data))
    expected = {
        "rle": rle_mask.astype(bool),
        "block": block.astype(bool),
        "crowd": crowd.astype(bool),
    }
    return root, expected


def write_folder(root: Path, n: int = 2, size=(40, 56)) -> Path:
    """The generic layout: images/*.png + masks/*.png, 8-bit labels (two instances, 1 and 2)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(n):
        Image.fromarray(_image(h, w, 20 + i)).save(root / "images" / f"f{i}.png")
        labels = np.zeros((h, w), np.uint8)
        labels[_disk(h, w, h // 2, w // 3, 6 + i)] = 1
        labels[4:12, w - 14 : w - 4] = 2
        Image.fromarray(labels).save(root / "masks" / f"f{i}.png")
    return root


def write_exif_jpeg(path: Path, pixels: np.ndarray, orientation: int) -> Path:
    """``pixels`` (H×W×3 ``uint8``) stored as a JPEG with the EXIF Orientation tag set: a
    viewer (and OpenCV's ``imread``) turns it before showing it."""
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    Image.fromarray(pixels).save(path, quality=95, exif=exif)
    return path
