"""``rclicks compare`` / ``rclicks.compare``: paired differences by instance with bootstrap
CIs and Wilcoxon tests find a known effect, call two seeds of one model equal, cover the true
difference at the nominal rate, are deterministic, and refuse runs that do not pair."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rclicks
from rclicks.errors import OptionError, ReportError
from rclicks.reports.comparison import holm, paired_bootstrap, wilcoxon_p
from tests.helpers import run_cli

SMALL = dict(simulators="distance", datasets="demo", limit=8, groups=3, max_clicks=8)
WEAK = {"n_segments": 40, "refine": False}  # coarse superpixels: clearly more clicks


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    good = rclicks.evaluate("geodesic", **SMALL, out=root / "good")
    weak = rclicks.evaluate("geodesic", **SMALL, model_options=WEAK, out=root / "weak")
    seed1 = rclicks.evaluate("geodesic", **SMALL, seed=1, out=root / "seed1")
    return good, weak, seed1


def test_a_known_effect_is_found(runs):
    good, weak, _ = runs
    df = rclicks.compare(good, weak, resamples=2000)
    assert list(df["simulator"]) == ["baseline", "distance"]
    for r in df.itertuples():
        assert r.verdict == "A better", r
        assert r.diff > 0 and r.ci_low > 0  # the weak model needs more clicks
        assert r.p_holm < 0.05 and r.wins_a > r.wins_b
        assert r.mean_b - r.mean_a == pytest.approx(r.diff)
    # the means are the run's own NoC@90 (Sample NoC for the groups)
    by_sim = {e["simulator"]: e for e in weak.summary["results"]}
    assert df["mean_b"].tolist() == pytest.approx([by_sim[s]["NoC@90"] for s in df["simulator"]])
    # swapped, the verdict follows
    swapped = rclicks.compare(weak, good, resamples=2000)
    assert set(swapped["verdict"]) == {"B better"}
    # a higher-is-better metric points the same way
    auc = rclicks.compare(good, weak, metric="iou-auc", resamples=2000)
    assert set(auc["verdict"]) == {"A better"} and (auc["diff"] < 0).all()


def test_two_seeds_of_one_model_are_no_significant_difference(runs):
    good, _, seed1 = runs
    df = rclicks.compare(good, seed1, resamples=2000)
    assert set(df["verdict"]) == {"no significant difference"}
    base = df[df["simulator"] == "baseline"].iloc[0]
    assert base["diff"] == 0 and base["ties"] == base["n"]  # the robot does not sample
    grouped = df[df["simulator"] == "distance"].iloc[0]
    assert grouped["ci_low"] <= 0 <= grouped["ci_high"]


def test_the_bootstrap_is_deterministic_for_a_seed(runs):
    good, weak, _ = runs
    a = rclicks.compare(good, weak, resamples=1000, seed=3)
    b = rclicks.compare(good, weak, resamples=1000, seed=3)
    c = rclicks.compare(good, weak, resamples=1000, seed=4)
    assert a.equals(b)
    assert not np.allclose(a["ci_low"], c["ci_low"])


def test_the_interval_covers_a_known_difference_at_the_nominal_rate():
    """200 simulated pairs of runs (60 instances × 10 groups, per-instance difficulty, group
    noise, a true paired effect of 0.4 clicks): the 95% CI covers 0.4 in ≥ 93% of them."""
    rng = np.random.default_rng(12345)
    true, n, m, reps, covered = 0.4, 60, 10, 200, 0
    for k in range(reps):
        difficulty = rng.gamma(2.0, 2.0, size=(n, 1))
        effect = true + rng.normal(0, 1.0, size=(n, 1))  # instances differ in the effect
        a = difficulty + rng.normal(0, 1.5, size=(n, m))
        b = difficulty + effect + rng.normal(0, 1.5, size=(n, m))
        boot = paired_bootstrap(a, b, 1000, np.random.default_rng(k))
        lo, hi = np.percentile(boot, [2.5, 97.5])
        covered += lo <= true <= hi
    assert covered / reps >= 0.93, covered / reps


def test_the_statistics_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, float("nan"), 0.01]) == pytest.approx([0.5, float("nan"), 0.02], nan_ok=True)
    assert wilcoxon_p(np.zeros(5)) == 1.0
    from scipy.stats import wilcoxon

    d = np.array([1.0, 2.0, -0.5, 3.0, 1.5, 0.0, 2.5])
    assert wilcoxon_p(d) == pytest.approx(wilcoxon(d).pvalue)
    # one unit per instance: the bootstrap resamples instances only
    a, b = np.zeros((3, 1)), np.array([[1.0], [2.0], [3.0]])
    boot = paired_bootstrap(a, b, 500, np.random.default_rng(0))
    assert boot.min() >= 1.0 and boot.max() <= 3.0 and abs(boot.mean() - 2.0) < 0.1


def test_runs_that_do_not_pair_are_refused_unless_forced(runs, tmp_path):
    good, _, _ = runs
    fewer = rclicks.evaluate("geodesic", **{**SMALL, "limit": 5}, out=tmp_path / "fewer")
    with pytest.raises(ReportError, match=r"instance\(s\) only in geodesic \(good\)") as err:
        rclicks.compare(good, fewer)
    assert "manifest_sha256" in str(err.value)  # and the data differ
    forced = rclicks.compare(good, fewer, force=True, resamples=500)
    assert forced.attrs["notes"] and (forced["n"] < 18).all()
    shorter = rclicks.evaluate("geodesic", **{**SMALL, "max_clicks": 6}, out=tmp_path / "short")
    with pytest.raises(ReportError, match="max_clicks differs"):
        rclicks.compare(good, shorter)
    with pytest.raises(OptionError, match="unknown metric"):
        rclicks.compare(good, good, metric="noc@99")


def test_the_command_line(runs, tmp_path):
    good, weak, seed1 = runs
    r = run_cli(["compare", str(good.path), str(weak.path), "--resamples", "500"])
    assert r.returncode == 0, r.stderr
    assert "A better" in r.stdout and "NoC@90" in r.stdout
    r = run_cli(
        ["compare", str(good.path), str(weak.path), str(seed1.path), "--format", "json",
         "--resamples", "500", "--metric", "sample-noc@90"]
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["metric"] == "sample-noc@90" and len(data["rows"]) == 2  # grouped rows only
    assert [row["verdict"] for row in data["rows"]] == ["A better", "no significant difference"]
    html = tmp_path / "c.html"
    r = run_cli(["compare", str(good.path), str(weak.path), "--format", "html", "--out", str(html),
                 "--resamples", "500"])  # fmt: skip
    assert r.returncode == 0 and 'id="plot-forest"' in html.read_text()
    bad = run_cli(["compare", str(good.path), str(tmp_path / "nope")])
    assert bad.returncode == 1 and "no such run folder" in bad.stderr
    assert "Traceback" not in bad.stderr
