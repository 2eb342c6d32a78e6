"""``rclicks submit``: validate a run folder locally, bundle it, upload it to a leaderboard.

Locally the run is checked against its own ``manifest.json`` and the benchmark in the local
``registry.yaml``: the same checks the server runs (the server then checks against the
reference it built from its own copy of the data).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclicks.errors import BundleError, SubmitError
from rclicks.leaderboard.benchmarks import BenchmarkSpec
from rclicks.leaderboard.bundle import MASKS, RUN_FILES, build_bundle, read_bundle
from rclicks.leaderboard.validate import Checked, check_files

TOKEN_ENV = "RCLICKS_TOKEN"
LOCAL_LIMIT = 1 << 31  # bytes a local bundle may hold uncompressed


@dataclass
class Prepared:
    bundle: bytes
    checked: Checked


def run_files(run_dir: Path) -> dict[str, bytes]:
    if not run_dir.is_dir():
        raise SubmitError(f"{run_dir}: not a run folder")
    missing = [n for n in RUN_FILES if not (run_dir / n).is_file()]
    if missing == [MASKS]:
        raise SubmitError(
            f"{run_dir}: no {MASKS} — the leaderboard recomputes every IoU from the predicted "
            "masks; re-run with `rclicks eval --benchmark NAME --save-masks` (the default for "
            "benchmark runs since rclicks kept masks)"
        )
    if missing:
        raise SubmitError(
            f"{run_dir}: missing {', '.join(missing)} (a finished `rclicks eval --benchmark` "
            f"run folder holds {', '.join(RUN_FILES)})"
        )
    return {n: (run_dir / n).read_bytes() for n in RUN_FILES}


def prepare(
    run_dir: Path,
    name: str | None = None,
    paper: str | None = None,
    code: str | None = None,
    registry: str | Path | None = None,
) -> Prepared:
    """Check ``run_dir`` the way the server will and build its bundle."""
    from rclicks._version import __version__
    from rclicks.plugins.presets import load_registry

    files = run_files(run_dir)
    try:
        run = json.loads(files["run.json"])
    except ValueError as exc:
        raise SubmitError(f"{run_dir / 'run.json'}: not valid JSON ({exc})") from None
    bench = run.get("benchmark") if isinstance(run, dict) else None
    if not bench:
        raise SubmitError(
            f"{run_dir / 'run.json'}: the run was not made with --benchmark; only benchmark "
            "runs can be submitted (rclicks eval --benchmark NAME --model ...)"
        )
    reg = load_registry(registry)
    if bench not in reg.benchmarks:
        raise SubmitError(
            f"{run_dir / 'run.json'}: benchmark {bench!r} is not in {reg.path or 'registry.yaml'}"
        )
    spec = BenchmarkSpec.from_registry(reg.benchmarks[bench])
    model = (run.get("model") or {}).get("name") if isinstance(run.get("model"), dict) else None
    meta = {"name": name or model or "unnamed", "paper": paper, "code": code}
    files["submission.json"] = (json.dumps(meta, indent=1) + "\n").encode()
    versions = {"rclicks": __version__, "plugins": run.get("plugins", {})}
    bundle = build_bundle(files, versions)
    try:
        checked = check_files(read_bundle(bundle, LOCAL_LIMIT), spec, None)
    except BundleError as exc:
        raise SubmitError(f"{run_dir}: {exc}") from None
    return Prepared(bundle, checked)


def upload(url: str, bundle: bytes, token: str, timeout: float = 3600.0) -> dict[str, Any]:
    """POST the bundle to ``URL/api/submissions``; the server's JSON answer."""
    endpoint = url.rstrip("/") + "/api/submissions"
    req = urllib.request.Request(
        endpoint,
        data=bundle,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/zip",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            detail = json.loads(body).get("detail", body.decode(errors="replace"))
        except (ValueError, AttributeError):
            detail = body.decode(errors="replace")[:500]
        raise SubmitError(f"{endpoint} rejected the submission ({exc.code}): {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SubmitError(f"cannot reach {endpoint}: {reason}") from None
