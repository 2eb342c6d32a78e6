"""Real clicks in the RClicks ``clicks.csv`` format, matched to dataset samples.

One row per click, columns (in any order, extra columns ignored):

``dataset, full_stem, image_stem, object_stem, click_type, model_type, x, y, w, h, device``

- ``dataset``: GrabCut, Berkeley, DAVIS, COCO (= rclicks' ``COCO_MVal``), TETRIS, ...
- ``full_stem``: the key of one click set, ``<image_stem>[_______<object_stem>][_<model>...]``;
  every row with the same ``full_stem`` shares image, object, click type and previous mask.
- ``object_stem``: the instance (the value of its mask, as rclicks' ``instance_id``), or empty
  when the image has one object.
- ``click_type``: ``first`` (on an empty prediction), ``fn`` / ``fp`` (a second round on the
  previous mask ``<prev_masks>/<full_stem>.png`` made by ``model_type``).
- ``x, y``: pixel (column, row) in the image as shown, of size ``w`` × ``h``; rclicks rescales to
  the sample's size when they differ (TETRIS was shown at most 2048 px on its long side).
- ``device``: ``pc`` or ``mobile``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rclicks.clicks import bbox
from rclicks.errors import ClicksFileError, OptionError
from rclicks.types import Sample

COLUMNS = (
    "dataset",
    "full_stem",
    "image_stem",
    "object_stem",
    "click_type",
    "model_type",
    "x",
    "y",
    "w",
    "h",
    "device",
)
CLICK_TYPES = ("first", "fn", "fp")
DEVICES = ("pc", "mobile")
# names used in clicks.csv (and rclicks' split presets) -> the dataset the clicks belong to
DATASET_ALIASES = {
    "COCO": "COCO_MVal",
    "COCO-MVal": "COCO_MVal",
    "GRABCUT": "GrabCut",
    "TETRIS-train": "TETRIS",
    "TETRIS-val": "TETRIS",
}


def canonical_dataset(name: str) -> str:
    return DATASET_ALIASES.get(name, name)


@dataclass
class ClickSet:
    """All real clicks of one ``full_stem``: one image, one object, one click type."""

    full_stem: str
    dataset: str
    image_stem: str
    object_stem: str
    click_type: str
    model_type: str
    w: int
    h: int
    xs: np.ndarray  # in the w×h frame the clicks were made in
    ys: np.ndarray
    devices: np.ndarray

    def __len__(self) -> int:
        return int(self.xs.size)

    def select(self, device: str | None) -> np.ndarray:
        """Boolean selection of the clicks made on ``device`` (``None``/``all``: every one)."""
        if device in (None, "all"):
            return np.ones(self.xs.size, dtype=bool)
        if device not in DEVICES:
            raise OptionError(f"device must be one of all, pc, mobile; got {device!r}")
        return self.devices == device

    def in_image(self, shape: tuple[int, int], device: str | None = None):
        """``(xs, ys)`` in pixels of an image of ``shape`` = (H, W): clipped to the shown frame,
        then rescaled (truncating, as the reference does) when the image size differs."""
        sel = self.select(device)
        xs = np.clip(self.xs[sel], 0, self.w - 1)
        ys = np.clip(self.ys[sel], 0, self.h - 1)
        height, width = int(shape[0]), int(shape[1])
        if (width, height) != (self.w, self.h):
            xs = (xs * width / self.w).astype(np.int64)
            ys = (ys * height / self.h).astype(np.int64)
        return np.clip(xs, 0, width - 1).astype(np.int64), np.clip(ys, 0, height - 1).astype(
            np.int64
        )


class ClickTable:
    """A loaded ``clicks.csv``: click sets by ``full_stem`` in file order."""

    def __init__(self, path: Path, sets: dict[str, ClickSet]) -> None:
        self.path = path
        self._sets = sets

    def __len__(self) -> int:
        return len(self._sets)

    def __iter__(self) -> Iterator[ClickSet]:
        return iter(self._sets.values())

    def __getitem__(self, full_stem: str) -> ClickSet:
        return self._sets[full_stem]

    def datasets(self) -> list[str]:
        return sorted({s.dataset for s in self})

    def sets(
        self,
        dataset: str | None = None,
        click_types: Iterable[str] | None = None,
        images: Iterable[str] | None = None,
    ) -> list[ClickSet]:
        want_ds = None if dataset is None else canonical_dataset(dataset)
        types = None if click_types is None else set(click_types)
        stems = None if images is None else set(images)
        return [
            s
            for s in self
            if (want_ds is None or s.dataset == want_ds)
            and (types is None or s.click_type in types)
            and (stems is None or s.image_stem in stems)
        ]

    def clicks_count(self) -> int:
        return sum(len(s) for s in self)


def _int(value: str, what: str, where: str) -> int:
    try:
        f = float(value)
    except ValueError:
        raise ClicksFileError(f"{where}: {what} is not a number: {value!r}") from None
    if not np.isfinite(f) or f != int(f):
        raise ClicksFileError(f"{where}: {what} must be a whole number, got {value!r}")
    return int(f)


def load_clicks(path: str | Path, max_problems: int = 20) -> ClickTable:
    """Read and validate ``clicks.csv``. Every problem names the file and the line; up to
    ``max_problems`` are reported at once."""
    path = Path(path)
    if not path.is_file():
        raise ClicksFileError(f"{path}: file not found")
    problems: list[str] = []
    raw: dict[str, list[tuple]] = {}
    meta: dict[str, tuple] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ClicksFileError(
                f"{path}: missing column(s) {', '.join(missing)}; "
                f"a clicks.csv needs {', '.join(COLUMNS)}"
            )
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line}"
            try:
                ctype = row["click_type"].strip()
                if ctype not in CLICK_TYPES:
                    raise ClicksFileError(
                        f"{where}: click_type must be first, fn or fp; got {ctype!r}"
                    )
                device = row["device"].strip()
                if device not in DEVICES:
                    raise ClicksFileError(f"{where}: device must be pc or mobile; got {device!r}")
                x, y = _int(row["x"], "x", where), _int(row["y"], "y", where)
                w, h = _int(row["w"], "w", where), _int(row["h"], "h", where)
                if w <= 0 or h <= 0:
                    raise ClicksFileError(f"{where}: w and h must be positive, got {w}×{h}")
                stem = row["full_stem"].strip()
                image_stem = row["image_stem"].strip()
                if not stem or not image_stem:
                    raise ClicksFileError(f"{where}: full_stem and image_stem must not be empty")
                key = (
                    canonical_dataset(row["dataset"].strip()),
                    image_stem,
                    row["object_stem"].strip(),
                    ctype,
                    row["model_type"].strip(),
                    w,
                    h,
                )
                first = meta.setdefault(stem, key)
                if first != key:
                    raise ClicksFileError(
                        f"{where}: rows of full_stem {stem!r} disagree on dataset/image/object/"
                        f"click_type/model_type/w/h ({key} vs {first})"
                    )
                raw.setdefault(stem, []).append((x, y, device))
            except ClicksFileError as exc:
                problems.append(str(exc))
                if len(problems) >= max_problems:
                    break
    if problems:
        more = " (stopped after the first problems)" if len(problems) >= max_problems else ""
        raise ClicksFileError(
            f"{path}: {len(problems)} bad row(s){more}:\n  " + "\n  ".join(problems)
        )
    sets: dict[str, ClickSet] = {}
    for stem, rows in raw.items():
        ds, image_stem, obj, ctype, model_type, w, h = meta[stem]
        sets[stem] = ClickSet(
            full_stem=stem,
            dataset=ds,
            image_stem=image_stem,
            object_stem=obj,
            click_type=ctype,
            model_type=model_type,
            w=w,
            h=h,
            xs=np.array([r[0] for r in rows], dtype=np.int64),
            ys=np.array([r[1] for r in rows], dtype=np.int64),
            devices=np.array([r[2] for r in rows], dtype=object),
        )
    return ClickTable(path, sets)


def write_clicks(path: str | Path, rows: Iterable[dict]) -> Path:
    """Write rows (dicts with the :data:`COLUMNS`) as an RClicks-format ``clicks.csv``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in COLUMNS})
    return path


def full_stem(image_stem: str, object_stem: str = "", model_type: str = "") -> str:
    """The RClicks key of a click set (``_______`` separates the object, ``_<model>`` the
    round-two model)."""
    stem = image_stem if not object_stem else f"{image_stem}_______{object_stem}"
    return stem if not model_type else f"{stem}_{model_type}"


# -- matching click sets to dataset samples --------------------------------------------------


def instance_of(sample: Sample, object_stem: str) -> str | None:
    """The ``instance_id`` of ``sample`` that a click set's ``object_stem`` names: the same id,
    or the only instance when ``object_stem`` is empty. ``None`` when there is no such one."""
    if object_stem:
        return object_stem if object_stem in sample.instances else None
    if len(sample.instances) == 1:
        return next(iter(sample.instances))
    return None


def read_prev_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A previous-round mask (``PNG``, foreground where the first channel > 127)."""
    from PIL import Image

    if not path.is_file():
        raise ClicksFileError(f"{path}: previous mask not found")
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
    except Exception as exc:  # noqa: BLE001 - reported with the file name
        raise ClicksFileError(f"{path}: unreadable previous mask ({exc})") from None
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.shape != tuple(shape):
        raise ClicksFileError(
            f"{path}: previous mask is {arr.shape[0]}×{arr.shape[1]}, "
            f"the image is {shape[0]}×{shape[1]}"
        )
    return arr > 127 if arr.dtype != bool else arr


def error_mask(click_type: str, gt: np.ndarray, prev: np.ndarray | None) -> np.ndarray:
    """The region the clicks of a set were aimed at: the object for first clicks, the missed
    object (gt ∧ ¬prev) for fn, the wrongly selected background (¬gt ∧ prev) for fp."""
    gt = np.asarray(gt, dtype=bool)
    if click_type == "first":
        return gt.copy()
    if prev is None:
        raise ValueError(f"click_type {click_type} needs the previous mask")
    if click_type == "fn":
        return gt & ~prev
    return ~gt & prev


@dataclass
class ClickTarget:
    """A click set placed on its sample: what a simulator sees and where people clicked."""

    clicks: ClickSet
    sample: Sample
    instance_id: str
    gt: np.ndarray
    error: np.ndarray
    xs: np.ndarray
    ys: np.ndarray

    @property
    def box_hw(self) -> tuple[int, int]:
        """Height and width of the object's bounding box (the size used by WD and PL1)."""
        y0, y1, x0, x1 = bbox(self.gt) or (0, 1, 0, 1)
        return y1 - y0, x1 - x0


def prev_mask_path(prev_masks: Path | None, s: ClickSet) -> Path | None:
    if s.click_type == "first":
        return None
    if prev_masks is None:
        raise ClicksFileError(
            f"click set {s.full_stem!r} is a {s.click_type} round: it needs --prev-masks, the "
            "folder of previous masks <full_stem>.png"
        )
    return Path(prev_masks) / f"{s.full_stem}.png"


def check_prev_masks(sets: Sequence[ClickSet], prev_masks: Path | None) -> list[str]:
    """Every missing previous mask, before any work starts."""
    problems = []
    for s in sets:
        p = prev_mask_path(prev_masks, s)
        if p is not None and not p.is_file():
            problems.append(f"{p}: previous mask of {s.full_stem!r} not found")
    return problems


def targets(
    dataset: Iterable[Sample],
    sets: Sequence[ClickSet],
    prev_masks: Path | None = None,
    device: str | None = None,
    unmatched: list[str] | None = None,
) -> Iterator[ClickTarget]:
    """Walk the dataset once and yield every click set that falls on one of its samples, with
    its object, error mask and real clicks in image pixels (filtered by ``device``). Sets
    whose image or object is not in the dataset are appended to ``unmatched``."""
    by_image: dict[str, list[ClickSet]] = {}
    for s in sets:
        by_image.setdefault(s.image_stem, []).append(s)
    seen: set[str] = set()
    for sample in dataset:
        todo = by_image.get(sample.sample_id)
        if not todo:
            continue
        seen.add(sample.sample_id)
        for s in todo:
            iid = instance_of(sample, s.object_stem)
            if iid is None:
                if unmatched is not None:
                    unmatched.append(f"{s.full_stem}: no instance {s.object_stem!r} in image")
                continue
            gt = np.asarray(sample.instances[iid], dtype=bool)
            p = prev_mask_path(prev_masks, s)
            prev = None if p is None else read_prev_mask(p, gt.shape)
            err = error_mask(s.click_type, gt, prev)
            xs, ys = s.in_image(gt.shape, device)
            yield ClickTarget(s, sample, iid, gt, err, xs, ys)
    if unmatched is not None:
        for stem, group in by_image.items():
            if stem not in seen:
                unmatched.extend(f"{s.full_stem}: image {stem!r} not in dataset" for s in group)
