"""Re-deriving a submission from its masks (CONTRACT §10): a result is ranked only on what
the server recomputed from the model's own predictions and its own ground truth.

For every trajectory, click after click, from the empty prediction:

1. the side of the click is re-derived from the previous mask with the engine's click rule
   (:func:`rclicks.clicks.click_side`, the clicked pixels zeroed) and must be the row's;
2. a baseline click must be the rule's point exactly (the first deepest point of the chosen
   error); a density click must lie in the chosen error region and not on a pixel clicked
   before — or be the rule's point, which is where a density with nothing left falls back;
3. the mask after the click is decoded and its IoU against the ground truth
   (:class:`rclicks.clicks.Target`, ignore pixels excluded) must equal the row's (1e-9).

The first row that disagrees is named in a :class:`SubmissionError` (422). Identical
predictions within an instance share their IoU and error distances (every trajectory starts
from the same empty mask; a few recent predictions are kept). Instances are independent, so
a server checks them on a pool of processes; the answer (and the row named) is the same.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rclicks.clicks import DistanceMap, Target, click_side, distances_of
from rclicks.errors import SubmissionError
from rclicks.leaderboard.benchmarks import BASELINE
from rclicks.leaderboard.truth import TruthRecord
from rclicks.runs.masks import MaskCodecError, decode_mask
from rclicks.runs.schema import SORT_KEYS

IOU_TOL = 1e-9
#: predictions of one instance whose IoU and distances are kept for reuse
CACHE = 32


def _first_difference(a: pa.Table, b: pa.Table) -> int | None:
    """Index of the first row whose keys differ, or None."""
    same = None
    for k in SORT_KEYS:
        eq = pc.equal(a.column(k), b.column(k))
        same = eq if same is None else pc.and_(same, eq)
    if same is None or pc.all(same).as_py():
        return None
    return int(pc.index(same, False).as_py())


class _State:
    """A prediction of one instance: its IoU and its error regions' distances."""

    __slots__ = ("iou", "fn", "fp")

    def __init__(self, iou: float, fn: DistanceMap, fp: DistanceMap) -> None:
        self.iou, self.fn, self.fp = iou, fn, fp


_COLUMNS = (*SORT_KEYS, "row", "x", "y", "positive", "iou", "height", "width", "rle")


def _where(col: Mapping[str, list], i: int) -> str:
    return (
        f"per_click.parquet row {col['row'][i]} ({col['dataset'][i]}/{col['sample_id'][i]}/"
        f"{col['instance_id'][i]} {col['simulator'][i]} group {col['group'][i]} repeat "
        f"{col['repeat'][i]} click {col['click'][i]})"
    )


def check_instance(col: Mapping[str, list], record: TruthRecord) -> tuple[int, str] | None:
    """Every trajectory of one instance (``col``: its rows, sorted, as lists of
    :data:`_COLUMNS`) against its ground truth; ``(index, problem)`` of the first bad row,
    or None."""
    gt, ignore = record.masks()
    target = Target(gt, ignore)
    shape = target.shape
    h, w = shape
    fn, fp = distances_of(target.start(), shape)
    states: dict[bytes, _State] = {b"": _State(float("nan"), fn, fp)}  # the empty prediction
    n = len(col["click"])
    i = 0
    while i < n:
        traj = (col["simulator"][i], col["group"][i], col["repeat"][i])
        state = states[b""]
        prev: np.ndarray | None = None
        clicked: list[int] = []
        while i < n and (col["simulator"][i], col["group"][i], col["repeat"][i]) == traj:
            x, y, positive = col["x"][i], col["y"][i], col["positive"][i]
            # 1. the side, from the previous mask
            side = click_side(state.fn, state.fp, np.array(clicked, dtype=np.int64))
            if not (0 <= x < w and 0 <= y < h):
                return i, f"click ({x}, {y}) is outside the {w}×{h} image"
            if bool(positive) != side.positive:
                return i, (
                    f"the click is {'positive' if positive else 'negative'}, but the previous "
                    f"mask calls for a {'positive' if side.positive else 'negative'} one"
                )
            # 2. the click itself
            ry, rx = side.distances.first_argmax()
            flat = y * w + x
            if traj[0] == BASELINE:
                if (x, y) != (rx, ry):
                    return i, (
                        f"baseline click at ({x}, {y}), but the click rule on the previous "
                        f"mask gives ({rx}, {ry})"
                    )
            elif (x, y) != (rx, ry):
                region = "false-negative" if side.positive else "false-positive"
                if side.region.positions(np.array([flat], dtype=np.int64)).size == 0:
                    return i, f"click ({x}, {y}) is not in the {region} region of the previous mask"
                if flat in clicked:
                    return i, f"click ({x}, {y}) repeats an earlier click"
            clicked.append(flat)
            # 3. the mask after the click and its IoU
            if (col["height"][i], col["width"][i]) != shape:
                return i, f"its mask is {col['width'][i]}×{col['height'][i]}, the image {w}×{h}"
            try:
                mask = decode_mask(col["rle"][i], shape, prev)
            except MaskCodecError as exc:
                return i, f"its mask does not decode ({exc})"
            digest = hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest()
            state = states.get(digest)  # type: ignore[assignment]
            if state is None:
                iou, errors = target.evaluate(mask.copy())
                fn, fp = distances_of(errors, shape)
                state = _State(iou, fn, fp)
                if len(states) >= CACHE:  # forget the oldest, never the empty prediction
                    del states[next(k for k in states if k != b"")]
                states[digest] = state
            submitted = float(col["iou"][i])
            same = (
                math.isnan(state.iou)
                and math.isnan(submitted)
                or (math.isfinite(submitted) and abs(submitted - state.iou) <= IOU_TOL)
            )
            if not same:
                return i, f"IoU {submitted!r} submitted, {state.iou!r} recomputed from its mask"
            prev = mask
            i += 1
    return None


def _check_chunk(
    work: list[tuple[dict[str, list], TruthRecord]],
) -> tuple[int, str] | None:
    """The first bad row of the first bad instance of ``work`` (instances in order), as
    ``(its position in the sorted file, the message)``."""
    for col, record in work:
        found = check_instance(col, record)
        if found is not None:
            i, problem = found
            return col["position"][i], f"{_where(col, i)}: {problem}"
    return None


def verify_masks(
    rows: pa.Table,
    masks: pa.Table,
    truth: Mapping[tuple[str, str, str], TruthRecord],
    pool: Executor | None = None,
) -> dict[str, Any]:
    """Check every row of ``rows`` (``per_click.parquet``, coverage already checked) against
    its mask in ``masks`` (``masks.parquet``) and the ground truth ``truth``; returns what was
    checked. Raises :class:`SubmissionError` naming the first bad row. ``pool``: an executor
    (processes) to check instances on in parallel; the answer is the same."""
    t0 = time.perf_counter()
    if masks.num_rows != rows.num_rows:
        raise SubmissionError(
            f"masks.parquet: {masks.num_rows} masks for {rows.num_rows} clicks in per_click.parquet"
        )
    order = [(k, "ascending") for k in SORT_KEYS]
    rows = rows.append_column("row", pa.array(np.arange(rows.num_rows))).sort_by(order)
    masks = masks.sort_by(order)
    diff = _first_difference(rows, masks)
    if diff is not None:
        key = "/".join(str(rows.column(k)[diff].as_py()) for k in SORT_KEYS)
        raise SubmissionError(
            f"masks.parquet: no mask for per_click.parquet row {rows.column('row')[diff]} ({key})"
        )
    col = {n: rows.column(n).to_pylist() for n in (*SORT_KEYS, "row", "x", "y", "positive")}
    col["iou"] = rows.column("iou").to_numpy().tolist()
    for n in ("height", "width", "rle"):
        col[n] = masks.column(n).to_pylist()
    col["position"] = list(range(rows.num_rows))
    # one unit of work per instance, in file order
    work: list[tuple[dict[str, list], TruthRecord]] = []
    n, i = rows.num_rows, 0
    trajectories = 0
    keys = list(zip(col["dataset"], col["sample_id"], col["instance_id"]))
    while i < n:
        j = i
        while j < n and keys[j] == keys[i]:
            j += 1
        record = truth.get(keys[i])
        if record is None:
            raise SubmissionError(
                f"the server has no ground truth for {'/'.join(keys[i])}; it cannot verify "
                "submissions of this benchmark until `rclicks leaderboard benchmark add` runs",
                503,
            )
        part = {name: values[i:j] for name, values in col.items()}
        trajectories += len(set(zip(part["simulator"], part["group"], part["repeat"])))
        work.append((part, record))
        i = j
    if pool is None:
        found = _check_chunk(work)
    else:
        chunks = _chunks(work, 4 * max(1, getattr(pool, "_max_workers", 1)))
        answers = [a for a in pool.map(_check_chunk, chunks) if a is not None]
        found = min(answers) if answers else None
    if found is not None:
        raise SubmissionError(found[1])
    return {
        "level": "masks",
        "trajectories": trajectories,
        "clicks": n,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _chunks(work: list, parts: int) -> list[list]:
    """``work`` cut into about ``parts`` runs of consecutive items of similar row counts."""
    total = sum(len(c["click"]) for c, _ in work)
    size = max(1, total // parts)
    out: list[list] = [[]]
    rows = 0
    for item in work:
        if rows >= size:
            out.append([])
            rows = 0
        out[-1].append(item)
        rows += len(item[0]["click"])
    return [c for c in out if c]
