"""What every file-backed loader shares (the generic folder layout and the benchmark loaders):
one image reader (EXIF orientation applied, as OpenCV's ``imread`` does), file reading with
named errors, the listing of samples, a threaded ``check`` that also builds the dataset
manifest (sha256 of every file, instance ids), and :func:`find_sample`.

A loader subclasses :class:`FileDataset`, lists its samples as :class:`Item`\\ s (a sample id
and the files it is read from) and implements :meth:`FileDataset.load`. Everything a loader
finds wrong with a file is a :class:`~rclicks.errors.SampleError` naming that file.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from rclicks.errors import SampleError, UnknownNameError
from rclicks.files import sha256_file
from rclicks.protocols import described_name, is_indexable
from rclicks.types import Sample

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
Image.MAX_IMAGE_PIXELS = None


def short(exc: BaseException) -> str:
    """The first line of ``exc``'s message (at most 200 characters; its type when empty)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def data_root(root: str | Path | None, folder: str) -> Path:
    """``root``, else ``$RCLICKS_DATA/<folder>`` (``datasets/<folder>`` when unset)."""
    if root is not None and str(root) != "":
        return Path(root)
    return Path(os.environ.get("RCLICKS_DATA") or "datasets") / folder


@contextlib.contextmanager
def file_errors(path: Path, what: str) -> Iterator[None]:
    """Turn a missing or unreadable ``path`` into a :class:`SampleError` naming it and
    ``what`` it is; a SampleError raised inside passes through unchanged."""
    try:
        yield
    except SampleError:
        raise
    except FileNotFoundError:
        raise SampleError(path, f"{what} not found") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise SampleError(path, f"unreadable {what} ({short(exc)})") from None


def read_image(path: Path) -> np.ndarray:
    """H×W×3 ``uint8`` RGB, as OpenCV's ``imread`` gives it (EXIF orientation applied,
    greyscale and palette expanded, alpha dropped). A truncated file is an error."""
    with file_errors(path, "image"):
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            if im.mode != "RGB":
                im = im.convert("RGB")
            return np.asarray(im, dtype=np.uint8)


def read_mask_rgb(path: Path, what: str = "mask") -> np.ndarray:
    """An 8-bit mask as H×W×3 ``uint8`` RGB, the way ``cv2.imread(path)`` reads it (greyscale
    replicated, palette indices turned into their colours, alpha dropped). 16- and 32-bit masks
    are refused: OpenCV would rescale them to 8 bits and merge values."""
    with file_errors(path, what):
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("1", "L", "P", "RGB", "RGBA", "LA", "PA"):
                raise SampleError(
                    path, f"{what} must be an 8-bit greyscale, palette or RGB image, got {im.mode}"
                )
            if im.mode != "RGB":
                im = im.convert("RGB")
            return np.asarray(im, dtype=np.uint8)


def read_palette_mask(path: Path, what: str = "mask") -> tuple[np.ndarray, np.ndarray | None]:
    """The raw values of a single-channel mask and, for a palette image, its palette
    (256×3 RGB); RGB masks give ``(H×W×3, None)``."""
    with file_errors(path, what):
        with Image.open(path) as im:
            im.load()
            if im.mode == "P":
                pal = np.zeros((256, 3), np.uint8)
                raw = np.asarray(im.getpalette() or [], dtype=np.uint8).reshape(-1, 3)[:256]
                pal[: len(raw)] = raw
                return np.asarray(im, dtype=np.uint8), pal
            if im.mode in ("L", "RGB"):
                return np.asarray(im, dtype=np.uint8), None
            if im.mode == "RGBA":
                return np.asarray(im.convert("RGB"), dtype=np.uint8), None
            raise SampleError(
                path, f"{what} must be a palette, greyscale or RGB PNG, got {im.mode}"
            )


def same_size(image: np.ndarray, image_path: Path, mask: np.ndarray, mask_path: Path) -> None:
    """A :class:`SampleError` naming ``mask_path`` unless the H×W of ``image`` (H×W×3) and
    ``mask`` (H×W or H×W×C) agree."""
    if image.shape[:2] != mask.shape[:2]:
        raise SampleError(
            mask_path,
            f"mask is {mask.shape[1]}×{mask.shape[0]} but image {Path(image_path).name} is "
            f"{image.shape[1]}×{image.shape[0]}",
        )


def label_values(labels: np.ndarray, skip: Sequence[int] = (0,)) -> list[int]:
    """The distinct values of an H×W id map, in increasing order, without those in ``skip``."""
    kept = labels[~np.isin(labels, list(skip))]
    return [int(v) for v in np.unique(kept)]


def label_instances(labels: np.ndarray, skip: Sequence[int] = (0,)) -> dict[str, np.ndarray]:
    """An H×W id map -> one H×W ``bool`` mask per value not in ``skip``, instance id
    ``str(value)``, in increasing value order."""
    return {str(v): labels == v for v in label_values(labels, skip)}


def read_image_and_mask(
    item: Item, read_mask: Callable[[Path], np.ndarray], what: str = "mask"
) -> tuple[np.ndarray, np.ndarray]:
    """The image (H×W×3 ``uint8`` RGB, :func:`read_image`) and the mask (``read_mask`` of
    ``item.files["mask"]``, H×W or H×W×C) of one listed sample, of the same H×W. A missing mask
    file (``what`` it is), an unreadable file or a size mismatch is a :class:`SampleError`."""
    image_path, mask_path = item.files["image"], item.files["mask"]
    if not mask_path.is_file():
        raise SampleError(mask_path, f"{what} missing for image {image_path.name}")
    image = read_image(image_path)
    mask = read_mask(mask_path)
    same_size(image, image_path, mask, mask_path)
    return image, mask


def file_meta(item: Item) -> dict[str, str]:
    """``Sample.meta`` of a file-backed sample: ``path`` (its image) and every file by role."""
    return {"path": str(item.files["image"]), **{k: str(v) for k, v in item.files.items()}}


def list_images(folder: Path) -> tuple[list[Path], list[str]]:
    """Image files of ``folder`` in name order, and one problem per duplicated stem."""
    files = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")
    )
    seen: dict[str, Path] = {}
    keep: list[Path] = []
    problems: list[str] = []
    for p in files:
        if p.stem in seen:
            problems.append(f"{p}: same stem as {seen[p.stem].name} (duplicate sample id)")
            continue
        seen[p.stem] = p
        keep.append(p)
    return keep, problems


def by_stem(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The files of ``folder`` by stem (any extension), and one problem per duplicated stem."""
    out: dict[str, Path] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return out, problems
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or not p.suffix:
            continue
        if p.stem in out:
            problems.append(f"{p}: same stem as {out[p.stem].name} (which mask is meant?)")
            continue
        out[p.stem] = p
    return out, problems


@dataclass
class Item:
    """One sample as listed: its id and the files it is read from (role -> path)."""

    sample_id: str
    files: dict[str, Path]
    extra: Any = None


@dataclass
class Inspection:
    problems: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None


class FileDataset:
    """Base of the file-backed loaders: indexable, thread-safe to read, checked with a manifest.

    Subclasses set :attr:`name`, :attr:`root`, :attr:`items`, :attr:`listing_problems` and
    :attr:`options` (what changes decoding, for the manifest), and implement :meth:`load`.
    """

    name: str = ""
    loader: str = ""
    #: reading samples from several threads at once is safe (enables prefetching)
    prefetch_safe = True

    def __init__(self, root: Path, name: str) -> None:
        self.root = Path(root)
        self.name = name
        self.items: list[Item] = []
        self.listing_problems: list[str] = []
        self.options: dict[str, Any] = {}
        self.notes: list[str] = []
        self.fingerprint: str | None = None
        self._manifest: dict[str, Any] | None = None

    # -- the Dataset protocol (+ the engine's optional methods) ---------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def sample_ids(self) -> list[str]:
        return [it.sample_id for it in self.items]

    def __getitem__(self, i: int) -> Sample:
        return self.load(self.items[i])

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def load(self, item: Item) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- check and manifest ---------------------------------------------------------------------
    def inspect(self, item: Item) -> Inspection:
        """Hash the files of one sample, load it and validate it."""
        out = Inspection()
        files = {
            role: file_record(path, self.root)
            for role, path in item.files.items()
            if path.is_file()
        }
        try:
            sample = self.load(item)
        except SampleError as exc:
            out.problems.append(str(exc))
            return out
        except Exception as exc:  # noqa: BLE001 - anything else still names the sample's files
            where = item.files.get("mask") or next(iter(item.files.values()), item.sample_id)
            out.problems.append(f"{where}: {type(exc).__name__}: {short(exc)}")
            return out
        out.problems += self.validate(item, sample)
        out.record = sample_record(sample, files)
        return out

    def validate(self, item: Item, sample: Sample) -> list[str]:
        """One message per unusable instance of a loaded sample (naming its mask file)."""
        where = item.files.get("mask") or item.files.get("image")
        problems: list[str] = []
        if not sample.instances:
            if sample.ignore is not None and sample.ignore.any():
                problems.append(f"{where}: no object, only ignore pixels (all-ignore mask)")
            else:
                problems.append(f"{where}: no object (mask is all background)")
            return problems
        for iid, m in sample.instances.items():
            if not m.any():
                problems.append(f"{where}: instance {iid} is empty")
            elif sample.ignore is not None and not (m & ~sample.ignore).any():
                problems.append(f"{where}: instance {iid} lies entirely in the ignore region")
        return problems

    def check(self, limit: int | None = None, threads: int | None = None) -> list[str]:
        """Open, decode and validate every sample (the first ``limit``); one message per bad
        file. Builds :meth:`manifest` and sets :attr:`fingerprint` (its sha256)."""
        from rclicks.datasets.prefetch import prefetch

        problems = list(self.listing_problems)
        items = self.items if limit is None else self.items[:limit]
        if not self.items and not problems:
            problems.append(f"{self.root}: no samples found")
        records: list[dict[str, Any]] = []
        threads = threads or min(4, os.cpu_count() or 1)
        for _item, result, exc in prefetch(self.inspect, items, depth=2 * threads, threads=threads):
            if exc is not None:  # inspect catches everything it expects
                problems.append(f"{_item.sample_id}: {type(exc).__name__}: {short(exc)}")
                continue
            problems += result.problems
            if result.record is not None:
                records.append(result.record)
        self._manifest = build_manifest(self.name, self.loader, self.options, records, limit)
        self.fingerprint = self._manifest["sha256"]
        return problems

    def manifest(self) -> dict[str, Any]:
        """The manifest of the last :meth:`check` (run it first)."""
        if self._manifest is None:
            self.check()
        assert self._manifest is not None
        return self._manifest

    def _rel(self, path: Path) -> str:
        return relative_path(path, self.root)


def relative_path(path: str | Path, root: str | Path | None) -> str:
    """``path`` relative to ``root`` in POSIX form (also when only their resolved forms nest),
    else ``path`` as given: what a manifest records, so it does not depend on the location."""
    path = Path(path)
    if root is not None:
        root = Path(root)
        for p, r in ((path, root), (path.resolve(), root.resolve())):
            with contextlib.suppress(ValueError):
                return p.relative_to(r).as_posix()
    return str(path)


def file_record(path: Path, root: str | Path | None) -> dict[str, str]:
    """One file of a manifest record: its path (relative to ``root``) and its sha256."""
    return {"path": relative_path(path, root), "sha256": sha256_file(path)}


def sample_record(sample: Sample, files: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The manifest record of a loaded sample: id, ``[H, W]``, instance ids (in order), number
    of ignore pixels and its files (role -> :func:`file_record`)."""
    h, w = sample.shape
    ignore = sample.ignore
    return {
        "sample_id": sample.sample_id,
        "size": [h, w],
        "instances": list(sample.instances),
        "ignore_pixels": 0 if ignore is None else int(np.count_nonzero(ignore)),
        "files": files,
    }


def build_manifest(
    name: str,
    loader: str,
    options: dict[str, Any],
    records: Sequence[dict[str, Any]],
    limit: int | None,
) -> dict[str, Any]:
    """The manifest of one dataset. Its ``sha256`` covers the loader, its decoding options and,
    per sample, the id, size, instance ids, ignore pixel count and the files' sha256 — not the
    paths or the dataset's name, so the same data gives the same digest on any machine."""
    canonical = {
        "loader": loader,
        "options": options,
        "samples": [
            {
                **{k: v for k, v in r.items() if k != "files"},
                "files": {role: f["sha256"] for role, f in sorted(r.get("files", {}).items())},
            }
            for r in records
        ],
    }
    digest = hashlib.sha256(
        json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
    return {
        "dataset": name,
        "loader": loader,
        "options": options,
        "limit": limit,
        "images": len(records),
        "instances": sum(len(r["instances"]) for r in records),
        "sha256": digest,
        "samples": list(records),
    }


def find_sample(ds: Any, sample_id: str) -> Sample:
    """The sample ``sample_id`` of any dataset (by index when it is indexable, else by
    iterating). Raises :class:`~rclicks.errors.UnknownNameError` naming close ids and the
    first few ids when there is none."""
    if is_indexable(ds):
        ids = [str(i) for i in ds.sample_ids()]
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
    raise UnknownNameError(
        f"no sample {sample_id!r} in dataset {described_name(ds, '?')!r}.{hint} "
        f"It has {len(ids)} samples: {shown}"
    )
