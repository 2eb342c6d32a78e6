"""The ``rclicks.testing`` pytest plugin (loaded through its pytest11 entry point) and the
conformance suite, run against the built-ins; plus small CLI-facing behaviours."""

from __future__ import annotations

import io

import numpy as np
import pytest

import rclicks
from rclicks.models.geodesic import make_model
from rclicks.simulators import BaselineSimulator, DistanceSimulator, UniformSimulator
from rclicks.testing import check_model, check_simulator
from tests.helpers import host_with


def test_fixtures_come_from_the_entry_point(rclicks_tiny_dataset, rclicks_tiny_folder):
    assert len(rclicks_tiny_dataset) == 2
    assert sorted(p.name for p in (rclicks_tiny_folder / "images").iterdir()) == [
        "img0.png",
        "img1.png",
    ]


def test_builtins_pass_the_conformance_suite(rclicks_tiny_dataset):
    check_model(make_model(), rclicks_tiny_dataset)
    for sim in (BaselineSimulator(), UniformSimulator(), DistanceSimulator(power=2)):
        check_simulator(sim, rclicks_tiny_dataset)


def test_conformance_suite_catches_a_broken_model(rclicks_tiny_dataset):
    class WrongShape:
        threshold = 0.5

        def encode(self, image):
            return image

        def predict(self, emb, clicks, state):
            return np.zeros((3, 3), np.float32), state

    with pytest.raises(AssertionError, match="shape"):
        check_model(WrongShape(), rclicks_tiny_dataset)


def test_conformance_suite_catches_a_wrong_fast_path(rclicks_tiny_dataset):
    class Wrong(DistanceSimulator):
        def region_density(self, image, gt_mask, region):
            return region.dist * 2

    with pytest.raises(AssertionError, match="region_density disagrees"):
        check_simulator(Wrong(), rclicks_tiny_dataset)


def test_region_density_fast_path_agrees_with_density(rclicks_tiny_dataset):
    from rclicks.clicks import padded_distance

    sample = next(iter(rclicks_tiny_dataset))
    gt = next(iter(sample.instances.values()))
    region = padded_distance(gt)
    for sim in (BaselineSimulator(), UniformSimulator(), DistanceSimulator(power=1.5)):
        dense = sim.density(sample.image, gt, gt).ravel()[region.idx]
        np.testing.assert_array_equal(sim.region_density(sample.image, gt, region), dense)


def test_device_reaches_the_factories(tmp_path, rclicks_tiny_folder):
    seen = {}

    def factory(device="?"):
        seen["device"] = device
        return make_model()

    host = host_with("models", "spy", factory, "spy-plugin")
    rclicks.evaluate(
        "spy", "distance", str(rclicks_tiny_folder), groups=1, max_clicks=1, device="cpu",
        out=tmp_path / "r", host=host,
    )  # fmt: skip
    assert seen["device"] == "cpu"


def test_progress_bar_on_a_terminal(tmp_path, rclicks_tiny_folder, monkeypatch):
    from rich.console import Console

    import rclicks.cli._ui as ui
    import rclicks.cli.eval as cli_eval

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    monkeypatch.setattr(ui, "err_console", console)
    monkeypatch.setattr(cli_eval, "err_console", console)
    progress = cli_eval.EvalProgress()
    assert progress.enabled
    with progress:
        rclicks.evaluate(
            "geodesic", "distance", str(rclicks_tiny_folder), groups=2, max_clicks=2,
            out=tmp_path / "r", progress=progress,
        )  # fmt: skip
    text = buf.getvalue()
    assert "evaluating" in text and "clicks/s" in text and "instances" in text


def test_cli_helpers_run_the_real_cli():
    from rclicks.testing import listed, run_rclicks

    assert "geodesic" in listed("models")  # built-ins are always there
    assert "template-colour" not in listed("models")  # no plugin named: none loaded
    out = run_rclicks("--version")
    assert out.returncode == 0 and out.stdout.startswith("rclicks ")
