"""COCO-format instance annotations (one JSON file) decoded through pycocotools.

- ``images`` of the JSON: one sample each, ``sample_id`` = ``file_name`` without its extension
  (slashes kept), in ``file_name`` order; the file is ``<images>/<file_name>``.
- ``annotations``: ``segmentation`` as polygons (a list of ``[x1, y1, x2, y2, ...]``), an
  uncompressed RLE (``counts`` a list) or a compressed RLE (``counts`` a string). Each
  non-crowd annotation is one instance, ``instance_id = str(annotation id)``.
- ``iscrowd: 1`` annotations are the ignore region (``crowd=ignore``, the default), or are
  left out (``crowd=skip``), or are instances like the others (``crowd=instance``).
- Images without any instance are left out of the dataset (``rclicks datasets check`` says how
  many); ``category_ids`` keeps only annotations of those categories.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from rclicks.datasets.base import FileDataset, Item, SampleError, read_image, short
from rclicks.types import Sample

CROWD_MODES = ("ignore", "skip", "instance")
# pycocotools' compiled decoder trips numpy 2's copy-keyword deprecation on every mask
warnings.filterwarnings(
    "ignore", message=r"__array__ implementation doesn't accept a copy", category=DeprecationWarning
)


class CocoJsonDataset(FileDataset):
    """Images + a COCO instances JSON (polygons and RLE)."""

    loader = "coco-json"

    def __init__(
        self,
        root: str | Path,
        annotations: str = "annotations.json",
        images: str = "images",
        name: str | None = None,
        crowd: str = "ignore",
        category_ids: list[int] | str | int | None = None,
    ) -> None:
        root = Path(root)
        super().__init__(root, name or root.resolve().name)
        if crowd not in CROWD_MODES:
            raise ValueError(f"crowd must be one of {', '.join(CROWD_MODES)}, got {crowd!r}")
        self.crowd = crowd
        cats = _int_list(category_ids)
        self.options = {"crowd": crowd, "category_ids": cats}
        self.ann_path = root / annotations
        self.images_dir = root / images
        if not self.ann_path.is_file():
            self.listing_problems.append(f"{self.ann_path}: annotation file not found")
            return
        try:
            data = json.loads(self.ann_path.read_text(encoding="utf-8"))
            imgs = list(data["images"])
            anns = list(data.get("annotations", []))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.listing_problems.append(f"{self.ann_path}: not a COCO JSON ({short(exc)})")
            return
        by_image: dict[Any, list[dict]] = {}
        for a in anns:
            if cats is not None and a.get("category_id") not in cats:
                continue
            by_image.setdefault(a.get("image_id"), []).append(a)
        seen: dict[str, str] = {}
        empty = 0
        for img in sorted(imgs, key=lambda im: str(im.get("file_name", ""))):
            fname = str(img.get("file_name", ""))
            if not fname:
                self.listing_problems.append(
                    f"{self.ann_path}: image {img.get('id')} has no file_name"
                )
                continue
            sid = str(PurePosixPath(fname).with_suffix(""))
            if sid in seen:
                self.listing_problems.append(
                    f"{self.ann_path}: {fname} has the same sample id as {seen[sid]}"
                )
                continue
            seen[sid] = fname
            mine = by_image.get(img.get("id"), [])
            if not any(self._is_instance(a) for a in mine):
                empty += 1
                continue
            self.items.append(Item(sid, {"image": self.images_dir / fname}, (img, mine)))
        if empty:
            self.notes.append(f"{empty} image(s) without any instance left out")
        if not self.items and not self.listing_problems:
            self.listing_problems.append(f"{self.ann_path}: no image has an instance")

    def inspect(self, item: Item):
        out = super().inspect(item)
        if out.record is not None:  # the sample's annotations are part of its data
            text = json.dumps(item.extra[1], sort_keys=True, separators=(",", ":"))
            out.record["files"]["annotations"] = {
                "path": self._rel(self.ann_path),
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
            }
        return out

    def _is_instance(self, a: dict) -> bool:
        return not a.get("iscrowd") or self.crowd == "instance"

    def load(self, item: Item) -> Sample:
        img_info, anns = item.extra
        image_path = item.files["image"]
        image = read_image(image_path)
        h, w = image.shape[:2]
        jh, jw = img_info.get("height"), img_info.get("width")
        if (jh, jw) != (None, None) and (jh, jw) != (h, w):
            raise SampleError(
                image_path,
                f"image is {w}×{h} but {self.ann_path.name} says {jw}×{jh} (image id "
                f"{img_info.get('id')})",
            )
        instances: dict[str, np.ndarray] = {}
        ignore = None
        for a in sorted(anns, key=lambda a: (str(a.get("id")),)):
            crowd = bool(a.get("iscrowd"))
            if crowd and self.crowd == "skip":
                continue
            m = self._decode(a, h, w)
            if crowd and self.crowd == "ignore":
                ignore = m if ignore is None else ignore | m
                continue
            iid = str(a.get("id"))
            if iid in instances:
                raise SampleError(self.ann_path, f"annotation id {iid} is used twice")
            instances[iid] = m
        meta = {"path": str(image_path), "image": str(image_path)}
        return Sample(item.sample_id, image, instances, ignore, meta)

    def _decode(self, ann: dict, h: int, w: int) -> np.ndarray:
        from pycocotools import mask as cmask

        seg = ann.get("segmentation")
        where = f"annotation {ann.get('id')} (image id {ann.get('image_id')})"
        try:
            if isinstance(seg, list):
                polys = [list(map(float, p)) for p in seg if len(p) >= 6]
                if not polys:
                    raise ValueError("no polygon with 3 or more points")
                rle = cmask.merge(cmask.frPyObjects(polys, h, w))
            elif isinstance(seg, dict) and "counts" in seg:
                size = list(seg.get("size", [h, w]))
                if size != [h, w]:
                    raise ValueError(f"RLE size {size} is not the image's {[h, w]}")
                if isinstance(seg["counts"], list):
                    rle = cmask.frPyObjects(seg, h, w)
                else:
                    counts = seg["counts"]
                    rle = {
                        "size": size,
                        "counts": counts.encode() if isinstance(counts, str) else counts,
                    }
            else:
                raise ValueError(f"unknown segmentation of type {type(seg).__name__}")
            m = cmask.decode(rle)
        except SampleError:
            raise
        except Exception as exc:  # noqa: BLE001 - pycocotools raises many kinds
            raise SampleError(self.ann_path, f"{where}: bad segmentation ({short(exc)})") from None
        if m.ndim == 3:
            m = m.any(axis=2)
        return m.astype(bool)


def _int_list(value: Any) -> list[int] | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        return [int(v) for v in value.replace(",", " ").split()]
    return [int(v) for v in value]
