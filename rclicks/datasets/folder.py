"""The generic folder layout: ``ROOT/images/<stem>.{jpg,png}`` and ``ROOT/masks/<stem>.png``
(0 = background, each distinct non-zero value = one instance)."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from rclicks.types import Sample, validate_sample

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
Image.MAX_IMAGE_PIXELS = None


class DatasetError(ValueError):
    """The dataset cannot be used; ``problems`` names every bad file and what is wrong."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.name = name
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"dataset {name!r} has {len(problems)} problem(s):\n{lines}")


def demo_root() -> Path:
    return Path(__file__).resolve().parent.parent / "demo_data"


def read_image(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        if im.mode != "RGB":
            im = im.convert("RGB")
        return np.asarray(im, dtype=np.uint8)


def read_label_mask(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV"):
            raise ValueError(f"mask must be single-channel (got mode {im.mode})")
        arr = np.asarray(im)
    if arr.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {arr.shape}")
    return arr


def label_to_instances(labels: np.ndarray) -> dict[str, np.ndarray]:
    values = [int(v) for v in np.unique(labels) if v != 0]
    return {str(v): labels == v for v in values}


class FolderDataset:
    """Images and instance-label masks in two folders, matched by file stem."""

    def __init__(self, root: str | Path, name: str | None = None) -> None:
        self.root = Path(root)
        self.name = name or self.root.resolve().name
        self.images_dir = self.root / "images"
        self.masks_dir = self.root / "masks"
        if not self.images_dir.is_dir():
            raise DatasetError(self.name, [f"{self.images_dir}: folder not found"])
        self.fingerprint: str | None = None
        self._images = sorted(
            p for p in self.images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS
        )

    def __len__(self) -> int:
        return len(self._images)

    def sample_ids(self) -> list[str]:
        return [p.stem for p in self._images]

    def _mask_path(self, image_path: Path) -> Path:
        return self.masks_dir / f"{image_path.stem}.png"

    def __getitem__(self, i: int) -> Sample:
        path = self._images[i]
        mask_path = self._mask_path(path)
        image = read_image(path)
        labels = read_label_mask(mask_path)
        return Sample(path.stem, image, label_to_instances(labels), None, {"path": str(path)})

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def check(self, limit: int | None = None) -> list[str]:
        """Open every file (the first ``limit`` images); one message per bad file. Also sets
        :attr:`fingerprint`, the sha256 over the names and bytes of the files checked."""
        problems: list[str] = []
        digest = hashlib.sha256()
        if not self._images:
            problems.append(f"{self.images_dir}: no images (*.jpg, *.png) found")
        stems: dict[str, Path] = {}
        for path in self._images[:limit]:
            if path.stem in stems:
                problems.append(f"{path}: same stem as {stems[path.stem]}")
                continue
            stems[path.stem] = path
            mask_path = self._mask_path(path)
            size = None
            for f in (path, mask_path):
                if f.is_file():
                    digest.update(f"{f.parent.name}/{f.name}\0".encode())
                    digest.update(f.read_bytes())
            try:
                with Image.open(path) as im:
                    im.load()
                    size = im.size
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                problems.append(f"{path}: unreadable image ({_short(exc)})")
            if not mask_path.is_file():
                problems.append(f"{mask_path}: mask missing for image {path.name}")
                continue
            try:
                labels = read_label_mask(mask_path)
            except (OSError, UnidentifiedImageError, ValueError) as exc:
                problems.append(f"{mask_path}: unreadable mask ({_short(exc)})")
                continue
            if size is not None and (labels.shape[1], labels.shape[0]) != size:
                problems.append(
                    f"{mask_path}: mask is {labels.shape[1]}×{labels.shape[0]} but image "
                    f"{path.name} is {size[0]}×{size[1]}"
                )
            elif not labels.any():
                problems.append(f"{mask_path}: mask has no instance (all zero)")
        self.fingerprint = digest.hexdigest()
        return problems


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def check_dataset(dataset, limit: int | None = None) -> list[str]:
    """Problems with ``dataset`` (its own ``check()`` when it has one, else a full pass)."""
    if hasattr(dataset, "check"):
        try:
            return list(dataset.check(limit=limit))
        except TypeError:
            return list(dataset.check())
    problems: list[str] = []
    try:
        for i, sample in enumerate(dataset):
            if limit is not None and i >= limit:
                break
            problems += [f"{sample.sample_id}: {p}" for p in validate_sample(sample)]
    except Exception as exc:  # noqa: BLE001 - a plugin dataset failing to load is a problem
        problems.append(f"{getattr(dataset, 'name', dataset)}: {type(exc).__name__}: {exc}")
    return problems


def find_sample(ds: Any, sample_id: str) -> Sample:
    """The sample ``sample_id`` of any dataset (by index when it has ``sample_ids``); a
    ``LookupError`` naming close ids when there is none."""
    if hasattr(ds, "sample_ids") and hasattr(ds, "__getitem__"):
        ids = list(ds.sample_ids())
        if sample_id in ids:
            return ds[ids.index(sample_id)]
    else:
        ids = []
        for s in ds:
            if s.sample_id == sample_id:
                return s
            ids.append(s.sample_id)
    close = difflib.get_close_matches(sample_id, ids, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(ids[:5]) + (" …" if len(ids) > 5 else "")
    raise LookupError(
        f"no sample {sample_id!r} in dataset {getattr(ds, 'name', '?')!r}.{hint} "
        f"It has {len(ids)} samples: {shown}"
    )
