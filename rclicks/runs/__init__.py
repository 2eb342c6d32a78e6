"""Run folders: the per-click row schema, the journal and result files, ``summary.json`` from
rows (:func:`summarize`) and reading a run back (:class:`Run`, :func:`load_run`)."""

from rclicks.runs.folder import RunFolder, default_out
from rclicks.runs.run import Run, load_run
from rclicks.runs.schema import COLUMNS, ROW_SCHEMA, SORT_KEYS, read_rows, table_columns
from rclicks.runs.summary import summarize

__all__ = [
    "COLUMNS",
    "ROW_SCHEMA",
    "SORT_KEYS",
    "Run",
    "RunFolder",
    "default_out",
    "load_run",
    "read_rows",
    "summarize",
    "table_columns",
]
