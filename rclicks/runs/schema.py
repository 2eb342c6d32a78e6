"""The per-click rows of a run (``per_click.parquet``, CONTRACT §6): their schema, their order,
and reading them back as numpy columns or a pandas DataFrame."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROW_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("sample_id", pa.string()),
        ("instance_id", pa.string()),
        ("simulator", pa.string()),
        ("group", pa.int16()),
        ("repeat", pa.int16()),
        ("click", pa.int16()),
        ("x", pa.int32()),
        ("y", pa.int32()),
        ("positive", pa.bool_()),
        ("iou", pa.float64()),
        ("seconds", pa.float64()),
        ("biou", pa.float64()),
    ]
)
COLUMNS: tuple[str, ...] = tuple(ROW_SCHEMA.names)
#: columns that may hold nulls, and that files written before them lack: ``biou`` (boundary
#: IoU) is filled for TETRIS trajectories and with ``--biou``, empty otherwise
NULLABLE: tuple[str, ...] = ("biou",)
#: the order of ``per_click.parquet``: one trajectory after another, clicks in order
SORT_KEYS = ["dataset", "sample_id", "instance_id", "simulator", "group", "repeat", "click"]
#: the columns that identify a trajectory
TRAJECTORY_KEYS = SORT_KEYS[:-1]


def empty_rows() -> dict[str, list]:
    """Columns to append one click after another to (see :func:`rows_table`)."""
    return {name: [] for name in COLUMNS}


def rows_table(rows: Mapping[str, list]) -> pa.Table:
    """Columns of per-click rows as a table of :data:`ROW_SCHEMA`."""
    return pa.Table.from_pydict(dict(rows), schema=ROW_SCHEMA)


def with_nullable(table: pa.Table) -> pa.Table:
    """``table`` with every :data:`NULLABLE` column it lacks added, all null (rows written
    before the column existed)."""
    for name in NULLABLE:
        if name not in table.column_names:
            field = ROW_SCHEMA.field(name)
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table


def table_columns(table: pa.Table) -> dict[str, np.ndarray]:
    """A table as numpy columns (strings as ``str`` arrays)."""
    cols: dict[str, np.ndarray] = {}
    for name in table.column_names:
        arr = table.column(name).to_numpy(zero_copy_only=False)
        if pa.types.is_string(table.schema.field(name).type):
            arr = arr.astype(str)
        cols[name] = arr
    return cols


def read_rows(path: str | Path) -> dict[str, np.ndarray]:
    """``per_click.parquet`` as numpy columns, e.g. to recompute the summary with
    :func:`rclicks.summarize`."""
    return table_columns(with_nullable(pq.read_table(path)))


def as_columns(rows: Any) -> dict[str, np.ndarray]:
    """Per-click rows given as a pandas DataFrame, a pyarrow Table or a mapping of columns, as
    numpy columns."""
    if isinstance(rows, pa.Table):
        return table_columns(rows)
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a pandas DataFrame
        return {str(c): np.asarray(rows[c].to_numpy()) for c in rows.columns}
    return {str(k): np.asarray(v) for k, v in dict(rows).items()}


def to_frame(table: pa.Table) -> Any:
    """A table of per-click rows as a pandas DataFrame (plain numpy dtypes)."""
    return table.to_pandas()
