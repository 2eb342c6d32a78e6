"""TETRIS, the RClicks dataset: ``images/<stem>.<ext>`` and ``masks/<stem>.png`` with 24-bit
instance ids, read at most 2048 px on the long side (the size the real clicks were made at).

Rules of the reference loader (``isegm/data/datasets/tetris.py`` in emb-ai/rclicks):

- the mask is read as OpenCV does (BGR); the instance id of a pixel is
  ``B * 65536 + G * 256 + R``; every non-zero id is one instance, ``instance_id = str(id)``
  (the ``object_stem`` of RClicks' ``clicks.csv``);
- when ``max_side`` > 0, the image is resized bilinearly so that its long side is at most
  ``max_side``; the target size is ``(min(long, max_side), int(short / long * that + 0.5))``;
- the mask is resized one instance at a time: the instance's 0/1 mask is resized bilinearly
  (OpenCV, ``uint8``, so a pixel is kept where the interpolated value rounds to 1) and written
  over the result in increasing id order; an instance that vanishes is dropped.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rclicks.datasets.base import (
    FileDataset,
    Item,
    SampleError,
    data_root,
    file_meta,
    label_instances,
    label_values,
    list_images,
    read_image_and_mask,
    read_mask_rgb,
)
from rclicks.types import Sample

SPLITS_DIR = Path(__file__).resolve().parent / "splits"
SPLITS = {"train": SPLITS_DIR / "TETRIS_train.txt", "val": SPLITS_DIR / "TETRIS_val.txt"}
MAX_SIDE = 2048


def limited_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """``(h, w)`` with the long side limited to ``max_side``, rounded as the reference does."""
    if not max_side or max_side <= 0:
        return height, width
    if height > width:
        th = min(height, max_side)
        tw = int(width / height * th + 0.5)
    else:
        tw = min(width, max_side)
        th = int(height / width * tw + 0.5)
    return th, tw


def read_id_mask(path: Path) -> np.ndarray:
    """A TETRIS mask as H×W ``uint32`` ids ``B·65536 + G·256 + R`` (OpenCV's BGR read of the
    PNG: greyscale replicated, palette colours, alpha dropped), decoded without a copy per
    channel: the RGBA pixels viewed as little-endian 32-bit words are ``R | G<<8 | B<<16 |
    A<<24``."""
    rgb = read_mask_rgb(path)  # validates the mode and names the file on errors
    h, w = rgb.shape[:2]
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[:, :, :3] = rgb
    rgba[:, :, 3] = 0
    del rgb
    return rgba.view("<u4").reshape(h, w)


def resize_labels(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """The reference's per-instance resize of an id map (bilinear on each 0/1 mask, higher ids
    written last)."""
    out = np.zeros((height, width), dtype=labels.dtype)
    for v in label_values(labels):
        m = cv2.resize(
            (labels == v).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR
        )
        out[m.astype(bool)] = v
    return out


def read_split(split: str | Path) -> tuple[list[str], Path]:
    path = SPLITS.get(str(split)) or Path(split)
    if not Path(path).is_file():
        raise SampleError(
            path, f"split list not found (use all, train, val or a file of stems, got {split!r})"
        )
    stems = [s.strip() for s in Path(path).read_text(encoding="utf-8").splitlines()]
    return [s for s in stems if s], Path(path)


class TetrisDataset(FileDataset):
    """TETRIS in the RITM layout; ``split`` is ``all``, ``train``, ``val`` (the published
    RClicks lists) or a file with one stem per line; ``max_side`` 0 keeps the full size."""

    loader = "TETRIS"

    def __init__(
        self,
        root: str | Path | None = None,
        name: str | None = None,
        split: str = "all",
        max_side: int | None = MAX_SIDE,
    ) -> None:
        root = data_root(root, "TETRIS")
        super().__init__(root, name or "TETRIS")
        self.max_side = int(max_side or 0)
        self.split = str(split)
        self.options = {"max_side": self.max_side, "split": self.split}
        images, masks = root / "images", root / "masks"
        for d in (images, masks):
            if not d.is_dir():
                self.listing_problems.append(
                    f"{d}: folder not found (the TETRIS layout is ROOT/images/<stem>.<ext> + "
                    "ROOT/masks/<stem>.png; set --data-opt root=PATH or $RCLICKS_DATA)"
                )
        if self.listing_problems:
            return
        files, self.listing_problems = list_images(images)
        if self.split != "all":
            try:
                stems, split_path = read_split(self.split)
            except SampleError as exc:
                self.listing_problems.append(str(exc))
                return
            wanted = set(stems)
            have = {p.stem for p in files}
            for s in stems:
                if s not in have:
                    self.listing_problems.append(
                        f"{images}: no image for stem {s!r} of split {split_path.name}"
                    )
            files = [p for p in files if p.stem in wanted]
        for p in files:
            self.items.append(Item(p.stem, {"image": p, "mask": masks / f"{p.stem}.png"}))
        if not self.items and not self.listing_problems:
            self.listing_problems.append(f"{images}: no images found")

    def load(self, item: Item) -> Sample:
        image, labels = read_image_and_mask(item, read_id_mask)
        h, w = image.shape[:2]
        th, tw = limited_size(h, w, self.max_side)
        if (th, tw) != (h, w):
            image = cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
            labels = resize_labels(labels, th, tw)
        instances = label_instances(labels)
        meta: dict = file_meta(item)
        if (th, tw) != (h, w):
            meta["original_size"] = (h, w)
        return Sample(item.sample_id, np.ascontiguousarray(image), instances, None, meta)
