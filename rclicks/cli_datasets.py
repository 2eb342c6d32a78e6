"""``rclicks datasets check|show``: what a dataset holds, what is wrong with it, how it looks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer

from rclicks.cli import _fail, err_console, out_console
from rclicks.cli import app as _app

datasets_app = typer.Typer(
    no_args_is_help=True, help="Check a dataset, or draw one of its samples."
)
_app.add_typer(datasets_app, name="datasets")

# folders that tell which benchmark layout a path is in (for a hint when a path is given)
_LAYOUT_HINTS = (
    (("data_GT", "boundary_GT"), "GrabCut"),
    (("img", "gt"), "DAVIS (or COCO_MVal)"),
    (("img", "inst"), "SBD"),
    (("JPEGImages", "SegmentationObject"), "PascalVOC"),
)


def _build(name: str, data_opt: list[str] | None, registry: Path | None) -> Any:
    from rclicks.datasets.folder import DatasetError
    from rclicks.plugins import UnknownNameError
    from rclicks.presets import PresetError, load_registry
    from rclicks.registry import ComponentError, instantiate, parse_options, resolve

    try:
        reg = load_registry(registry)
        r = resolve("datasets", name, parse_options(data_opt, "--data-opt"), reg)
        return instantiate(r)
    except ComponentError as exc:
        cause = exc.__cause__
        if isinstance(cause, DatasetError):
            _fail(str(cause) + _hint(name))
        _fail(str(exc))
    except DatasetError as exc:
        _fail(str(exc) + _hint(name))
    except (UnknownNameError, PresetError, ValueError) as exc:
        _fail(str(exc))


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
    from rclicks.datasets.manifest import check_and_manifest, write_manifest
    from rclicks.run import _version

    ds = _build(dataset, data_opt, registry)
    try:
        problems, man = check_and_manifest(ds, limit)
    except Exception as exc:  # noqa: BLE001 - a plugin dataset failing is the user's news
        _fail(f"dataset {dataset!r} could not be read: {type(exc).__name__}: {exc}")
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
            out_console.print(
                f"{man['images']} images, {man['instances']} instances, "
                f"{with_ignore} with an ignore region; largest side {big} px",
                highlight=False,
            )
            out_console.print(f"manifest sha256 {man['sha256']}", highlight=False)
        for note in notes:
            out_console.print(f"note: {note}", highlight=False)
    if manifest is not None and man is not None:
        write_manifest(manifest, [man], _version("rclicks"))
        if not as_json:
            out_console.print(f"Wrote {manifest}", highlight=False)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        err_console.print(
            f"[bold red]{len(problems)} problem(s):[/]\n{lines}", highlight=False, markup=True
        )
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
    from rclicks.datasets import find_sample
    from rclicks.datasets.base import SampleError

    ds = _build(dataset, data_opt, registry)
    try:
        s = find_sample(ds, sample)
    except SampleError as exc:
        _fail(str(exc))
    except LookupError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001
        _fail(f"sample {sample!r} could not be read: {type(exc).__name__}: {exc}")
    img = render_sample(s)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    ign = 0 if s.ignore is None else int(np.count_nonzero(s.ignore))
    out_console.print(
        f"{s.sample_id}: {s.shape[1]}×{s.shape[0]}, instances "
        + ", ".join(f"{k} ({int(np.count_nonzero(m))} px)" for k, m in s.instances.items())
        + f", ignore {ign} px. Wrote {out}",
        highlight=False,
    )


PALETTE = np.array(
    [
        (230, 25, 75),
        (60, 180, 75),
        (0, 130, 200),
        (245, 130, 48),
        (145, 30, 180),
        (70, 240, 240),
        (240, 50, 230),
        (210, 245, 60),
        (0, 128, 128),
        (170, 110, 40),
    ],
    dtype=np.float32,
)


def render_sample(sample, alpha: float = 0.45):
    """The image beside a copy with every instance tinted and outlined in its own colour and
    the ignore region hatched in grey, with a legend below (a PIL image)."""
    from PIL import Image, ImageDraw
    from scipy.ndimage import binary_erosion

    img = np.asarray(sample.image, dtype=np.float32)
    h, w = img.shape[:2]
    over = img.copy()
    if sample.ignore is not None and sample.ignore.any():
        yy, xx = np.mgrid[:h, :w]
        hatch = ((xx + yy) // 3) % 2 == 0
        ign = sample.ignore
        over[ign] = over[ign] * 0.4 + 128 * 0.6
        over[ign & hatch] = (255, 255, 255)
    for k, (_iid, m) in enumerate(sample.instances.items()):
        c = PALETTE[k % len(PALETTE)]
        m = np.asarray(m, dtype=bool)
        over[m] = over[m] * (1 - alpha) + c * alpha
        edge = m & ~binary_erosion(m)
        over[edge] = c
    entries = [
        (f"instance {iid}", PALETTE[k % len(PALETTE)]) for k, iid in enumerate(sample.instances)
    ]
    if sample.ignore is not None:
        entries.append(("ignore (hatched)", np.array((160, 160, 160))))
    width = max(2 * w + 4, 240)
    spots, x, y = [], 4, 0
    for label, c in entries:
        step = 22 + 7 * len(label)
        if x + step > width and x > 4:
            x, y = 4, y + 16
        spots.append((x, y, label, c))
        x += step
    canvas = Image.new("RGB", (width, h + y + 24), (255, 255, 255))
    canvas.paste(Image.fromarray(sample.image), (0, 0))
    canvas.paste(Image.fromarray(np.clip(over, 0, 255).astype(np.uint8)), (w + 4, 0))
    draw = ImageDraw.Draw(canvas)
    for x, y, label, c in spots:
        y += h + 4
        draw.rectangle((x, y + 2, x + 10, y + 12), fill=tuple(int(v) for v in c))
        draw.text((x + 14, y), label, fill=(0, 0, 0))
    return canvas
