"""Shared test helpers: fake installed distributions with real entry points, CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fake_distribution(root: Path, dist: str, entry_points: dict[str, str]) -> Path:
    """Make ``root`` a site dir holding ``dist`` with entry points in the ``rclicks`` group;
    the modules come from tests/testplugins."""
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    lines = ["[rclicks]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


def run_cli(
    args: list[str],
    env_extra: dict[str, str] | None = None,
    site: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    env = {**os.environ, "RCLICKS_LOAD_PLUGINS": ""}
    env.pop("COLUMNS", None)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE / "testplugins")])
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "rclicks.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def host_with(kind: str, name: str, factory, plugin: str = "test-plugin"):
    """A fresh process-wide plugin host with one more component, registered through a real
    ``rclicks_register_<kind>`` hook (``kind``: models, simulators or datasets)."""
    import types

    import rclicks
    from rclicks.plugins import reset_host

    @rclicks.hookimpl
    def hook(register):
        register(name, factory)

    host = reset_host()
    host.register_plugin(types.SimpleNamespace(**{f"rclicks_register_{kind}": hook}), plugin)
    return host


def peaked_density(gt_mask, error_mask, spread: float = 0.25):
    """A known click density for tests: a Gaussian around the error region's deepest point
    (σ = ``spread`` × √area), inside the error region."""
    import numpy as np
    from scipy.ndimage import distance_transform_edt

    err = np.asarray(error_mask, dtype=bool)
    if not err.any():
        return np.zeros(err.shape, dtype=np.float32)
    d = distance_transform_edt(np.pad(err, 1))[1:-1, 1:-1]
    cy, cx = np.unravel_index(int(np.argmax(d)), d.shape)
    sigma = max(1.0, spread * float(np.sqrt(err.sum())))
    yy, xx = np.mgrid[: err.shape[0], : err.shape[1]]
    g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma * sigma))
    return (g * err).astype(np.float32)


class PeakedSimulator:
    """The known density of :func:`peaked_density` as a simulator."""

    deterministic = False

    def density(self, image, gt_mask, error_mask):
        return peaked_density(gt_mask, error_mask)


def synthetic_clicks(
    path: Path,
    dataset,
    per_set: int = 20,
    seed: int = 0,
    density=peaked_density,
    name: str | None = None,
    scale: float = 1.0,
    limit: int | None = None,
):
    """Write an RClicks-format clicks.csv with ``per_set`` first clicks per instance of
    ``dataset`` drawn from ``density``; alternating pc / mobile; coordinates in an image
    shown ``scale`` times its size. Returns the rows."""
    import numpy as np

    from rclicks.realclicks import full_stem, write_clicks

    rng = np.random.default_rng(seed)
    rows = []
    for i, s in enumerate(dataset):
        if limit is not None and i >= limit:
            break
        for iid, m in s.instances.items():
            obj = iid if len(s.instances) > 1 else ""
            d = density(m, m).astype(np.float64).ravel()
            idx = rng.choice(d.size, size=per_set, p=d / d.sum())
            ys, xs = np.divmod(idx, m.shape[1])
            h, w = m.shape
            for k, (x, y) in enumerate(zip(xs, ys)):
                rows.append(
                    {
                        "dataset": name or dataset.name,
                        "full_stem": full_stem(s.sample_id, obj),
                        "image_stem": s.sample_id,
                        "object_stem": obj,
                        "click_type": "first",
                        "model_type": "",
                        "x": int(x * scale),
                        "y": int(y * scale),
                        "w": int(round(w * scale)),
                        "h": int(round(h * scale)),
                        "device": ("pc", "mobile")[k % 2],
                    }
                )
    write_clicks(path, rows)
    return rows


# A ClickabilityNet small enough to train and run in tests (same architecture, reduced width).
TINY_NET = {
    "embed_dims": [8, 16, 16, 16],
    "depths": [1, 1, 1, 1],
    "mlp_ratios": [2, 2, 2, 2],
    "head_channels": 16,
    "gn_groups": 4,
    "coord_hidden": 4,
}
