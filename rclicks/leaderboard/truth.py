"""The ground truth a leaderboard keeps for a benchmark: every instance mask and every ignore
mask, read from the server's own copy of the data (never from a submission), encoded with the
masks codec (:mod:`rclicks.runs.masks`) and stored beside the reference.

:func:`read_truth` reads one dataset's samples and checks that they are the samples of the
reference it was built with (same ids, instance ids and sizes); :func:`truth_digest` is one
sha256 over all of it, recorded in the reference so that a change of ground truth is seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from rclicks.errors import BenchmarkError
from rclicks.runs.masks import MASK_CODEC, decode_mask, encode_mask


@dataclass(frozen=True)
class TruthRecord:
    """One instance's encoded ground truth (``ignore``: the sample's ignore mask or None)."""

    dataset: str
    sample_id: str
    instance_id: str
    height: int
    width: int
    gt: bytes
    ignore: bytes | None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.dataset, self.sample_id, self.instance_id

    def masks(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The decoded ``(gt, ignore)`` bool masks."""
        shape = (self.height, self.width)
        ignore = None if self.ignore is None else decode_mask(self.ignore, shape)
        return decode_mask(self.gt, shape), ignore


def read_truth(dataset: Any, label: str, reference: dict[str, Any]) -> Iterator[TruthRecord]:
    """Every instance of ``dataset`` (its reference entry ``reference``) as a record; raises
    :class:`BenchmarkError` when the samples are not the reference's."""
    expected = {s["sample_id"]: s["instances"] for s in reference["samples"]}
    seen: set[str] = set()
    for sample in dataset:
        sid = str(sample.sample_id)
        want = expected.get(sid)
        ids = [str(i) for i in sample.instances]
        if want is None or sorted(ids) != sorted(want):
            raise BenchmarkError(
                f"dataset {label!r}: sample {sid!r} changed while the reference was built"
            )
        seen.add(sid)
        h, w = sample.shape
        ignore = None if sample.ignore is None else encode_mask(np.asarray(sample.ignore, bool))
        for iid, mask in sample.instances.items():
            yield TruthRecord(
                label, sid, str(iid), h, w, encode_mask(np.asarray(mask, bool)), ignore
            )
    missing = sorted(set(expected) - seen)
    if missing:
        raise BenchmarkError(f"dataset {label!r}: sample(s) {missing[:3]} could not be read")


def truth_digest(records: Iterable[TruthRecord]) -> dict[str, Any]:
    """``{"codec", "instances", "sha256"}`` over the records in key order."""
    h = hashlib.sha256(MASK_CODEC.encode())
    n = 0
    for r in sorted(records, key=lambda r: r.key):
        n += 1
        for part in (*r.key, str(r.height), str(r.width)):
            h.update(part.encode() + b"\0")
        h.update(hashlib.sha256(r.gt).digest())
        h.update(b"-" if r.ignore is None else hashlib.sha256(r.ignore).digest())
    return {"codec": MASK_CODEC, "instances": n, "sha256": h.hexdigest()}
