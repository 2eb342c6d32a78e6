"""Everything a plugin author or a user relies on is documented (in the manner of datasette's
``tests/test_docs.py``): every hook with its exact signature, every optional protocol member,
every CLI command and option, every name of the Python API, and the docs' code examples run."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import typer.main

import rclicks
import rclicks.protocols as protocols
from rclicks.cli import app
from rclicks.plugins import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = {p.name: p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md"))}
PLUGINS_MD = PAGES["plugins.md"]


# -- hooks ---------------------------------------------------------------------------------------


def _hooks() -> list[tuple[str, str]]:
    out = []
    for name, fn in vars(hookspecs).items():
        if name.startswith("rclicks_") and callable(fn):
            params = ", ".join(inspect.signature(fn).parameters)
            out.append((name, f"{name}({params})"))
    return out


def test_there_are_hooks_to_check():
    assert {n for n, _ in _hooks()} == {
        "rclicks_register_models",
        "rclicks_register_simulators",
        "rclicks_register_datasets",
    }


@pytest.mark.parametrize("name,signature", _hooks())
def test_every_hook_is_documented_with_its_signature(name, signature):
    assert signature in PLUGINS_MD, f"docs/plugins.md does not show `{signature}`"


# -- protocols and their optional members ----------------------------------------------------------


def _protocols() -> list[type]:
    return [
        obj
        for name in protocols.__all__
        if isinstance(obj := getattr(protocols, name), type) and getattr(obj, "_is_protocol", False)
    ]


def protocol_members(proto: type) -> list[str]:
    """The members a protocol asks for: its annotated attributes and its methods."""
    members = set(proto.__dict__.get("__annotations__", {}))
    for k, v in proto.__dict__.items():
        if callable(v) and (not k.startswith("_") or k in ("__getitem__", "__len__", "__iter__")):
            members.add(k)
    return sorted(members)


def test_every_optional_member_the_engine_reads_is_a_protocol():
    names = {p.__name__ for p in _protocols()}
    assert {"ISModel", "ClickSimulator", "Dataset"} <= names
    members = {m for p in _protocols() for m in protocol_members(p)}
    for m in ("predict_batch", "predict_differentiable", "region_density", "density_batch",
              "is_baseline", "replay", "user_clicks", "sample_ids", "__getitem__", "check",
              "prefetch_safe", "fingerprint"):  # fmt: skip
        assert m in members, m


@pytest.mark.parametrize("proto", _protocols(), ids=lambda p: p.__name__)
def test_every_protocol_and_member_is_documented(proto):
    assert proto.__doc__ and proto.__doc__.strip(), f"{proto.__name__} has no docstring"
    assert proto.__name__ in PLUGINS_MD, f"docs/plugins.md does not name {proto.__name__}"
    for member in protocol_members(proto):
        assert f"`{member}" in PLUGINS_MD, (
            f"docs/plugins.md does not document `{member}` of {proto.__name__}"
        )


# -- the command line -----------------------------------------------------------------------------


def _commands(cmd, path: tuple[str, ...] = ()):
    if hasattr(cmd, "commands"):  # a group (typer bundles its own click)
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


COMMANDS = list(_commands(typer.main.get_command(app)))


def _sections() -> list[tuple[str, str]]:
    """(heading, text until the next heading of the same or a higher level) of every page."""
    out = []
    for text in PAGES.values():
        heads = list(re.finditer(r"^(#+) (.+)$", text, re.M))
        for i, h in enumerate(heads):
            level = len(h.group(1))
            end = len(text)
            for later in heads[i + 1 :]:
                if len(later.group(1)) <= level:
                    end = later.start()
                    break
            out.append((h.group(2), text[h.end() : end]))
    return out


SECTIONS = _sections()


def section_of(command: str) -> str | None:
    """The docs section of ``rclicks <command>``: the heading naming the longest prefix."""
    words = command.split()
    for n in range(len(words), 0, -1):
        want = f"`rclicks {' '.join(words[:n])}`"
        found = [body for head, body in SECTIONS if want in head]
        if found:
            return "\n".join(found)
    return None


def test_there_are_commands_to_check():
    names = {c for c, _ in COMMANDS}
    assert {"eval", "list", "datasets check", "report", "show-clicks", "submit"} <= names
    assert len(names) >= 12


@pytest.mark.parametrize("command,cmd", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_every_cli_option_is_documented(command, cmd):
    body = section_of(command)
    assert body is not None, f"no docs/*.md section headed `rclicks {command}`"
    missing = []
    for param in cmd.params:
        if getattr(param, "param_type_name", "") != "option":
            continue
        longs = [o for o in param.opts if o.startswith("--")]
        if longs and not any(re.search(re.escape(o) + r"(?![\w-])", body) for o in longs):
            missing.append(longs[0])
    assert not missing, f"`rclicks {command}` options missing from its docs section: {missing}"


# -- the Python API --------------------------------------------------------------------------------


def test_every_name_of_the_python_api_is_documented():
    page = PAGES["python-api.md"]
    missing = [n for n in rclicks.__all__ if not n.startswith("__") and n not in page]
    assert not missing, f"docs/python-api.md does not mention {missing}"


def _examples(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGES[page], re.S)


def test_the_python_api_examples_run(tmp_path, monkeypatch):
    """Every example of docs/python-api.md, in order, in one namespace, in a fresh folder."""
    examples = _examples("python-api.md")
    assert len(examples) >= 6
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    for i, code in enumerate(examples, start=1):
        try:
            exec(compile(code, f"docs/python-api.md example {i}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - reported with the example
            pytest.fail(f"docs/python-api.md example {i} failed: {type(exc).__name__}: {exc}")
    run = namespace["run"]
    assert run.path.resolve() == (tmp_path / "runs" / "disk").resolve()
    assert namespace["scores"].rows and namespace["result"].epochs_done == 1
