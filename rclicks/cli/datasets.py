"""``rclicks datasets check|show``: what a dataset holds, what is wrong with it, how it looks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

import rclicks
from rclicks.cli._ui import err_console, fail, out_console, say
from rclicks.errors import ComponentError, DatasetError, RclicksError
from rclicks.options import parse_options

datasets_app = typer.Typer(
    no_args_is_help=True, help="Check a dataset, or draw one of its samples."
)

# folders that tell which benchmark layout a path is in (for a hint when a path is given)
_LAYOUT_HINTS = (
    (("data_GT", "boundary_GT"), "GrabCut"),
    (("img", "gt"), "DAVIS (or COCO_MVal)"),
    (("img", "inst"), "SBD"),
    (("JPEGImages", "SegmentationObject"), "PascalVOC"),
)


def _build(name: str, data_opt: list[str] | None, registry: Path | None) -> Any:
    try:
        return rclicks.build(
            "datasets", name, parse_options(data_opt, "--data-opt"), registry=registry
        )
    except ComponentError as exc:
        cause = exc.__cause__
        if isinstance(cause, DatasetError):
            fail(str(cause) + _hint(name))
        raise
    except DatasetError as exc:
        fail(str(exc) + _hint(name))


def _hint(name: str) -> str:
    p = Path(name)
    if not p.is_dir():
        return ""
    for folders, layout in _LAYOUT_HINTS:
        if all((p / f).is_dir() for f in folders):
            plugin = layout.split()[0]
            return (
                f"\n{name} looks like the {layout} layout: name the dataset {plugin} and "
                f"its folder with `--data-opt root={name}`"
            )
    return ""


@datasets_app.command("check")
def check_cmd(
    dataset: str = typer.Argument(..., help="Dataset name, preset or folder."),
    data_opt: list[str] | None = typer.Option(
        None, "--data-opt", help="KEY=VALUE for the dataset (e.g. root=PATH)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N images."),
    manifest: Path | None = typer.Option(
        None, "--manifest", help="Write the dataset manifest (JSON) to this file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    registry: Path | None = typer.Option(None, "--registry", help="Presets file."),
) -> None:
    """Read every image and mask: counts, and every problem (exit 1 when there is one)."""
    from rclicks.datasets import check_dataset, write_manifest

    ds = _build(dataset, data_opt, registry)
    result = check_dataset(ds, limit)
    problems, man = result.problems, result.manifest
    name = getattr(ds, "name", dataset)
    notes = list(getattr(ds, "notes", []))
    if as_json:
        out = {"dataset": name, "problems": problems, "notes": notes}
        if man is not None:
            out.update({k: man[k] for k in ("images", "instances", "sha256")})
            out["with_ignore"] = sum(1 for r in man["samples"] if r["ignore_pixels"])
        print(json.dumps(out, indent=2))
    else:
        where = getattr(ds, "root", None)
        out_console.print(f"[bold]{name}[/]" + (f" ({where})" if where else ""), highlight=False)
        if man is not None:
            with_ignore = sum(1 for r in man["samples"] if r["ignore_pixels"])
            sizes = [r["size"] for r in man["samples"]]
            big = max((max(s) for s in sizes), default=0)
            say(
                f"{man['images']} images, {man['instances']} instances, "
                f"{with_ignore} with an ignore region; largest side {big} px"
            )
            say(f"manifest sha256 {man['sha256']}")
        for note in notes:
            say(f"note: {note}")
    if manifest is not None and man is not None:
        write_manifest(manifest, [man], rclicks.__version__)
        if not as_json:
            say(f"Wrote {manifest}")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        err_console.print(f"[bold red]{len(problems)} problem(s):[/]", highlight=False)
        err_console.print(lines, highlight=False, markup=False)
        raise typer.Exit(1)
    if not as_json:
        out_console.print("[green]OK[/]: every file is readable and every sample is usable")


@datasets_app.command("show")
def show_cmd(
    dataset: str = typer.Argument(..., help="Dataset name, preset or folder."),
    sample: str = typer.Option(..., "--sample", help="Sample id (e.g. the image stem)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    data_opt: list[str] | None = typer.Option(
        None, "--data-opt", help="KEY=VALUE for the dataset (e.g. root=PATH)."
    ),
    registry: Path | None = typer.Option(None, "--registry", help="Presets file."),
) -> None:
    """Draw one sample: the image, each instance in its own colour, the ignore region hatched."""
    import numpy as np

    from rclicks.datasets import find_sample, render_sample

    ds = _build(dataset, data_opt, registry)
    try:
        s = find_sample(ds, sample)
    except RclicksError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin dataset failing is the user's news
        fail(f"sample {sample!r} could not be read: {type(exc).__name__}: {exc}")
    img = render_sample(s)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    ign = 0 if s.ignore is None else int(np.count_nonzero(s.ignore))
    say(
        f"{s.sample_id}: {s.shape[1]}×{s.shape[0]}, instances "
        + ", ".join(f"{k} ({int(np.count_nonzero(m))} px)" for k, m in s.instances.items())
        + f", ignore {ign} px. Wrote {out}"
    )
