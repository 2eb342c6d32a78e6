"""The dataset check and manifest every run starts with.

``check_and_manifest(dataset, limit)`` returns the problems (one message per bad file) and,
when there are none, the dataset's manifest: per sample its id, size, instance ids, ignore
pixel count and the sha256 of its files, plus one ``sha256`` over all of it (without paths or
the dataset's name). Two runs — or a run and a leaderboard — with the same digest used the
same data.

The benchmark loaders (:class:`rclicks.datasets.base.FileDataset`) build the manifest while
checking. Other datasets are checked as before (their own ``check()`` or a validating pass),
then read once more for the manifest; when a sample names no files, its decoded arrays are
hashed instead (``content_sha256``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rclicks.datasets.base import FileDataset, build_manifest, sha256_file
from rclicks.datasets.folder import FolderDataset, check_dataset
from rclicks.types import Sample, validate_sample

MANIFEST_FILE = "manifest.json"


def check_and_manifest(dataset: Any, limit: int | None = None) -> tuple[list[str], dict | None]:
    if isinstance(dataset, FileDataset):
        problems = dataset.check(limit=limit)
        return problems, (None if problems else dataset.manifest())
    if not hasattr(dataset, "check"):  # validate and hash in the same single pass
        return _check_by_loading(dataset, limit)
    problems = check_dataset(dataset, limit)
    if problems:
        return problems, None
    return problems, generic_manifest(dataset, limit)


def _check_by_loading(dataset: Any, limit: int | None) -> tuple[list[str], dict | None]:
    """What :func:`rclicks.datasets.folder.check_dataset` does for a dataset without
    ``check()`` (load every sample once and validate it), building the manifest on the way."""
    problems: list[str] = []
    records: list[dict[str, Any]] = []
    try:
        for i, sample in enumerate(dataset):
            if limit is not None and i >= limit:
                break
            found = validate_sample(sample)
            problems += [f"{sample.sample_id}: {p}" for p in found]
            if not found:
                records.append(_record(dataset, sample, Path(getattr(dataset, "root", "") or ".")))
    except Exception as exc:  # noqa: BLE001 - a plugin dataset failing to load is a problem
        problems.append(f"{getattr(dataset, 'name', dataset)}: {type(exc).__name__}: {exc}")
    if problems:
        return problems, None
    loader = type(dataset).__name__
    return problems, build_manifest(getattr(dataset, "name", loader), loader, {}, records, limit)


def content_sha256(sample: Sample) -> str:
    """sha256 over a sample's decoded image, instance masks (by id) and ignore mask."""
    h = hashlib.sha256()
    img = np.ascontiguousarray(sample.image)
    h.update(f"image {img.shape} {img.dtype}\0".encode())
    h.update(img.tobytes())
    for iid, m in sample.instances.items():
        h.update(f"instance {iid}\0".encode())
        h.update(np.packbits(np.asarray(m, dtype=bool)).tobytes())
    if sample.ignore is not None:
        h.update(b"ignore\0")
        h.update(np.packbits(np.asarray(sample.ignore, dtype=bool)).tobytes())
    return h.hexdigest()


def _sample_files(dataset: Any, sample: Sample) -> dict[str, Path]:
    files: dict[str, Path] = {}
    meta = sample.meta or {}
    if meta.get("path"):
        files["image"] = Path(meta["path"])
    if isinstance(dataset, FolderDataset):
        files["mask"] = dataset.masks_dir / f"{sample.sample_id}.png"
    return {k: v for k, v in files.items() if v.is_file()}


def generic_manifest(dataset: Any, limit: int | None = None) -> dict[str, Any]:
    """The manifest of any ``rclicks.Dataset`` (indexable ones are read ahead in threads when
    they say that is safe)."""
    from rclicks.datasets.prefetch import prefetch

    root = Path(getattr(dataset, "root", "") or ".")
    n = len(dataset) if limit is None else min(len(dataset), limit)
    indexable = hasattr(dataset, "__getitem__") and hasattr(dataset, "sample_ids")
    if indexable:
        depth = 4 if prefetch_safe(dataset) else 0
        samples = (
            s for _i, s, exc in prefetch(dataset.__getitem__, range(n), depth) if _raise(exc)
        )
    else:
        samples = (s for i, s in zip(range(n), dataset))
    records = [_record(dataset, s, root) for s in samples]
    loader = type(dataset).__name__
    return build_manifest(getattr(dataset, "name", loader), loader, {}, records, limit)


def _record(dataset: Any, s: Sample, root: Path) -> dict[str, Any]:
    files = {}
    for role, path in _sample_files(dataset, s).items():
        try:
            rel = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = str(path)
        files[role] = {"path": rel, "sha256": sha256_file(path)}
    rec = {
        "sample_id": s.sample_id,
        "size": list(s.shape),
        "instances": list(s.instances),
        "ignore_pixels": 0 if s.ignore is None else int(np.count_nonzero(s.ignore)),
        "files": files,
    }
    if not files:
        rec["content_sha256"] = content_sha256(s)
    return rec


def _raise(exc: BaseException | None) -> bool:
    if exc is not None:
        raise exc
    return True


def prefetch_safe(dataset: Any) -> bool:
    """May ``dataset[i]`` run in several threads at once? The built-in loaders say so with
    ``prefetch_safe = True``; a plugin dataset opts in the same way."""
    return bool(getattr(dataset, "prefetch_safe", False)) or isinstance(dataset, FolderDataset)


def write_manifest(
    path: Path, manifests: list[dict[str, Any]], rclicks_version: str | None
) -> None:
    data = {
        "rclicks": rclicks_version,
        "datasets": manifests,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
