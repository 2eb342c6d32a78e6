"""The engine's rows stay bit-identical across speed work: the full default protocol on the
bundled demo and on the hard case (2048×1536, one 1.1 Mpx object, a model that paints disks
of radius 150 px at the clicks, so the error regions stay large) against rows committed in
tests/fixtures/engine/ (written by the code before the speed-ups of issue 16).

Regenerate only on purpose (a protocol change), with
``.venv/bin/python tests/test_engine_rows.py --write``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

import rclicks

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "engine"
sys.path.insert(0, str(HERE / "testplugins"))

from rclicks_testplug import DiskModel, hard_scene  # noqa: E402

KEYS = ["dataset", "sample_id", "instance_id", "simulator", "group", "repeat", "click"]


def write_hard_case(root: Path, n: int = 1) -> Path:
    """The hard case in the folder layout: ``n`` scenes of :func:`hard_scene`."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    for i in range(n):
        image, mask = hard_scene(i)
        Image.fromarray(image).save(root / "images" / f"hard_{i:02d}.png")
        Image.fromarray(mask.astype(np.uint8)).save(root / "masks" / f"hard_{i:02d}.png")
    return root


def rows_of(run: rclicks.Run) -> pd.DataFrame:
    # without TETRIS or --biou the boundary IoU is not computed (the fixtures predate it)
    assert run.per_click["biou"].isna().all()
    frame = run.per_click.drop(columns=["seconds", "biou"])
    return frame.sort_values(KEYS, kind="stable").reset_index(drop=True)


def demo_rows(out: Path) -> pd.DataFrame:
    return rows_of(rclicks.evaluate("geodesic", "distance", "demo", out=out))


def hard_rows(out: Path, data: Path, workers: int = 1) -> pd.DataFrame:
    """The hard case's rows; its scene is written to ``data/hard`` (the folder's name is the
    dataset label, which seeds the trajectories)."""
    run = rclicks.evaluate(
        DiskModel(), "distance", str(write_hard_case(data / "hard")), out=out, workers=workers
    )
    return rows_of(run)


def _expected(name: str) -> pd.DataFrame:
    path = FIXTURES / f"{name}_rows.parquet"
    return pd.read_parquet(path).sort_values(KEYS, kind="stable").reset_index(drop=True)


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for col in want.columns:  # exact, column by column (NaN equal to NaN)
        a, b = got[col].to_numpy(), want[col].to_numpy()
        if a.dtype.kind == "f":
            assert np.array_equal(a, b, equal_nan=True), col
        else:
            assert (a == b).all(), col


def test_the_demo_gives_the_committed_rows(tmp_path):
    got = demo_rows(tmp_path / "run")
    assert len(got) == 6600  # 30 instances × (baseline + 10 groups) × 20 clicks
    _same(got, _expected("demo"))


def test_the_hard_case_gives_the_committed_rows(tmp_path):
    got = hard_rows(tmp_path / "run", tmp_path)
    assert len(got) == 220
    # the case is hard: errors stay large, most trajectories never reach 90 %
    assert (got.groupby(["simulator", "group"])["iou"].max() < 0.9).mean() > 0.5
    _same(got, _expected("hard"))


if __name__ == "__main__":  # pragma: no cover - regenerates the fixtures on purpose
    import tempfile

    if "--write" not in sys.argv:
        sys.exit("usage: tests/test_engine_rows.py --write")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        demo_rows(t / "demo").to_parquet(FIXTURES / "demo_rows.parquet", index=False)
        hard_rows(t / "hard", t / "data").to_parquet(FIXTURES / "hard_rows.parquet", index=False)
    print("wrote", *sorted(p.name for p in FIXTURES.iterdir()))
