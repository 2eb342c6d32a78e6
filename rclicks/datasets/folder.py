"""The generic folder layout: ``ROOT/images/<stem>.{jpg,jpeg,png,bmp,tif,tiff}`` and
``ROOT/masks/<stem>.png`` (single-channel; 0 = background, each distinct non-zero value = one
instance, instance id ``str(value)``), and the bundled demo in that layout.

A :class:`~rclicks.datasets.base.FileDataset` like the benchmark loaders: images are decoded
by the same reader (EXIF orientation applied), and its ``check`` and manifest are theirs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rclicks.datasets.base import (
    IMAGE_EXTS,
    FileDataset,
    Item,
    file_errors,
    file_meta,
    label_instances,
    list_images,
    read_image_and_mask,
)
from rclicks.errors import DatasetError, SampleError
from rclicks.types import Sample

LAYOUT = "the folder layout is ROOT/images/<stem>.<ext> + ROOT/masks/<stem>.png"


def demo_root() -> Path:
    """The folder of the bundled demo scenes (``images/`` + ``masks/``)."""
    return Path(__file__).resolve().parent.parent / "demo_data"


def demo_dataset(root: str | Path | None = None) -> FolderDataset:
    """The bundled demo (or the folder layout at ``root``) as a dataset named ``demo``."""
    return FolderDataset(root or demo_root(), name="demo")


def read_label_mask(path: Path) -> np.ndarray:
    """The raw H×W values of a single-channel mask (greyscale, 16-bit, or palette indices).
    A mask with more than one channel (RGB, RGBA, grey + alpha, ...) is a
    :class:`~rclicks.errors.SampleError` naming the file."""
    with file_errors(path, "mask"):
        with Image.open(path) as im:
            im.load()
            if len(im.getbands()) != 1:
                raise SampleError(path, f"mask must be single-channel (got mode {im.mode})")
            return np.asarray(im)


class FolderDataset(FileDataset):
    """Images and instance-label masks in two folders, matched by file stem.

    ``FolderDataset(root, name=None)``: ``name`` defaults to the folder's name. A ``root``
    without an ``images/`` folder raises :class:`~rclicks.errors.DatasetError`; everything
    else wrong (missing, unreadable or mis-sized masks, duplicate stems, empty masks) is a
    problem of :meth:`check`, one per bad file.
    """

    loader = "folder"
    prefetch_safe = True

    def __init__(self, root: str | Path, name: str | None = None) -> None:
        root = Path(root)
        super().__init__(root, name or root.resolve().name)
        self.images_dir = root / "images"
        self.masks_dir = root / "masks"
        if not self.images_dir.is_dir():
            raise DatasetError(self.name, [f"{self.images_dir}: folder not found"], hint=LAYOUT)
        files, self.listing_problems = list_images(self.images_dir)
        self.items = [
            Item(p.stem, {"image": p, "mask": self.masks_dir / f"{p.stem}.png"}) for p in files
        ]
        if not files:
            exts = ", ".join(f"*{e}" for e in IMAGE_EXTS)
            self.listing_problems.append(f"{self.images_dir}: no images ({exts}) found")

    def load(self, item: Item) -> Sample:
        """The image (H×W×3 ``uint8`` RGB, EXIF applied) and one instance per label value."""
        image, labels = read_image_and_mask(item, read_label_mask)
        return Sample(item.sample_id, image, label_instances(labels), None, file_meta(item))
