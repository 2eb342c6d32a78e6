"""The one dataset check every run starts with, and the manifest it builds.

:func:`check_dataset` returns the problems (one message per bad file or sample) and, when there
are none, the dataset's manifest: per sample its id, size, instance ids, ignore pixel count and
the sha256 of its files, plus one ``sha256`` over all of it (without paths or the dataset's
name; see :func:`rclicks.datasets.base.build_manifest`). Two runs — or a run and a leaderboard
— with the same digest used the same data.

A :class:`~rclicks.datasets.base.FileDataset` (the folder layout and the benchmark loaders)
checks itself and builds the manifest on the way. Any other ``rclicks.Dataset`` (a plugin's)
runs its own ``check()`` first when it has one, then is loaded once: every sample is validated
and recorded; the files a sample names in ``meta`` are hashed, and when it names none its
decoded arrays are (``content_sha256``).
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rclicks.datasets.base import (
    FileDataset,
    build_manifest,
    file_record,
    sample_record,
    short,
)
from rclicks.datasets.prefetch import DEFAULT_DEPTH, prefetch
from rclicks.errors import SampleError
from rclicks.protocols import CheckableDataset, described_name, is_prefetch_safe
from rclicks.types import Sample, validate_sample

MANIFEST_FILE = "manifest.json"

#: ``Sample.meta`` keys that name a sample's files (``path`` is its image, as in the loaders)
META_FILE_KEYS = {"path": "image", "image": "image", "mask": "mask", "ignore": "ignore"}


@dataclass
class CheckResult:
    """What :func:`check_dataset` found: one message per problem and, when there is none, the
    dataset's manifest (``None`` otherwise)."""

    problems: list[str]
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """No problem: every file is readable and every sample usable."""
        return not self.problems


def check_dataset(dataset: Any, limit: int | None = None) -> CheckResult:
    """Check ``dataset`` (its first ``limit`` samples; all when ``None``) and build its manifest.

    Never raises for a dataset that fails: an exception while checking or loading is a problem
    naming the dataset (and the sample, when it is fetched by index)."""
    if isinstance(dataset, FileDataset):
        problems = dataset.check(limit=limit)
        return CheckResult(problems, None if problems else dataset.manifest())
    name = described_name(dataset, type(dataset).__name__)
    if isinstance(dataset, CheckableDataset):
        try:
            problems = [str(p) for p in _own_check(dataset, limit)]
        except Exception as exc:  # noqa: BLE001 - a plugin's check failing is a problem
            problems = [_failure(name, exc)]
        if problems:
            return CheckResult(problems)
    problems, records = [], []
    root = getattr(dataset, "root", None)
    for sample in _load_once(dataset, limit, name, problems):
        sid = getattr(sample, "sample_id", "?")
        try:
            found = validate_sample(sample)
            if not found:
                records.append(_record(sample, root))
        except Exception as exc:  # noqa: BLE001 - not a Sample, arrays of the wrong kind, ...
            found = [f"{type(exc).__name__}: {short(exc)}"]
        problems += [f"{sid}: {p}" for p in found]
    if not records and not problems and (limit is None or limit > 0):
        problems.append(f"{name}: no samples found")
    if problems:
        return CheckResult(problems)
    loader = type(dataset).__name__
    return CheckResult([], build_manifest(name, loader, {}, records, limit))


def _own_check(dataset: CheckableDataset, limit: int | None) -> list[str]:
    """``dataset.check(limit=limit)``, or ``dataset.check()`` when it takes no ``limit``."""
    try:
        params = inspect.signature(dataset.check).parameters
    except (TypeError, ValueError):  # no signature to read: assume the protocol's
        return list(dataset.check(limit=limit))
    takes_limit = "limit" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
    return list(dataset.check(limit=limit) if takes_limit else dataset.check())


def _load_once(dataset: Any, limit: int | None, name: str, problems: list[str]) -> Iterator[Sample]:
    """The first ``limit`` samples, each loaded once: by index, decoded ahead in threads, when
    the dataset is prefetch-safe (a failing sample is a problem and the rest goes on), else by
    iterating (a failure is a problem and ends the pass). Problems are appended to
    ``problems``."""
    try:
        if is_prefetch_safe(dataset):
            ids = list(dataset.sample_ids())
            n = len(ids) if limit is None else min(len(ids), limit)
            for i, sample, exc in prefetch(dataset.__getitem__, range(n), DEFAULT_DEPTH):
                if exc is None:
                    yield sample
                else:
                    problems.append(_failure(f"{name}: sample {ids[i]!r}", exc))
        else:
            yield from itertools.islice(iter(dataset), limit)
    except Exception as exc:  # noqa: BLE001 - a plugin dataset failing to load is a problem
        problems.append(_failure(name, exc))


def _failure(where: str, exc: BaseException) -> str:
    """The problem message for an exception: a SampleError names its file already."""
    if isinstance(exc, SampleError):
        return str(exc)
    return f"{where}: {type(exc).__name__}: {short(exc)}"


def sample_files(sample: Sample) -> dict[str, Path]:
    """The existing files a sample names in ``meta`` (role -> path, see
    :data:`META_FILE_KEYS`)."""
    files: dict[str, Path] = {}
    for key, role in META_FILE_KEYS.items():
        value = (sample.meta or {}).get(key)
        if isinstance(value, (str, os.PathLike)) and str(value) and role not in files:
            path = Path(value)
            if path.is_file():
                files[role] = path
    return files


def content_sha256(sample: Sample) -> str:
    """sha256 over a sample's decoded image (H×W×3, with its shape and dtype), instance masks
    (H×W, by id, in order) and ignore mask."""
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


def _record(sample: Sample, root: str | Path | None) -> dict[str, Any]:
    files = {role: file_record(p, root) for role, p in sample_files(sample).items()}
    rec = sample_record(sample, files)
    if not files:
        rec["content_sha256"] = content_sha256(sample)
    return rec


def write_manifest(
    path: Path, manifests: list[dict[str, Any]], rclicks_version: str | None
) -> None:
    """Write ``{"rclicks": version, "datasets": manifests}`` to ``path`` (atomically)."""
    data = {
        "rclicks": rclicks_version,
        "datasets": manifests,
    }
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
