"""The predicted masks of a run (``masks.parquet``, CONTRACT §10): one row per click holding
the model's mask after that click, so that anyone with the ground truth can recompute every
IoU and re-derive every click.

Encoding (``rle-xor-1``): one mode byte, then the set pixels in row-major order as runs —
pairs ``(zeros before the run, length of the run)`` — written as LEB128 varints. Mode 0: the
runs are those of the mask XOR the trajectory's previous mask (the empty mask before click
1), which is small when a click changes a small region; mode 1: the runs of the mask itself.
The encoder writes whichever is shorter; the parquet column is then zstd-compressed.
:func:`decode_mask` trusts nothing: the varints, the run lengths and the total are checked
against the image size before a mask is built.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rclicks.runs.schema import ROW_SCHEMA, SORT_KEYS, TRAJECTORY_KEYS

MASKS = "masks.parquet"
MASK_CODEC = "rle-xor-1"

MASK_SCHEMA = pa.schema(
    [
        *(ROW_SCHEMA.field(name) for name in SORT_KEYS),  # a row's key, typed as in the rows
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("rle", pa.binary()),
    ],
    metadata={b"rclicks.codec": MASK_CODEC.encode()},
)
MASK_COLUMNS: tuple[str, ...] = tuple(MASK_SCHEMA.names)
#: the largest image a mask may describe (runs are counted in uint32)
MAX_PIXELS = 1 << 31


class MaskCodecError(ValueError):
    """An encoded mask that does not decode to a mask of the stated size."""


# -- varints ------------------------------------------------------------------------------------


def _varints(values: np.ndarray) -> bytes:
    """Non-negative integers (< 2**35) as LEB128: 7 bits a byte, high bit = more follow."""
    v = np.asarray(values, dtype=np.uint64)
    if v.size == 0:
        return b""
    nbytes = np.ones(v.size, dtype=np.int64)
    for k in range(1, 5):
        nbytes += v >= (np.uint64(1) << np.uint64(7 * k))
    out = np.empty(int(nbytes.sum()), dtype=np.uint8)
    starts = np.cumsum(nbytes) - nbytes
    for k in range(5):
        has = nbytes > k
        byte = (v[has] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (nbytes[has] > k + 1).astype(np.uint64) << np.uint64(7)
        out[starts[has] + k] = (byte | more).astype(np.uint8)
    return out.tobytes()


def _unvarints(data: bytes) -> np.ndarray:
    """The integers of a LEB128 byte string; :class:`MaskCodecError` when it is cut short or
    a number takes more than 5 bytes."""
    b = np.frombuffer(data, dtype=np.uint8)
    if b.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = b < 0x80
    if not last[-1]:
        raise MaskCodecError("the last number is cut short")
    ends = np.flatnonzero(last)
    starts = np.concatenate([[0], ends[:-1] + 1])
    if int((ends - starts).max()) > 4:
        raise MaskCodecError("a number takes more than 5 bytes")
    pos = np.arange(b.size) - np.repeat(starts, ends - starts + 1)
    parts = (b & 0x7F).astype(np.int64) << (7 * pos)
    return np.add.reduceat(parts, starts)


# -- masks --------------------------------------------------------------------------------------


RELATIVE, ABSOLUTE = 0, 1


def encode_mask(mask: np.ndarray, previous: np.ndarray | None = None) -> bytes:
    """``mask`` (bool H×W), relative to ``previous`` (``None``: the empty mask) or on its
    own, whichever is shorter."""
    flat = np.asarray(mask, dtype=bool).ravel()
    alone = bytes([ABSOLUTE]) + _runs(flat)
    if previous is None:
        return alone
    relative = bytes([RELATIVE]) + _runs(flat ^ np.asarray(previous, dtype=bool).ravel())
    return relative if len(relative) < len(alone) else alone


def _runs(flat: np.ndarray) -> bytes:
    on = np.flatnonzero(flat)
    if on.size == 0:
        return b""
    breaks = np.flatnonzero(np.diff(on) != 1) + 1
    starts = on[np.concatenate([[0], breaks])]
    ends = on[np.concatenate([breaks - 1, [on.size - 1]])] + 1
    gaps = starts - np.concatenate([[0], ends[:-1]])
    pairs = np.empty(2 * starts.size, dtype=np.int64)
    pairs[0::2], pairs[1::2] = gaps, ends - starts
    return _varints(pairs)


def decode_mask(
    data: bytes, shape: tuple[int, int], previous: np.ndarray | None = None
) -> np.ndarray:
    """The bool mask of ``shape`` that ``data`` encodes (relative to ``previous``).
    :class:`MaskCodecError` when ``data`` is not a valid encoding for that size."""
    h, w = int(shape[0]), int(shape[1])
    n = h * w
    if not 0 < n <= MAX_PIXELS:
        raise MaskCodecError(f"an image of {h}×{w} pixels")
    if not data or data[0] not in (RELATIVE, ABSOLUTE):
        raise MaskCodecError("no valid mode byte")
    if len(data) > 10 * n + 1:  # two 5-byte numbers per pixel at most
        raise MaskCodecError(f"{len(data)} bytes cannot describe a {h}×{w} mask")
    mode = data[0]
    pairs = _unvarints(bytes(data[1:]))
    if pairs.size % 2:
        raise MaskCodecError("an odd count of run lengths")
    lengths = pairs[1::2]
    if lengths.size and int(lengths.min()) < 1:
        raise MaskCodecError("a run of length 0")
    if pairs.size and int(pairs[2::2].min(initial=1)) < 1:
        raise MaskCodecError("two runs without a gap between them")
    total = int(pairs.sum())
    if total > n:
        raise MaskCodecError(f"its runs cover {total} pixels, the {h}×{w} mask has {n}")
    values = np.zeros(pairs.size, dtype=bool)
    values[1::2] = True
    flat = np.zeros(n, dtype=bool)
    flat[:total] = np.repeat(values, pairs)
    mask = flat.reshape(h, w)
    if mode == RELATIVE and previous is not None:
        mask ^= np.asarray(previous, dtype=bool)
    return mask


# -- the file -----------------------------------------------------------------------------------


def empty_masks() -> dict[str, list]:
    return {name: [] for name in MASK_COLUMNS}


def masks_table(rows: Mapping[str, list]) -> pa.Table:
    return pa.Table.from_pydict(dict(rows), schema=MASK_SCHEMA)


def write_masks(path: Path, table: pa.Table) -> None:
    """``table`` as a zstd-compressed parquet file, atomically."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    keys = [f.name for f in MASK_SCHEMA if f.name != "rle"]  # masks rarely repeat
    pq.write_table(table, tmp, compression="zstd", use_dictionary=keys)
    os.replace(tmp, path)


def sort_masks(table: pa.Table) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in SORT_KEYS])


def trajectory_masks(table: pa.Table) -> Iterator[tuple[tuple, list[np.ndarray]]]:
    """``(trajectory key, masks after clicks 1..K)`` for every trajectory of a masks table
    (``masks.parquet`` read with pyarrow), decoded in click order."""
    t = sort_masks(table)
    cols = {n: t.column(n).to_pylist() for n in (*TRAJECTORY_KEYS, "height", "width")}
    rle = t.column("rle")
    i, n = 0, t.num_rows
    while i < n:
        key = tuple(cols[k][i] for k in TRAJECTORY_KEYS)
        j = i
        while j < n and tuple(cols[k][j] for k in TRAJECTORY_KEYS) == key:
            j += 1
        shape = (cols["height"][i], cols["width"][i])
        prev, out = None, []
        for r in range(i, j):
            prev = decode_mask(rle[r].as_py(), shape, prev)
            out.append(prev)
        yield key, out
        i = j
