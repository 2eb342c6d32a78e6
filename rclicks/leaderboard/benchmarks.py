"""Benchmark specs and the reference instance lists a leaderboard checks coverage against.

A benchmark (``registry.yaml``, section ``benchmarks``) names datasets, simulators and the
protocol settings, with a protocol version. Its *reference* is built by whoever holds the
data — the server, from the datasets it can read — and never taken from a submission: per
dataset the manifest digest, and per sample its id, instance ids and a sha256 over its image,
ground truth and size (see :func:`sample_sha256`); beside it the ground truth itself
(:mod:`rclicks.leaderboard.truth`), against which every submitted mask is checked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from rclicks.errors import BenchmarkError
from rclicks.leaderboard.truth import TruthRecord, read_truth, truth_digest
from rclicks.plugins.presets import Benchmark, load_registry

#: protocol versions this rclicks knows how to check; a benchmark or a submission with
#: another version is refused.
KNOWN_PROTOCOLS = ("rclicks-1",)
BASELINE = "baseline"


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    protocol: str | None
    datasets: tuple[str, ...]
    simulators: tuple[str, ...]
    groups: int = 10
    repeats: int = 1
    max_clicks: int = 20
    baseline: bool = True

    @classmethod
    def from_registry(cls, b: Benchmark) -> BenchmarkSpec:
        s = b.settings
        return cls(
            name=b.name,
            protocol=None if s.get("protocol") is None else str(s["protocol"]),
            datasets=tuple(b.datasets),
            simulators=tuple(b.simulators),
            groups=int(s.get("groups", 10)),
            repeats=int(s.get("repeats", 1)),
            max_clicks=int(s.get("max_clicks", 20)),
            baseline=bool(s.get("baseline", True)),
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchmarkSpec:
        return cls(**{**d, "datasets": tuple(d["datasets"]), "simulators": tuple(d["simulators"])})

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["datasets"], d["simulators"] = list(self.datasets), list(self.simulators)
        return d

    def problem(self) -> str | None:
        """Why this benchmark cannot be used on a leaderboard, or ``None``."""
        if self.protocol is None:
            return f"benchmark {self.name!r} has no 'protocol:' version in registry.yaml"
        if self.protocol not in KNOWN_PROTOCOLS:
            return (
                f"benchmark {self.name!r}: unknown protocol version {self.protocol!r} "
                f"(known: {', '.join(KNOWN_PROTOCOLS)})"
            )
        return None

    def trajectories(self) -> set[tuple[str, int, int]]:
        """Every (simulator, group, repeat) each instance must have. Benchmark simulators
        sample from a density (groups 1..N); ``baseline`` is the deterministic robot."""
        out: set[tuple[str, int, int]] = set()
        if self.baseline or BASELINE in self.simulators:
            out.add((BASELINE, 0, 1))
        for sim in self.simulators:
            if sim == BASELINE:
                continue
            for g in range(1, self.groups + 1):
                for r in range(1, self.repeats + 1):
                    out.add((sim, g, r))
        return out


def sample_sha256(record: dict[str, Any]) -> str:
    """One sha256 per manifest sample: its size, instance ids, ignore pixel count and its
    files' (image, ground truth) sha256 — or the decoded content's for file-less samples."""
    canonical = {
        "size": record.get("size"),
        "instances": [str(i) for i in record.get("instances", [])],
        "ignore_pixels": record.get("ignore_pixels"),
        "files": {role: f.get("sha256") for role, f in sorted(record.get("files", {}).items())},
        "content_sha256": record.get("content_sha256"),
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def reference_from_manifests(spec: BenchmarkSpec, manifests: dict[str, dict]) -> dict[str, Any]:
    """The reference of ``spec`` from one full dataset manifest per benchmark dataset name
    (as :func:`rclicks.datasets.check_dataset` builds them)."""
    datasets = []
    for name in spec.datasets:
        m = manifests[name]
        if m.get("limit") is not None:
            raise BenchmarkError(f"dataset {name!r}: a reference needs every image (no limit)")
        datasets.append(
            {
                "name": name,
                "dataset": m["dataset"],
                "sha256": m["sha256"],
                "images": m["images"],
                "instances": m["instances"],
                "samples": [
                    {
                        "sample_id": str(r["sample_id"]),
                        "instances": [str(i) for i in r["instances"]],
                        "sha256": sample_sha256(r),
                    }
                    for r in m["samples"]
                ],
            }
        )
    labels = [d["dataset"] for d in datasets]
    if len(set(labels)) != len(labels):
        raise BenchmarkError(f"benchmark {spec.name!r}: two datasets share a name ({labels})")
    return {"benchmark": spec.name, "protocol": spec.protocol, "datasets": datasets}


def reference_instances(reference: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(dataset, sample_id, instance_id) of every instance the reference holds."""
    return {
        (d["dataset"], s["sample_id"], iid)
        for d in reference["datasets"]
        for s in d["samples"]
        for iid in s["instances"]
    }


def benchmark_spec(name: str, registry_path: str | None = None) -> BenchmarkSpec:
    """The benchmark ``name`` of ``registry.yaml``; :class:`BenchmarkError` with close names
    when there is none."""
    from rclicks.plugins.host import unknown_message

    reg = load_registry(registry_path)
    if name not in reg.benchmarks:
        raise BenchmarkError(unknown_message("benchmarks", name, list(reg.benchmarks)))
    return BenchmarkSpec.from_registry(reg.benchmarks[name])


def build_reference(
    spec: BenchmarkSpec, registry_path: str | None = None
) -> tuple[dict[str, Any], list[TruthRecord]]:
    """Read every dataset of ``spec`` on this machine (the same check ``rclicks eval`` runs)
    and return its reference and its ground truth (every instance and ignore mask; the
    reference records their digest under ``truth``). Raises :class:`BenchmarkError` naming
    what is missing."""
    from rclicks.datasets.manifest import check_dataset
    from rclicks.plugins.host import get_host
    from rclicks.plugins.names import instantiate, resolve

    problem = spec.problem()
    if problem:
        raise BenchmarkError(problem)
    registry = load_registry(registry_path)
    host = get_host()
    manifests, built = {}, {}
    for name in spec.datasets:
        try:
            ds = instantiate(resolve("datasets", name, {}, registry, host))
            checked = check_dataset(ds, None)
            problems, manifest = checked.problems, checked.manifest
        except Exception as exc:  # noqa: BLE001 - any loader failure means "not available"
            raise BenchmarkError(f"dataset {name!r} is not available here: {exc}") from None
        if problems or manifest is None:
            first = problems[0] if problems else "no manifest"
            raise BenchmarkError(
                f"dataset {name!r} fails its check ({len(problems)} problem(s), e.g. {first})"
            )
        manifests[name], built[name] = manifest, ds
    reference = reference_from_manifests(spec, manifests)
    truth: list[TruthRecord] = []
    for entry in reference["datasets"]:
        try:
            truth += read_truth(built[entry["name"]], entry["dataset"], entry)
        except BenchmarkError:
            raise
        except Exception as exc:  # noqa: BLE001 - a loader failing on the second pass
            raise BenchmarkError(
                f"dataset {entry['name']!r}: reading its ground truth failed: {exc}"
            ) from None
    reference["truth"] = truth_digest(truth)
    return reference, truth
