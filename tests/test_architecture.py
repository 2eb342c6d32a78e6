"""The shape of the house, read from the code's own imports (every ``import`` statement,
including those inside functions and ``TYPE_CHECKING`` blocks):

- no import circle among rclicks modules, and none among its features (the first name under
  ``rclicks``: ``engine``, ``runs``, ``cli``, ...), so imports flow one way;
- the base (types, protocols, clicks, metrics, simulators) and the leaderboard import nothing
  of the engine; the engine imports nothing of the CLI, the API, the plugin registry, the
  datasets or the reports; nothing but the CLI imports the CLI;
- CLI commands import only the public API; the first-party plugins import only rclicks'
  public modules; nobody imports another module's private (``_name``) names.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rclicks"
PLUGINS = ROOT / "plugins"


def _module_name(path: Path, base: Path) -> str:
    rel = path.relative_to(base).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    mods = {_module_name(p, ROOT): p for p in PACKAGE.rglob("*.py")}
    for ext in PACKAGE.glob("_*.c"):  # C extensions built from the package's sources
        mods[f"rclicks.{ext.stem}"] = ext
    return mods


MODULES = _modules()


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports_of(path: Path, module: str, known: dict[str, Path]) -> list[tuple[str, str, int]]:
    """``(imported module, imported name or "", line)`` for every import in ``path``: a
    ``from X import Y`` where ``X.Y`` is a module counts as importing ``X.Y``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = _package_of(module, path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append((a.name, "", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            for a in node.names:
                sub = f"{src}.{a.name}"
                if sub in known:
                    out.append((sub, "", node.lineno))
                else:
                    out.append((src, a.name, node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in MODULES.items():
        if path.suffix != ".py":
            continue
        for target, _name, _line in imports_of(path, mod, MODULES):
            if target in MODULES and target != mod:
                graph[mod].add(target)
    return graph


GRAPH = _graph()


def feature(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def _feature_edges() -> dict[str, dict[str, list[str]]]:
    """feature -> imported feature -> the module edges behind it."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for mod, targets in GRAPH.items():
        for t in targets:
            a, b = feature(mod), feature(t)
            if a != b:
                edges[a][b].append(f"{mod} -> {t}")
    return edges


FEATURE_EDGES = _feature_edges()


def test_the_graph_sees_the_real_imports():
    # guards the test itself: known edges must be found, lazy ones included
    assert "rclicks.clicks" in GRAPH["rclicks.engine.trajectories"]
    assert "rclicks.api" in GRAPH["rclicks"]  # imported lazily, inside __getattr__
    assert "rclicks._edt" in GRAPH["rclicks.clicks"]  # ``from rclicks import _edt``
    assert len(MODULES) > 60


def test_no_import_circle_among_modules():
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH) or [])


def test_no_import_circle_among_features():
    graph = {a: set(bs) for a, bs in FEATURE_EDGES.items()}
    cycle = _cycle(graph)
    if cycle:
        why = [FEATURE_EDGES[a][b][0] for a, b in zip(cycle, cycle[1:])]
        pytest.fail("features import each other in a circle: " + "; ".join(why))


# feature -> features it must not import
FORBIDDEN = {
    "types": {"*"},
    "errors": {"*"},
    "_version": {"*"},
    "protocols": {"engine", "api", "cli", "runs", "plugins", "datasets", "reports"},
    "clicks": {"engine", "api", "cli", "runs", "plugins", "datasets", "reports", "leaderboard"},
    "metrics": {"engine", "api", "cli", "runs", "plugins", "datasets", "reports", "leaderboard"},
    "simulators": {"engine", "api", "cli", "runs", "reports", "leaderboard"},
    "leaderboard": {"engine", "api", "cli", "reports"},
    "engine": {"cli", "api", "plugins", "datasets", "reports", "leaderboard", "<root>"},
    "runs": {"engine", "api", "cli", "plugins", "reports", "leaderboard"},
    "datasets": {"engine", "api", "cli", "runs", "plugins", "reports", "leaderboard"},
    "plugins": {"engine", "api", "cli", "runs", "datasets", "reports", "leaderboard"},
}
ALLOWED_FOR_BASE = {"types": set(), "errors": set(), "_version": set()}


@pytest.mark.parametrize("source", sorted(FORBIDDEN))
def test_layer_rules(source):
    bad = []
    for target, why in FEATURE_EDGES.get(source, {}).items():
        if "*" in FORBIDDEN[source] and target not in ALLOWED_FOR_BASE.get(source, set()):
            bad += why
        elif target in FORBIDDEN[source]:
            bad += why
    assert not bad, f"{source} must not import these: " + "; ".join(bad)


def test_only_the_cli_imports_the_cli():
    bad = [
        why
        for src, targets in FEATURE_EDGES.items()
        if src not in ("cli",)
        for why in targets.get("cli", [])
    ]
    assert not bad, "; ".join(bad)


def test_only_the_cli_and_testing_import_the_root_package():
    # everything else imports the module that defines a name, so the root can load lazily
    bad = [
        why
        for src, targets in FEATURE_EDGES.items()
        if src not in ("cli", "testing")
        for why in targets.get("<root>", [])
    ]
    assert not bad, "; ".join(bad)


CLI_MAY_IMPORT = (
    "rclicks",
    "rclicks.api",
    "rclicks.errors",
    "rclicks.options",
    "rclicks.cli",
    "rclicks.reports",
    "rclicks.leaderboard",
    "rclicks.datasets",
    "rclicks.realclicks",
)


def test_cli_commands_import_only_the_api():
    bad = []
    for mod, path in MODULES.items():
        if feature(mod) != "cli":
            continue
        for target, name, line in imports_of(path, mod, MODULES):
            if not target.startswith("rclicks"):
                continue
            ok = any(target == a or target.startswith(a + ".") for a in CLI_MAY_IMPORT)
            if target == "rclicks" and name:
                ok = name.startswith("__") or not name.startswith("_")
            if not ok:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not bad, "; ".join(bad)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_names_cross_modules():
    bad = []
    for mod, path in MODULES.items():
        if path.suffix != ".py":
            continue
        for target, name, line in imports_of(path, mod, MODULES):
            if target.startswith("rclicks") and name and _private(name):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}.{name}")
    assert not bad, "; ".join(bad)


PUBLIC_FOR_PLUGINS = (
    "rclicks",
    "rclicks.types",
    "rclicks.protocols",
    "rclicks.clicks",
    "rclicks.metrics",
    "rclicks.errors",
    "rclicks.options",
    "rclicks.devices",
    "rclicks.testing",
    "rclicks.nets.segnext",
    "rclicks.plugins",  # the plugin system's public face: hookimpl, load_registry, ...
)


def _plugin_files() -> list[tuple[str, Path, Path]]:
    out = []
    for dist in sorted(p for p in PLUGINS.iterdir() if (p / "pyproject.toml").is_file()):
        for path in sorted(dist.rglob("*.py")):
            out.append((_module_name(path, dist), path, dist))
    return out


def test_first_party_plugins_use_only_the_public_api():
    files = _plugin_files()
    assert len({d for _, _, d in files}) >= 5
    known = {**MODULES, **{m: p for m, p, _ in files}}
    bad = []
    for mod, path, _dist in files:
        for target, name, line in imports_of(path, mod, known):
            where = f"{path.relative_to(ROOT)}:{line}"
            if target.startswith("rclicks.") or target == "rclicks":
                if target not in PUBLIC_FOR_PLUGINS:
                    bad.append(f"{where} imports {target}, not a public rclicks module")
            own = target.split(".")[0] == mod.split(".")[0]
            if name and _private(name) and not own:
                bad.append(f"{where} imports the private {target}.{name}")
            if any(_private(part) for part in target.split(".")) and not own:
                bad.append(f"{where} imports the private module {target}")
    assert not bad, "; ".join(bad)


def test_the_contracts_public_names_import_as_written():
    """CONTRACT §2–5 and §8: other code depends on these exact names."""
    import importlib

    names = {
        "rclicks": [
            "Click", "Sample", "ISModel", "ClickSimulator", "Dataset", "hookimpl",
            "evaluate", "Run", "load_run", "summarize", "RclicksError",
        ],
        "rclicks.clicks": ["baseline_click", "group_support"],
        "rclicks.metrics": ["noc", "nss", "pde", "ks2d_pvalue"],
        "rclicks.nets.segnext": ["ClickabilityNet"],
        "rclicks.testing": ["check_model", "check_simulator", "tiny_dataset"],
    }  # fmt: skip
    for module, attrs in names.items():
        mod = importlib.import_module(module)
        for attr in attrs:
            assert getattr(mod, attr, None) is not None, f"{module}.{attr}"
    from rclicks.clickability.net import ClickabilityNet
    from rclicks.nets.segnext import ClickabilityNet as ByContract

    assert ByContract is ClickabilityNet
