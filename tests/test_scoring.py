"""score-simulator: the five clickability metrics against real clicks (synthetic ones here)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from PIL import Image
from scipy.stats import kstwobign, wasserstein_distance_nd

import rclicks
from rclicks.datasets import FolderDataset, demo_root
from rclicks.errors import ClicksFileError
from rclicks.metrics import ks2d_pvalue, ks2d_pvalues, wasserstein_equal
from rclicks.realclicks import load_clicks, write_clicks
from tests.helpers import PeakedSimulator, host_with, run_cli, synthetic_clicks


@pytest.fixture(scope="module")
def demo():
    return FolderDataset(demo_root(), name="demo")


@pytest.fixture(scope="module")
def clicks_csv(tmp_path_factory, demo):
    path = tmp_path_factory.mktemp("clicks") / "clicks.csv"
    synthetic_clicks(path, demo, per_set=25, seed=1, limit=8)
    return path


# -- KS, straightforwardly ------------------------------------------------------------------


def _naive_ks_pvalue(x1, y1, x2, y2):
    """Fasano–Franceschini / Peacock two-sample 2-D KS written as plainly as possible: loops
    over the origin points, quadrant fractions counted one by one."""

    def quadrants(x0, y0, xs, ys):
        n = len(xs)
        a = sum(1 for x, y in zip(xs, ys) if x <= x0 and y <= y0) / n
        b = sum(1 for x, y in zip(xs, ys) if x <= x0 and y > y0) / n
        c = sum(1 for x, y in zip(xs, ys) if x > x0 and y <= y0) / n
        return [a, b, c, 1 - a - b - c]

    def maxdist(xa, ya, xb, yb):
        n = len(xa)
        diffs = []
        for x0, y0 in zip(xa, ya):
            qa, qb = quadrants(x0, y0, xa, ya), quadrants(x0, y0, xb, yb)
            d = [p - q for p, q in zip(qa, qb)]
            d[0] -= 1 / n
            diffs.append(d)
        flat = [v for d in diffs for v in d]
        return max(-min(flat), max(flat) + 1 / n)

    d = (maxdist(x1, y1, x2, y2) + maxdist(x2, y2, x1, y1)) / 2
    n1, n2 = len(x1), len(x2)
    sqen = math.sqrt(n1 * n2 / (n1 + n2))
    r1 = np.corrcoef(x1, y1)[0, 1]
    r2 = np.corrcoef(x2, y2)[0, 1]
    r = math.sqrt(1 - 0.5 * (r1**2 + r2**2))
    return float(kstwobign.sf(d * sqen / (1 + r * (0.25 - 0.75 / sqen))))


def test_vectorised_ks_matches_the_straightforward_implementation():
    rng = np.random.default_rng(7)
    for n1, n2 in [(5, 5), (8, 13), (20, 20), (3, 9)]:
        x1, y1 = rng.integers(0, 12, n1), rng.integers(0, 12, n1)  # small range: many ties
        xs2, ys2 = rng.integers(0, 12, (6, n2)), rng.integers(0, 12, (6, n2))
        got = ks2d_pvalues(x1, y1, xs2, ys2)
        want = [_naive_ks_pvalue(x1, y1, xs2[b], ys2[b]) for b in range(6)]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        single = [ks2d_pvalue(x1, y1, xs2[b], ys2[b]) for b in range(6)]
        np.testing.assert_allclose(got, single, rtol=1e-12, atol=1e-14)


def test_ks_separates_different_distributions():
    rng = np.random.default_rng(0)
    x1, y1 = rng.normal(0, 1, 60), rng.normal(0, 1, 60)
    same = ks2d_pvalues(x1, y1, rng.normal(0, 1, (20, 60)), rng.normal(0, 1, (20, 60)))
    moved = ks2d_pvalues(x1, y1, rng.normal(2, 1, (20, 60)), rng.normal(0, 1, (20, 60)))
    assert np.mean(same > 0.05) > 0.7
    assert np.mean(moved > 0.05) == 0.0


def test_wasserstein_of_equal_sets_is_scipys():
    rng = np.random.default_rng(3)
    for n in (1, 4, 17):
        a, b = rng.integers(0, 50, (n, 2)), rng.integers(0, 50, (n, 2))
        assert wasserstein_equal(a, b) == pytest.approx(
            wasserstein_distance_nd(a, b), rel=1e-6, abs=1e-9
        )


# -- scoring a dataset ---------------------------------------------------------------------


def _score(tmp_path, clicks, sims, host, **kw):
    return rclicks.score_simulator(
        sims,
        clicks,
        "demo",
        batches=kw.pop("batches", 20),
        out=tmp_path / kw.pop("name", "score"),
        device="cpu",
        host=host,
        **kw,
    )


def test_true_density_scores_better_than_uniform_on_every_metric(tmp_path, clicks_csv):
    host = host_with("simulators", "truth", PeakedSimulator)
    res = _score(tmp_path, clicks_csv, ["truth", "uniform"], host)
    means = {m["simulator"]: m for m in res.means if m["click_type"] == "all"}
    truth, uniform = means["truth"], means["uniform"]
    assert truth["sets"] == uniform["sets"] == len(load_clicks(clicks_csv))
    for m in ("PDE", "NSS", "KS"):
        assert truth[m] > uniform[m], (m, truth[m], uniform[m])
    for m in ("WD", "PL1"):
        assert truth[m] < uniform[m], (m, truth[m], uniform[m])
    # the true density passes the KS test most of the time
    assert truth["KS"] > 0.8
    # per-image rows: one per click set and simulator; the mean is their mean
    rows = list(csv.DictReader(open(res.out / "per_image.csv")))
    assert len(rows) == 2 * truth["sets"]
    nss = [float(r["NSS"]) for r in rows if r["simulator"] == "truth"]
    assert truth["NSS"] == pytest.approx(np.mean(nss))
    mean_csv = list(csv.DictReader(open(res.out / "mean.csv")))
    assert {(r["simulator"], r["click_type"]) for r in mean_csv} >= {
        ("truth", "all"),
        ("uniform", "first"),
    }


def test_same_seed_same_numbers_other_seed_other_samples(tmp_path, clicks_csv):
    host = host_with("simulators", "truth", PeakedSimulator)
    a = _score(tmp_path, clicks_csv, ["truth"], host, name="a", batches=5)
    b = _score(tmp_path, clicks_csv, ["truth"], host, name="b", batches=5)
    c = _score(tmp_path, clicks_csv, ["truth"], host, name="c", batches=5, seed=3)
    assert (a.out / "per_image.csv").read_text() == (b.out / "per_image.csv").read_text()
    assert [r["WD"] for r in a.rows] != [r["WD"] for r in c.rows]
    # PDE / NSS do not sample: equal whatever the seed
    assert [r["NSS"] for r in a.rows] == [r["NSS"] for r in c.rows]


def _round_two(tmp_path, demo, kind: str, n: int = 6):
    """fn / fp click sets on previous masks: fn misses the object's left half, fp adds a band
    of background around the object. Clicks fall into the error region."""
    from scipy.ndimage import binary_dilation

    prev_dir = tmp_path / "prev"
    prev_dir.mkdir(exist_ok=True)
    rows, errors = [], {}
    rng = np.random.default_rng(5)
    for s in list(demo)[:3]:
        for iid, gt in s.instances.items():
            obj = iid if len(s.instances) > 1 else ""
            if kind == "fn":
                prev = gt.copy()
                cols = np.flatnonzero(gt.any(axis=0))
                prev[:, : cols[len(cols) // 2]] = False
                err = gt & ~prev
            else:
                prev = binary_dilation(gt, iterations=6)
                err = ~gt & prev
            stem = f"{s.sample_id}_______{obj}_sam" if obj else f"{s.sample_id}_sam"
            Image.fromarray((prev * 255).astype(np.uint8)).save(prev_dir / f"{stem}.png")
            errors[stem] = err
            ys, xs = np.nonzero(err)
            for k in rng.choice(len(xs), n):
                rows.append(
                    dict(
                        dataset="demo",
                        full_stem=stem,
                        image_stem=s.sample_id,
                        object_stem=obj,
                        click_type=kind,
                        model_type="sam",
                        x=xs[k],
                        y=ys[k],
                        w=gt.shape[1],
                        h=gt.shape[0],
                        device="pc",
                    )
                )
    path = write_clicks(tmp_path / f"{kind}.csv", rows)
    return path, prev_dir, errors


@pytest.mark.parametrize("kind", ["fn", "fp"])
def test_second_rounds_use_the_previous_masks(tmp_path, demo, kind):
    path, prev_dir, errors = _round_two(tmp_path, demo, kind)
    seen = {}

    class Recorder:
        deterministic = False

        def density(self, image, gt_mask, error_mask):
            seen[len(seen)] = error_mask.copy()
            return error_mask.astype(np.float32)

    host = host_with("simulators", "rec", Recorder)
    res = _score(tmp_path, path, ["rec"], host, prev_masks=str(prev_dir), batches=3)
    assert {r["click_type"] for r in res.rows} == {kind}
    got = sorted(m.sum() for m in seen.values())
    assert got == sorted(e.sum() for e in errors.values())
    # every real click lies in the error region, where the density is: PDE > 0
    assert all(r["PDE"] > 0 for r in res.rows)


def test_missing_previous_mask_is_named(tmp_path, demo):
    path, prev_dir, errors = _round_two(tmp_path, demo, "fn")
    victim = prev_dir / f"{next(iter(errors))}.png"
    victim.unlink()
    r = run_cli(
        [
            "score-simulator",
            "-s",
            "uniform",
            "--clicks",
            str(path),
            "--dataset",
            "demo",
            "--prev-masks",
            str(prev_dir),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert r.returncode == 1
    assert str(victim) in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()  # stopped before any work


def test_bad_clicks_csv_names_file_and_line(tmp_path):
    bad = tmp_path / "clicks.csv"
    bad.write_text(
        "dataset,full_stem,image_stem,object_stem,click_type,model_type,x,y,w,h,device\n"
        "demo,demo_00,demo_00,,first,,1,2,10,10,pc\n"
        "demo,demo_00,demo_00,,second,,1,2,10,10,pc\n"
        "demo,demo_00,demo_00,,first,,1.5,2,10,10,tablet\n"
    )
    with pytest.raises(ClicksFileError) as e:
        load_clicks(bad)
    msg = str(e.value)
    assert f"{bad}:3" in msg and "click_type" in msg
    assert f"{bad}:4" in msg
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("dataset,x,y\ndemo,1,2\n")
    with pytest.raises(ClicksFileError, match="missing column"):
        load_clicks(nocol)


def test_cli_prints_the_table_and_refuses_unknown_datasets(tmp_path, clicks_csv):
    args = ["score-simulator", "-s", "uniform", "-s", "distance", "--clicks", str(clicks_csv)]
    r = run_cli([*args, "--dataset", "demo", "--batches", "4", "--out", str(tmp_path / "s")])
    assert r.returncode == 0, r.stderr
    for col in ("PDE", "NSS", "KS", "WD", "PL1", "uniform", "distance"):
        assert col in r.stdout
    assert (tmp_path / "s" / "score.json").exists()
    r = run_cli([*args, "--dataset", "demo", "--clicks-dataset", "DAVIS"])
    assert r.returncode == 1
    assert "no first/fn/fp click sets for dataset 'DAVIS'" in r.stderr
    assert "demo" in r.stderr  # the datasets the file has


def test_dataset_names_of_clicks_csv_and_rclicks_meet():
    from rclicks.realclicks import canonical_dataset

    assert canonical_dataset("COCO") == canonical_dataset("COCO_MVal") == "COCO_MVal"
    assert canonical_dataset("TETRIS-val") == canonical_dataset("TETRIS") == "TETRIS"
    assert canonical_dataset("DAVIS") == "DAVIS"
