"""SBD and PASCAL VOC in their own layouts.

SBD (as in ``isegm/data/datasets/sbd.py``, ``SBDEvaluationDataset``): ``ROOT/<split>.txt``
lists image names; ``ROOT/img/<name>.jpg`` and ``ROOT/inst/<name>.mat``, whose ``GTinst``
struct holds ``Segmentation``, an id map. Every non-zero id is one instance,
``instance_id = str(id)``. No ignore region.

PASCAL VOC (as in ``isegm/data/datasets/pascalvoc.py``): ``ImageSets/Segmentation/<split>.txt``,
``JPEGImages/<name>.jpg``, ``SegmentationObject/<name>.png``. The object PNG is a palette image:
index 0 is background, index 255 (the light border drawn around every object, colour
(224, 224, 192)) is ignored, every other index is one instance, ``instance_id = str(index)``.
The reference converts the palette colours to grey values and uses those as ids (the border's
grey value is 220); that is the same partition except that VOC colours 1 and 16, 3 and 18,
6 and 21 ... share a grey value, so the reference merges those objects on the few images with
16 or more objects. rclicks keeps them apart. RGB object masks are mapped back to indices
through the VOC colour map; an unknown colour is an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rclicks.datasets.base import (
    FileDataset,
    Item,
    SampleError,
    data_root,
    file_meta,
    label_instances,
    read_image_and_mask,
    read_palette_mask,
    short,
)
from rclicks.types import Sample

VOC_IGNORE = 255


def _list_file(path: Path) -> tuple[list[str], list[str]]:
    if not path.is_file():
        return [], [f"{path}: split list not found"]
    names, problems, seen = [], [], set()
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if not s:
            continue
        if s in seen:
            problems.append(f"{path}: {s!r} is listed twice (duplicate sample id)")
            continue
        seen.add(s)
        names.append(s)
    if not names and not problems:
        problems.append(f"{path}: the split list is empty")
    return names, problems


class SBDDataset(FileDataset):
    """SBD: ``ROOT/<split>.txt``, ``img/<name>.jpg``, ``inst/<name>.mat`` (``GTinst``)."""

    loader = "SBD"

    def __init__(
        self, root: str | Path | None = None, name: str | None = None, split: str = "val"
    ) -> None:
        root = data_root(root, "SBD")
        super().__init__(root, name or "SBD")
        self.options = {"split": split}
        names, self.listing_problems = _list_file(root / f"{split}.txt")
        for n in names:
            self.items.append(
                Item(n, {"image": root / "img" / f"{n}.jpg", "mask": root / "inst" / f"{n}.mat"})
            )

    def load(self, item: Item) -> Sample:
        image, labels = read_image_and_mask(item, read_sbd_mat, what="instance file")
        return Sample(item.sample_id, image, label_instances(labels), None, file_meta(item))


def read_sbd_mat(path: Path) -> np.ndarray:
    """``GTinst.Segmentation`` of an SBD ``inst/*.mat`` file as an H×W integer array."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises many kinds
        raise SampleError(path, f"unreadable .mat file ({short(exc)})") from None
    if "GTinst" not in mat:
        raise SampleError(path, "no GTinst struct in the .mat file (not an SBD instance file?)")
    gt = mat["GTinst"]
    try:
        names = gt.dtype.names or ()
        seg = gt["Segmentation"][0, 0] if "Segmentation" in names else gt[0][0][0]
        labels = np.asarray(seg)
    except Exception as exc:  # noqa: BLE001
        raise SampleError(path, f"GTinst has no Segmentation map ({short(exc)})") from None
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise SampleError(
            path,
            f"GTinst.Segmentation must be a 2-D integer map, got {labels.dtype} {labels.shape}",
        )
    return labels.astype(np.int32)


def voc_colormap(n: int = 256) -> np.ndarray:
    """The PASCAL VOC palette: n×3 ``uint8`` RGB."""
    out = np.zeros((n, 3), np.uint8)
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[i] = (r, g, b)
    return out


_VOC_CODES = {int(c[0]) << 16 | int(c[1]) << 8 | int(c[2]): i for i, c in enumerate(voc_colormap())}


def read_voc_indices(path: Path) -> np.ndarray:
    """The H×W palette indices of a VOC object PNG; an RGB rendering is mapped back through the
    VOC colour map (an unknown colour is a :class:`SampleError` naming the file)."""
    raw, _palette = read_palette_mask(path)
    if raw.ndim == 2:
        return raw
    codes = (
        raw[..., 0].astype(np.int32) << 16
        | raw[..., 1].astype(np.int32) << 8
        | raw[..., 2].astype(np.int32)
    )
    uniq, inv = np.unique(codes, return_inverse=True)
    lut = np.array([_VOC_CODES.get(int(u), -1) for u in uniq], dtype=np.int32)
    if (lut < 0).any():
        bad = [f"#{int(u):06x}" for u, k in zip(uniq, lut) if k < 0][:5]
        raise SampleError(path, f"colours not in the VOC palette: {', '.join(bad)}")
    return lut[inv].reshape(codes.shape)


class PascalVOCDataset(FileDataset):
    """PASCAL VOC 2012 instances: ``SegmentationObject`` palette PNGs, 255 = ignore."""

    loader = "PascalVOC"

    def __init__(
        self, root: str | Path | None = None, name: str | None = None, split: str = "val"
    ) -> None:
        root = data_root(root, "PascalVOC")
        super().__init__(root, name or "PascalVOC")
        self.options = {"split": split}
        if split == "test":
            self.listing_problems.append(
                f"{root}: split 'test' (the reference's pickled instance list) is not supported"
            )
            return
        names, self.listing_problems = _list_file(
            root / "ImageSets" / "Segmentation" / f"{split}.txt"
        )
        for n in names:
            self.items.append(
                Item(
                    n,
                    {
                        "image": root / "JPEGImages" / f"{n}.jpg",
                        "mask": root / "SegmentationObject" / f"{n}.png",
                    },
                )
            )

    def load(self, item: Item) -> Sample:
        image, raw = read_image_and_mask(item, read_voc_indices)
        instances = label_instances(raw, skip=(0, VOC_IGNORE))
        return Sample(item.sample_id, image, instances, raw == VOC_IGNORE, file_meta(item))
