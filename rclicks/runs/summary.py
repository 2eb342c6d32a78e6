"""``summary.json`` from the per-click rows: the one function that the eval, the reports and
the leaderboard all call, so a number can only be computed one way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rclicks.errors import RunError
from rclicks.metrics.aggregate import adversarial_names, metric_entries, robustness_entries
from rclicks.runs.schema import as_columns


def replay_names(run_info: Mapping[str, Any]) -> list[str] | None:
    """The simulators ``run.json`` marks as replaying recorded clicks, or ``None`` when it
    does not say (runs written before the mark: recognise them from the rows)."""
    sims = run_info.get("simulators") or []
    if not any(isinstance(s, Mapping) and "replay" in s for s in sims):
        return None
    return [str(s["name"]) for s in sims if isinstance(s, Mapping) and s.get("replay")]


def adversarial_marks(run_info: Mapping[str, Any]) -> list[str] | None:
    """The simulators ``run.json`` marks as TETRIS searches, or ``None`` when it does not
    say (recognise them from the rows)."""
    sims = run_info.get("simulators") or []
    if not any(isinstance(s, Mapping) and "adversarial" in s for s in sims):
        return None
    return [str(s["name"]) for s in sims if isinstance(s, Mapping) and s.get("adversarial")]


def summarize(
    per_click: Any, run_info: Mapping[str, Any], *, replay: Sequence[str] | None = None
) -> dict[str, Any]:
    """``summary.json`` for ``per_click`` (a pandas DataFrame, a pyarrow Table or a mapping of
    columns, as in ``per_click.parquet``) of the run described by ``run_info`` (``run.json``:
    its ``protocol.max_clicks`` and the simulators' ``replay`` and ``adversarial`` marks are
    used). ``robustness`` holds the TETRIS metrics of every TETRIS simulator
    (:func:`rclicks.metrics.robustness_entries`).

    ``replay`` overrides which simulators replay recorded clicks (the leaderboard passes
    ``()``: a benchmark has none)."""
    protocol = dict(run_info.get("protocol") or {})
    max_clicks = protocol.get("max_clicks")
    if not isinstance(max_clicks, int) or max_clicks < 1:
        raise RunError(f"run.json has no usable protocol.max_clicks (got {max_clicks!r})")
    cols = as_columns(per_click)
    if replay is None:
        replay = replay_names(run_info)
    try:
        results = metric_entries(cols, max_clicks, replay=replay)
    except (KeyError, ValueError) as exc:
        raise RunError(f"per-click rows do not make whole trajectories: {exc}") from None
    if replay is None:  # recognised from the rows
        replay = [e["simulator"] for e in results if e.get("kind") == "users"]
    tetris = adversarial_marks(run_info)
    if tetris is None:
        tetris = adversarial_names(cols)
    robustness = robustness_entries(cols, max_clicks, tetris) if tetris else []
    model = run_info.get("model")
    return {
        "rclicks": run_info.get("rclicks"),
        "model": model.get("name") if isinstance(model, Mapping) else model,
        "protocol": protocol,
        "benchmark": run_info.get("benchmark"),
        "benchmark_protocol": run_info.get("benchmark_protocol"),
        "replay": list(dict.fromkeys(replay)),
        "results": results,
        "robustness": robustness,
    }
