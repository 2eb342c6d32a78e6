"""The RITM test sets as RClicks uses them: GrabCut, Berkeley, DAVIS and COCO_MVal.

The rules follow the reference loaders (``isegm/data/datasets/{grabcut,berkeley,davis}.py`` in
emb-ai/rclicks): images are every image file of the image folder in name order; the mask of
``<stem>.<ext>`` is the file with the same stem (any extension) in the mask folder; each image
has one object, instance id ``"1"``.

- GrabCut (``data_GT/``, ``boundary_GT/``) and Berkeley (``images/``, ``masks/``): the mask's
  first channel in OpenCV's BGR order (blue; the grey value of a greyscale mask); ``128`` is
  ignored, values above 128 are the object. A value of exactly 1 is also object, because the
  reference writes the object as id 1 into the same array.
- DAVIS and COCO_MVal (``img/``, ``gt/``): a pixel is object when any channel is non-zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rclicks.datasets.base import (
    FileDataset,
    Item,
    by_stem,
    data_root,
    file_meta,
    list_images,
    read_image_and_mask,
    read_mask_rgb,
)
from rclicks.types import Sample

OBJECT_ID = "1"


class RITMDataset(FileDataset):
    """One object per image, the mask matched by stem; subclasses set the folders and rule."""

    folder = ""  # the default folder under $RCLICKS_DATA
    images_dir = "images"
    masks_dir = "masks"

    def __init__(self, root: str | Path | None = None, name: str | None = None) -> None:
        root = data_root(root, self.folder)
        super().__init__(root, name or self.folder)
        images, masks = root / self.images_dir, root / self.masks_dir
        for d in (images, masks):
            if not d.is_dir():
                self.listing_problems.append(f"{d}: folder not found ({self.layout_hint()})")
        if self.listing_problems:
            return
        files, self.listing_problems = list_images(images)
        mask_files, dup = by_stem(masks)
        self.listing_problems += dup
        for p in files:
            mask = mask_files.get(p.stem, masks / f"{p.stem}.png")
            self.items.append(Item(p.stem, {"image": p, "mask": mask}))
        if not files:
            self.listing_problems.append(f"{images}: no images (*.jpg, *.png, *.bmp) found")

    def layout_hint(self) -> str:
        return (
            f"the {self.loader} layout is ROOT/{self.images_dir}/<stem>.<ext> + "
            f"ROOT/{self.masks_dir}/<stem>.<ext>; set --data-opt root=PATH or $RCLICKS_DATA"
        )

    def load(self, item: Item) -> Sample:
        image, rgb = read_image_and_mask(item, read_mask_rgb)
        obj, ignore = self.decode(rgb[:, :, ::-1])
        instances = {OBJECT_ID: obj} if obj.any() else {}
        return Sample(item.sample_id, image, instances, ignore, file_meta(item))

    def decode(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError  # pragma: no cover


class GrabCutDataset(RITMDataset):
    """GrabCut: ``data_GT/`` images, ``boundary_GT/`` masks; 128 = ignore, > 128 = object."""

    loader = "GrabCut"
    folder = "GrabCut"
    images_dir = "data_GT"
    masks_dir = "boundary_GT"

    def decode(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        v = bgr[:, :, 0]
        ignore = v == 128
        return (v > 128) | (v == 1), ignore


class BerkeleyDataset(GrabCutDataset):
    """Berkeley: ``images/``, ``masks/``; the values as in GrabCut."""

    loader = "Berkeley"
    folder = "Berkeley"
    images_dir = "images"
    masks_dir = "masks"


class DavisDataset(RITMDataset):
    """DAVIS: ``img/`` images, ``gt/`` masks; a pixel is object when any channel is > 0."""

    loader = "DAVIS"
    folder = "DAVIS"
    images_dir = "img"
    masks_dir = "gt"

    def decode(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return bgr.max(axis=2) > 0, None


class CocoMValDataset(DavisDataset):
    """COCO_MVal: the DAVIS layout and rule."""

    loader = "COCO_MVal"
    folder = "COCO_MVal"
