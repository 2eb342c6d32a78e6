"""``rclicks`` command line: a thin layer over :mod:`rclicks.run` and the plugin host."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from rclicks import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Evaluate click-based interactive segmentation models the way real people click.",
)
out_console = Console()
if not out_console.is_terminal:  # logs and pipes: wide enough for the results table
    out_console = Console(width=160)
err_console = Console(stderr=True, soft_wrap=True)  # paths in messages must not wrap

DEFAULT_MODEL = "geodesic"
DEFAULT_SIMULATOR = "distance"
DEFAULT_DATASET = "demo"


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _version_cb(value: bool) -> None:
    if value:
        out_console.print(f"rclicks {__version__}")
        raise typer.Exit()


@app.callback()
def main_cb(
    version: bool = typer.Option(
        False, "--version", callback=_version_cb, is_eager=True, help="Print the version."
    ),
) -> None:
    """rclicks: RClicks benchmark for interactive segmentation."""


def _report_failed_plugins(host) -> None:
    for p in host.failed():
        first = (p.error or "").splitlines()[0] if p.error else ""
        err_console.print(
            f"[yellow]warning:[/] plugin {p.name!r} ({p.distribution or '?'}) failed to load "
            f"and was skipped: {first}",
            highlight=False,
        )


@app.command("eval")
def eval_cmd(
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Model name or preset."),
    simulator: list[str] | None = typer.Option(
        None,
        "--simulator",
        "-s",
        help=f"Click simulator (repeatable). Default {DEFAULT_SIMULATOR}.",
    ),
    dataset: list[str] | None = typer.Option(
        None,
        "--dataset",
        "-d",
        help=f"Dataset name, preset or folder (repeatable). Default {DEFAULT_DATASET}.",
    ),
    benchmark: str | None = typer.Option(
        None, "--benchmark", help="Run a benchmark named in registry.yaml."
    ),
    groups: int | None = typer.Option(None, "--groups", help="Clicking groups (default 10)."),
    repeats: int | None = typer.Option(
        None, "--repeats", help="Trajectories per group (default 1)."
    ),
    max_clicks: int | None = typer.Option(
        None, "--max-clicks", help="Clicks per trajectory (default 20)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the baseline trajectory."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run folder (default runs/<timestamp>)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out."),
    limit: int | None = typer.Option(
        None, "--limit", help="Only the first N images of each dataset."
    ),
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes on this machine."),
    prefetch: int | None = typer.Option(
        None,
        "--prefetch",
        help="Samples decoded ahead in threads (default $RCLICKS_PREFETCH or 4; 0 = off).",
    ),
    model_opt: list[str] | None = typer.Option(
        None, "--model-opt", help="KEY=VALUE for the model."
    ),
    sim_opt: list[str] | None = typer.Option(
        None, "--sim-opt", help="KEY=VALUE for the simulator(s)."
    ),
    data_opt: list[str] | None = typer.Option(
        None, "--data-opt", help="KEY=VALUE for the dataset(s)."
    ),
    registry: Path | None = typer.Option(
        None, "--registry", help="Presets file (default registry.yaml)."
    ),
) -> None:
    """Run the RClicks protocol: baseline + clicking groups, NoC / Sample NoC / ΔSB / ΔGR."""
    from rclicks.datasets.folder import DatasetError
    from rclicks.plugins import UnknownNameError, get_host
    from rclicks.presets import PresetError, load_registry
    from rclicks.registry import ComponentError, parse_options
    from rclicks.report import results_table, users_table
    from rclicks.run import EvalConfig, RunError, evaluate

    host = get_host()
    try:
        reg = load_registry(registry)
        settings: dict[str, Any] = {}
        sims = list(simulator or [])
        dss = list(dataset or [])
        if benchmark is not None:
            if benchmark not in reg.benchmarks:
                from rclicks.plugins import unknown_message

                raise UnknownNameError(
                    unknown_message("benchmarks", benchmark, list(reg.benchmarks))
                )
            b = reg.benchmarks[benchmark]
            if sims or dss:
                raise RunError(
                    "--benchmark sets the simulators and datasets; drop --simulator/--dataset"
                )
            sims, dss, settings = list(b.simulators), list(b.datasets), dict(b.settings)
        cfg = EvalConfig(
            model=model,
            simulators=sims or [DEFAULT_SIMULATOR],
            datasets=dss or [DEFAULT_DATASET],
            model_options=parse_options(model_opt, "--model-opt"),
            sim_options=parse_options(sim_opt, "--sim-opt"),
            data_options=parse_options(data_opt, "--data-opt"),
            groups=groups if groups is not None else int(settings.get("groups", 10)),
            repeats=repeats if repeats is not None else int(settings.get("repeats", 1)),
            max_clicks=max_clicks
            if max_clicks is not None
            else int(settings.get("max_clicks", 20)),
            seed=seed,
            baseline=not no_baseline and bool(settings.get("baseline", True)),
            device=device,
            limit=limit,
            workers=workers,
            prefetch=prefetch,
            out=str(out) if out else None,
            resume=resume,
            registry_path=str(registry) if registry else None,
            benchmark=benchmark,
        )
        _report_failed_plugins(host)
        with _progress() as progress:
            result = evaluate(cfg, progress=progress, host=host)
    except DatasetError as exc:
        _fail(f"{exc}\nNothing was run.")
    except (UnknownNameError, PresetError, RunError, ComponentError, ValueError) as exc:
        _fail(str(exc))
    out_console.print(results_table(result.summary))
    users = users_table(result.summary)
    if users is not None:
        out_console.print(users)
    out_console.print(
        f"Wrote {result.out}/per_click.parquet ({result.clicks} clicks), summary.json, run.json"
    )
    if result.errors:
        err_console.print(
            f"[yellow]warning:[/] {result.errors} instance(s) failed; "
            f"see {result.out}/errors.jsonl. "
            "Fix the cause and re-run with --resume to complete them."
        )
        raise typer.Exit(3)


class TerminalProgress:
    """Base of the commands' progress callbacks ``(event, info)``: a rich bar on a terminal,
    silent otherwise (so logs stay clean). Subclasses implement :meth:`on_event`; ``self.bar``
    (a started ``rich.progress.Progress``) is stopped on ``end`` and on leaving the block."""

    def __init__(self) -> None:
        self.enabled = err_console.is_terminal
        self.bar = None

    def __enter__(self):
        return self

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if event == "end":
            self.__exit__()
            return
        self.on_event(event, info)

    def on_event(self, event: str, info: dict[str, Any]) -> None:
        raise NotImplementedError

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class _progress(TerminalProgress):
    """``rclicks eval``: images done, instances, clicks per second, ETA."""

    def on_event(self, event: str, info: dict[str, Any]) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if event == "start":
            self.bar = Progress(
                TextColumn("[bold]evaluating[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("images"),
                TextColumn("{task.fields[instances]} instances"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("eval", total=info["samples"], rate="", instances=0)
            self.clicks = 0
            self.instances = 0
            import time

            self.t0 = time.perf_counter()
        elif event == "sample" and self.bar is not None:
            import time

            self.clicks += info["clicks"]
            self.instances += info["instances"]
            rate = self.clicks / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.update(
                self.task, advance=1, rate=f"{rate:,.0f} clicks/s", instances=self.instances
            )


@app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    registry: Path | None = typer.Option(None, "--registry", help="Presets file."),
) -> None:
    """Models, simulators, datasets, presets, benchmarks and plugins."""
    from rich.table import Table

    from rclicks.plugins import KINDS, get_host
    from rclicks.presets import PresetError, load_registry

    host = get_host()
    try:
        reg = load_registry(registry)
    except PresetError as exc:
        _fail(str(exc))
    data: dict[str, Any] = {}
    for kind in KINDS:
        rows = []
        for name, e in sorted(host.entries(kind).items()):
            rows.append(
                {
                    "name": name,
                    "provided_by": e.plugin,
                    "distribution": e.distribution,
                    "version": e.version,
                    "status": "ok",
                    "preset": False,
                    "description": e.meta.get("description", ""),
                }
            )
        for name, p in sorted(reg.presets[kind].items()):
            ok = p.plugin in host.entries(kind)
            target = host.entries(kind).get(p.plugin)
            rows.append(
                {
                    "name": name,
                    "provided_by": target.plugin if target else None,
                    "distribution": target.distribution if target else None,
                    "version": target.version if target else None,
                    "status": "ok" if ok else f"plugin {p.plugin!r} not available",
                    "preset": True,
                    "plugin": p.plugin,
                    "description": p.meta.get("description", f"preset of {p.plugin}"),
                }
            )
        data[kind] = rows
    data["benchmarks"] = [
        {"name": b.name, "datasets": b.datasets, "simulators": b.simulators, **b.settings}
        for b in reg.benchmarks.values()
    ]
    data["plugins"] = [
        {
            "name": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "status": p.status,
            "hooks": p.hooks,
            "error": p.error,
        }
        for p in sorted(host.plugins.values(), key=lambda p: p.name)
    ]
    data["conflicts"] = host.conflicts
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    for kind in KINDS:
        t = Table(title=kind.capitalize(), title_justify="left", header_style="bold")
        for col in ("name", "provided by", "version", "status", "description"):
            t.add_column(col)
        for r in data[kind]:
            prov = r["distribution"] or r["provided_by"] or "—"
            status = r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/]"
            t.add_row(
                r["name"] + (" (preset)" if r["preset"] else ""),
                prov,
                r["version"] or "",
                status,
                r["description"],
            )
        out_console.print(t)
    if data["benchmarks"]:
        t = Table(title="Benchmarks", title_justify="left", header_style="bold")
        for col in ("name", "datasets", "simulators"):
            t.add_column(col)
        for b in data["benchmarks"]:
            t.add_row(b["name"], ", ".join(b["datasets"]), ", ".join(b["simulators"]))
        out_console.print(t)
    t = Table(title="Plugins", title_justify="left", header_style="bold")
    for col in ("name", "distribution", "version", "status", "hooks"):
        t.add_column(col)
    for p in data["plugins"]:
        status = p["status"]
        if p["error"]:
            status = f"[red]failed: {p['error'].splitlines()[0]}[/]"
        t.add_row(
            p["name"],
            p["distribution"] or "",
            p["version"] or "",
            status,
            ", ".join(h.replace("rclicks_register_", "") for h in p["hooks"]),
        )
    out_console.print(t)


# subcommands living in their own modules register themselves on `app` when imported:
# datasets check|show, score-simulator, train-clickability
from rclicks import cli_datasets, cli_leaderboard, cli_report, cli_score, cli_train  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    # `python -m rclicks.cli` runs this file as __main__, a second copy of the module; the
    # subcommand modules (cli_score, ...) register on the importable rclicks.cli's app.
    from rclicks.cli import main as _main

    _main()
