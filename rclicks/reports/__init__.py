"""Reports people read: the paper's tables, runs side by side, plots, one HTML file.

The Python API behind ``rclicks report`` and ``rclicks show-clicks``::

    from rclicks.reports import load_runs, build_tables, to_markdown
    runs = load_runs(["runs/a", "runs/b"])          # recomputes everything from the rows
    for table in build_tables(runs):
        print(to_markdown(table))
"""

from rclicks.reports.comparison import compare
from rclicks.reports.runs import (
    RunData,
    check_comparable,
    compare_results,
    label_runs,
    load_runs,
    report_run,
)
from rclicks.reports.tables import (
    ReportTable,
    build_tables,
    to_csv,
    to_json,
    to_latex,
    to_markdown,
    to_rich,
)

__all__ = [
    "ReportTable",
    "RunData",
    "build_tables",
    "check_comparable",
    "compare",
    "compare_results",
    "report_run",
    "label_runs",
    "load_runs",
    "to_csv",
    "to_json",
    "to_latex",
    "to_markdown",
    "to_rich",
]
