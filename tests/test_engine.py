"""The engine: determinism, workers, one encode per image, resume, per-instance errors."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import rclicks
from rclicks.engine import ProtocolSettings, plan, run_instance
from rclicks.errors import RunError
from rclicks.simulators import DistanceSimulator
from rclicks.testing import tiny_dataset
from tests.helpers import fake_distribution, host_with, run_cli


def rows_without_seconds(path):
    t = pq.read_table(path).drop(["seconds"])
    return t.to_pydict()


def _run(tmp_path, name, **kw):
    base = dict(
        simulators=["distance"],
        datasets=["demo"],
        limit=2,
        max_clicks=6,
        groups=4,
        out=tmp_path / name,
    )
    base.update(kw)
    return rclicks.evaluate(base.pop("model", "geodesic"), **base)


def test_same_seed_same_clicks_and_numbers(tmp_path):
    a = _run(tmp_path, "a")
    b = _run(tmp_path, "b")
    assert rows_without_seconds(a.path / "per_click.parquet") == rows_without_seconds(
        b.path / "per_click.parquet"
    )
    sa = json.loads((a.path / "summary.json").read_text())["results"]
    sb = json.loads((b.path / "summary.json").read_text())["results"]
    strip = lambda r: [  # noqa: E731 - the model timings differ from run to run
        {k: v for k, v in e.items() if not k.startswith(("SPC", "Time@"))} for e in r
    ]
    assert strip(sa) == strip(sb)
    c = _run(tmp_path, "c", seed=1)
    assert rows_without_seconds(c.path / "per_click.parquet") != rows_without_seconds(
        a.path / "per_click.parquet"
    )


def test_one_worker_and_two_workers_agree(tmp_path):
    one = _run(tmp_path, "w1", limit=3, workers=1)
    two = _run(tmp_path, "w2", limit=3, workers=2)
    assert rows_without_seconds(one.path / "per_click.parquet") == rows_without_seconds(
        two.path / "per_click.parquet"
    )


class CountingModel:
    threshold = 0.5

    def __init__(self):
        self.encodes = 0
        self.batches: list[int] = []

    def encode(self, image):
        self.encodes += 1
        return {"shape": image.shape[:2]}

    def predict(self, emb, clicks, state):
        raise AssertionError("the engine must use predict_batch when present")

    def predict_batch(self, emb, clicks, states):
        self.batches.append(len(clicks))
        h, w = emb["shape"]
        probs = []
        for cs in clicks:
            p = np.zeros((h, w), np.float32)
            for c in cs:
                p[max(c.y - 3, 0) : c.y + 4, max(c.x - 3, 0) : c.x + 4] = float(c.positive)
            probs.append(p)
        return probs, [len(c) for c in clicks]


def test_full_protocol_encodes_each_image_once_and_batches_all_trajectories(tmp_path):
    model = CountingModel()

    host = host_with("models", "counting", lambda: model, "counting-plugin")
    res = rclicks.evaluate(
        "counting", ["distance"], ["demo"], limit=3, out=tmp_path / "run", host=host
    )
    assert model.encodes == 3
    n_instances = len(
        {
            (r["sample_id"], r["instance_id"])
            for r in pq.read_table(res.path / "per_click.parquet").to_pylist()
        }
    )
    # baseline + 10 groups decoded together, 20 steps per instance
    assert model.batches == [11] * (20 * n_instances)
    assert res.clicks == 11 * 20 * n_instances


class PredictOnly:
    threshold = 0.5

    def __init__(self):
        self.inner = CountingModel()

    def encode(self, image):
        return self.inner.encode(image)

    def predict(self, emb, clicks, state):
        probs, states = self.inner.predict_batch(emb, [clicks], [state])
        return probs[0], states[0]


def test_predict_and_predict_batch_paths_give_identical_rows():
    ds = tiny_dataset(n=1, size=(60, 80))
    sample = next(iter(ds))
    gt = next(iter(sample.instances.values()))
    out = []
    for model in (CountingModel(), PredictOnly()):
        rows = run_instance(
            model,
            model.encode(sample.image),
            sample.image,
            gt,
            None,
            {"distance": DistanceSimulator()},
            ProtocolSettings(groups=3, max_clicks=5),
            ("t", sample.sample_id, "1"),
        )
        rows.pop("seconds")
        out.append(rows)
    assert out[0] == out[1]


def test_plan_lists_baseline_groups_and_repeats():
    specs = plan({"distance": DistanceSimulator()}, ProtocolSettings(groups=2, repeats=2))
    assert [(s.simulator, s.group, s.repeat) for s in specs] == [
        ("baseline", 0, 1),
        ("distance", 1, 1),
        ("distance", 1, 2),
        ("distance", 2, 1),
        ("distance", 2, 2),
    ]
    no_base = plan({"distance": DistanceSimulator()}, ProtocolSettings(groups=1, baseline=False))
    assert [s.simulator for s in no_base] == ["distance"]


class FailsOnSecondImage(CountingModel):
    def predict_batch(self, emb, clicks, states):
        if emb["shape"] == self.bad_shape:
            raise RuntimeError("boom on purpose")
        return super().predict_batch(emb, clicks, states)


def test_plugin_error_on_one_instance_is_recorded_and_the_run_goes_on(tmp_path):
    ds = rclicks.datasets.FolderDataset(rclicks.datasets.demo_root())
    model = FailsOnSecondImage()
    model.bad_shape = ds[1].image.shape[:2]

    settings = dict(limit=3, groups=2, max_clicks=3, out=tmp_path / "run")
    res = rclicks.evaluate(model, ["distance"], ["demo"], **settings)  # the object itself
    n_bad = len(ds[1].instances)
    assert len(res.errors) == n_bad and res.info["errors"] == n_bad
    errors = [json.loads(line) for line in (res.path / "errors.jsonl").read_text().splitlines()]
    assert {e["sample_id"] for e in errors} == {ds[1].sample_id}
    assert "boom on purpose" in errors[0]["error"]
    done = {r["sample_id"] for r in pq.read_table(res.path / "per_click.parquet").to_pylist()}
    assert done == {ds[0].sample_id, ds[2].sample_id}
    # fixed plugin + --resume completes only what was missing
    model.bad_shape = None
    model.encodes = 0
    res2 = rclicks.evaluate(model, ["distance"], ["demo"], **settings, resume=True)
    assert res2.errors == [] and model.encodes == 1
    assert not (res.path / "errors.jsonl").exists()
    done = {r["sample_id"] for r in pq.read_table(res2.path / "per_click.parquet").to_pylist()}
    assert done == {ds[0].sample_id, ds[1].sample_id, ds[2].sample_id}


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    site = fake_distribution(
        tmp_path / "site", "rclicks-testplug", {"testplug": "rclicks_testplug"}
    )
    env = {"RCLICKS_LOAD_PLUGINS": "testplug"}
    args = ["eval", "--model", "voronoi", "--limit", "4", "--groups", "3", "--max-clicks", "5"]
    full = run_cli(args + ["--out", str(tmp_path / "full")], env, site)
    assert full.returncode == 0, full.stderr
    killed = run_cli(
        args + ["--out", str(tmp_path / "k")], {**env, "RCLICKS_TEST_DIE_AFTER": "2"}, site
    )
    assert killed.returncode == -9
    assert not (tmp_path / "k" / "per_click.parquet").exists()
    assert len(list((tmp_path / "k" / "journal").glob("*.parquet"))) >= 1
    resumed = run_cli(args + ["--out", str(tmp_path / "k"), "--resume"], env, site)
    assert resumed.returncode == 0, resumed.stderr
    a = rows_without_seconds(tmp_path / "full" / "per_click.parquet")
    b = rows_without_seconds(tmp_path / "k" / "per_click.parquet")
    assert a == b
    keys = list(zip(*(b[k] for k in ("sample_id", "instance_id", "simulator", "group", "click"))))
    assert len(keys) == len(set(keys))
    run = json.loads((tmp_path / "k" / "run.json").read_text())
    assert run["status"] == "complete" and len(run["resumed"]) == 1


def test_resume_refuses_other_settings(tmp_path):
    _run(tmp_path, "r", limit=1, max_clicks=2, groups=1)
    with pytest.raises(RunError, match="other settings"):
        _run(tmp_path, "r", limit=1, max_clicks=3, groups=1, resume=True)
    with pytest.raises(RunError, match="not empty"):
        _run(tmp_path, "r", limit=1, max_clicks=2, groups=1)


def test_a_dataset_that_can_only_be_iterated_streams_in_one_process(tmp_path):
    class Stream:
        name = "stream"

        def __init__(self):
            self.inner = tiny_dataset(n=3)
            self.passes = 0

        def __len__(self):
            return len(self.inner)

        def __iter__(self):
            self.passes += 1
            return iter(list(self.inner))

    ds = Stream()

    host = host_with("datasets", "stream", lambda: ds, "stream-plugin")
    res = rclicks.evaluate(
        "geodesic", ["distance"], ["stream"], groups=2, max_clicks=2, workers=2,
        out=tmp_path / "r", host=host,
    )  # fmt: skip
    assert json.loads((res.path / "run.json").read_text())["workers"] == 1
    assert ds.passes == 2  # one pass for the data check, one for the run
    assert res.clicks == 3 * 2 * (1 + 2) * 2


def test_resume_refuses_changed_dataset_files(tmp_path):
    from rclicks.testing import write_folder

    root = write_folder(tmp_path / "ds", tiny_dataset(n=2))
    cfg = dict(groups=1, max_clicks=2, out=tmp_path / "r")
    res = rclicks.evaluate("geodesic", "distance", str(root), **cfg)
    sha = json.loads((res.path / "run.json").read_text())["datasets"][0]["sha256"]
    assert len(sha) == 64
    mask = root / "masks" / "img1.png"
    from PIL import Image

    labels = np.asarray(Image.open(mask)).copy()
    labels[0, 0] = 1
    Image.fromarray(labels).save(mask)
    with pytest.raises(RunError, match="unchanged dataset files"):
        rclicks.evaluate("geodesic", "distance", str(root), **cfg, resume=True)


def test_summary_is_recomputable_from_the_rows_alone(tmp_path):
    from rclicks.runs import read_rows

    res = _run(tmp_path, "s", simulators=["distance", "uniform"], repeats=2)
    again = rclicks.summarize(read_rows(res.path / "per_click.parquet"), res.info)
    saved = json.loads((res.path / "summary.json").read_text())
    assert json.loads(json.dumps(again)) == saved
    # the DataFrame of the Run gives the same
    assert rclicks.summarize(res.per_click, res.info) == again
    saved = saved["results"]
    assert {e["simulator"] for e in saved} == {"baseline", "distance", "uniform"}
    assert all(e["repeats"] == 2 for e in saved if e["kind"] == "groups")


def test_density_batch_is_used_once_per_step_and_agrees_with_density():
    class Batched(DistanceSimulator):
        """A third-party-style simulator: density and density_batch, no fast path."""

        region_density = None  # hide the built-in fast path

        def __init__(self):
            super().__init__(power=1.5)
            self.batches: list[int] = []

        def density_batch(self, images, gts, errs):
            self.batches.append(len(errs))
            return [self.density(i, g, e) for i, g, e in zip(images, gts, errs)]

    class Single(DistanceSimulator):
        region_density = None

        def __init__(self):
            super().__init__(power=1.5)

    sample = next(iter(tiny_dataset(n=1, size=(60, 80))))
    gt = next(iter(sample.instances.values()))
    out = []
    for sim in (Batched(), Single()):
        model = CountingModel()
        rows = run_instance(
            model,
            model.encode(sample.image),
            sample.image,
            gt,
            None,
            {"s": sim},
            ProtocolSettings(groups=4, max_clicks=4),
            ("t", "s", "1"),
        )
        rows.pop("seconds")
        out.append(rows)
        if isinstance(sim, Batched):
            # step 1: every group shares the empty prediction's region (one density); later
            # steps: one call per step with every distinct region of that step
            assert sim.batches[0] == 1 and len(sim.batches) == 4
            assert all(1 <= n <= 4 for n in sim.batches)
    assert out[0] == out[1]
