"""Benchmark datasets in real runs: ignored pixels are never counted nor clicked, prefetching
and workers change nothing, every run writes the dataset manifest."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

import rclicks
from rclicks.datasets.ritm import GrabCutDataset
from tests.helpers import host_with
from tests.test_datasets_trees import write_grabcut, write_tetris


class FixedModel:
    """Predicts a fixed map per image, whatever the clicks."""

    threshold = 0.5

    def __init__(self, maps):
        self.maps = maps  # image bytes -> H×W bool

    def encode(self, image):
        return self.maps[np.ascontiguousarray(image).tobytes()]

    def predict(self, emb, clicks, state):
        return emb.astype(np.float32), None


def _run(tmp_path, name, model_maps, **kw):
    host = host_with("models", "fixed", lambda: FixedModel(model_maps), "fixed-plugin")
    cfg = dict(
        simulators=["distance"],
        datasets=["GrabCut"],
        dataset_options={"root": str(tmp_path / "GrabCut")},
        groups=3,
        max_clicks=4,
        out=tmp_path / name,
        host=host,
    )
    cfg.update(kw)
    return rclicks.evaluate("fixed", **cfg)


def test_ignored_pixels_are_never_counted_in_iou(tmp_path):
    write_grabcut(tmp_path / "GrabCut", n=2)
    ds = GrabCutDataset(tmp_path / "GrabCut")
    # the object plus the whole 128 band: IoU is exactly 1 because the band is not counted
    maps = {s.image.tobytes(): s.instances["1"] | s.ignore for s in ds}
    res = _run(tmp_path, "band", maps)
    rows = pq.read_table(res.path / "per_click.parquet").to_pylist()
    assert rows and all(r["iou"] == 1.0 for r in rows)
    assert res.summary["results"][0]["NoC@90"] == 1.0


def test_ignored_pixels_are_never_clicked(tmp_path):
    write_grabcut(tmp_path / "GrabCut", n=2)
    ds = GrabCutDataset(tmp_path / "GrabCut")
    samples = {s.sample_id: s for s in ds}
    # everything selected: every click after the first is negative, in the background, and the
    # band is the part of the background nearest to the object (where the baseline would go
    # if it could)
    maps = {s.image.tobytes(): np.ones(s.shape, bool) for s in samples.values()}
    res = _run(tmp_path, "all", maps, groups=5, max_clicks=6)
    rows = pq.read_table(res.path / "per_click.parquet").to_pylist()
    assert len(rows) == 2 * (1 + 5) * 6
    for r in rows:
        s = samples[r["sample_id"]]
        assert not s.ignore[r["y"], r["x"]], r
        assert r["positive"] == (r["click"] == 1)
        if r["positive"]:
            assert s.instances["1"][r["y"], r["x"]]
        valid = ~s.ignore
        want = s.instances["1"].sum() / valid.sum()  # pred = every counted pixel
        assert abs(r["iou"] - want) < 1e-12


def _rows(out):
    return pq.read_table(out / "per_click.parquet").drop(["seconds"]).to_pydict()


def test_prefetch_and_workers_change_nothing_and_the_manifest_is_written(tmp_path):
    write_tetris(tmp_path / "TETRIS")
    base = dict(
        simulators=["distance"],
        datasets=["TETRIS"],
        dataset_options={"root": str(tmp_path / "TETRIS")},
        groups=2,
        max_clicks=3,
    )
    plain = rclicks.evaluate("geodesic", **base, prefetch=0, out=tmp_path / "p0")
    ahead = rclicks.evaluate("geodesic", **base, prefetch=4, out=tmp_path / "p4")
    two = rclicks.evaluate("geodesic", **base, workers=2, out=tmp_path / "w2")
    assert _rows(plain.path) == _rows(ahead.path) == _rows(two.path)
    assert set(_rows(plain.path)["instance_id"]) == {
        "1", "65536", "658188", "7", str(0x123456)
    }  # fmt: skip
    m = json.loads((plain.path / "manifest.json").read_text())
    (ds,) = m["datasets"]
    assert ds["dataset"] == "TETRIS" and ds["images"] == 2 and ds["instances"] == 5
    assert [s["size"] for s in ds["samples"]] == [[40, 60], [29, 2048]]
    assert ds["samples"][1]["files"]["mask"]["path"] == "masks/wide.png"
    run = json.loads((plain.path / "run.json").read_text())
    assert run["datasets"][0]["manifest_sha256"] == ds["sha256"]
    again = json.loads((ahead.path / "manifest.json").read_text())["datasets"][0]["sha256"]
    assert again == ds["sha256"]


def test_demo_runs_get_a_manifest_too(tmp_path):
    res = rclicks.evaluate(
        "geodesic", ["distance"], ["demo"], limit=2, groups=2, max_clicks=2, out=tmp_path / "demo"
    )
    (ds,) = json.loads((res.path / "manifest.json").read_text())["datasets"]
    assert ds["images"] == 2 and ds["limit"] == 2
    assert ds["samples"][0]["files"]["image"]["path"] == "images/demo_00.png"
    assert ds["samples"][0]["files"]["mask"]["path"] == "masks/demo_00.png"


def test_a_sample_unreadable_after_the_check_is_recorded_and_resume_completes_it(tmp_path):
    write_grabcut(tmp_path / "GrabCut", n=3)
    calls = {"n": 0}
    real_load = GrabCutDataset.load

    class Flaky(GrabCutDataset):
        def load(self, item):
            if item.sample_id == "s1" and calls["n"] == 0 and getattr(self, "_checked", False):
                calls["n"] += 1
                raise OSError("disk hiccup")
            return real_load(self, item)

        def check(self, limit=None, threads=None):
            out = super().check(limit, threads)
            self._checked = True
            return out

    host = host_with("datasets", "flaky", lambda root: Flaky(root, name="flaky"), "flaky-plugin")
    cfg = dict(
        dataset_options={"root": str(tmp_path / "GrabCut")},
        groups=2,
        max_clicks=2,
        out=tmp_path / "run",
        host=host,
    )
    first = rclicks.evaluate("geodesic", "distance", "flaky", **cfg)
    assert len(first.errors) == 1
    err = json.loads((first.path / "errors.jsonl").read_text().splitlines()[0])
    assert err["sample_id"] == "s1" and err["stage"] == "dataset" and "disk hiccup" in err["error"]
    assert set(_rows(first.path)["sample_id"]) == {"s0", "s2"}
    second = rclicks.evaluate("geodesic", "distance", "flaky", **cfg, resume=True)
    assert second.errors == [] and not (second.path / "errors.jsonl").exists()
    assert set(_rows(second.path)["sample_id"]) == {"s0", "s1", "s2"}
