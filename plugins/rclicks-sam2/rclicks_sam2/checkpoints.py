"""Finding a checkpoint file and checking its sha256. Standard library only.

Lookup order: the ``checkpoint`` option, then ``$RCLICKS_CHECKPOINTS/<official file name>``.
Hashing reads 1 MiB chunks; a computed sum is cached by (absolute path, size, mtime) in
``$XDG_CACHE_HOME/rclicks/sha256.json`` (default ``~/.cache/rclicks``), so a large checkpoint
is hashed once, not on every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from rclicks_sam2.errors import Sam2Error
from rclicks_sam2.variants import Variant

ENV_DIR = "RCLICKS_CHECKPOINTS"
CHUNK = 1 << 20


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rclicks" / "sha256.json"


def _read_cache() -> dict:
    try:
        data = json.loads(cache_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(data: dict) -> None:
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, cached by (absolute path, size, mtime)."""
    p = Path(path).resolve()
    st = p.stat()
    key = str(p)
    cache = _read_cache()
    hit = cache.get(key)
    if (
        isinstance(hit, dict)
        and hit.get("size") == st.st_size
        and hit.get("mtime_ns") == st.st_mtime_ns
    ):
        return str(hit["sha256"])
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    digest = h.hexdigest()
    cache = _read_cache()  # re-read: another process may have written meanwhile
    cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    _write_cache(cache)
    return digest


def expected_sha256(variant: Variant, option: object) -> tuple[bool, str | None]:
    """``(check, sum)``: the ``sha256`` option when given, else the published sum (``None``
    when there is none: the file's sum is then printed); ``false``/``skip`` = no check."""
    if option is None or option == "":
        return True, variant.sha256
    if option is False or str(option).strip().lower() in ("false", "skip", "no", "off"):
        return False, None
    text = str(option).strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise Sam2Error(f"sha256 option {option!r} is not a 64-digit hexadecimal sha256 sum")
    return True, text


def resolve_checkpoint(variant: Variant, checkpoint: str | os.PathLike | None) -> Path:
    """The checkpoint file to load, or a :class:`Sam2Error` naming every place looked."""
    looked: list[str] = []
    if checkpoint not in (None, ""):
        p = Path(os.path.expandvars(str(checkpoint))).expanduser()
        if p.is_file():
            return p
        why = "is a directory" if p.is_dir() else "no such file"
        looked.append(f"checkpoint option: {p} ({why})")
    else:
        looked.append("checkpoint option: not given")
    env = os.environ.get(ENV_DIR)
    if checkpoint in (None, ""):
        if env:
            p = Path(env).expanduser() / variant.filename
            if p.is_file():
                return p
            looked.append(f"${ENV_DIR}/{variant.filename}: {p} (no such file)")
        else:
            looked.append(f"${ENV_DIR}/{variant.filename}: ${ENV_DIR} is not set")
    sha = variant.sha256 or "not published; the loader prints the sum of the file it loads"
    raise Sam2Error(
        f"SAM 2 checkpoint for variant {variant.name} not found.\n"
        f"Looked in:\n"
        + "".join(f"  - {line}\n" for line in looked)
        + f"Expected file: {variant.filename} (sha256 {sha}),\n"
        f"published by Meta at {variant.url}\n"
        f"(also on the Hugging Face hub: https://huggingface.co/{variant.hf_repo}).\n"
        f"Download it, then either put it into the folder named by ${ENV_DIR} or pass its path: "
        f"rclicks eval --model-opt checkpoint=/path/to/{variant.filename} ... "
        f"(in Python: checkpoint='/path/to/{variant.filename}')."
    )


def verify_checkpoint(path: Path, variant: Variant, expected: str | None) -> str:
    """Check the file's sha256 against ``expected``; without one, print the actual sum so that
    a user can pin it. Returns the actual sum."""
    actual = file_sha256(path)
    if expected is None:
        print(
            f"rclicks-sam2: {path} has sha256 {actual}; no published sum to compare with. "
            f"Pin it with --model-opt sha256={actual}",
            file=sys.stderr,
        )
        return actual
    if actual != expected:
        raise Sam2Error(
            f"checkpoint {path} has sha256 {actual}, expected {expected} for variant "
            f"{variant.name} ({variant.filename}, published at {variant.url}).\n"
            f"The file is incomplete, corrupted or a different file: download it again, "
            f"or, if you trust this file, pass --model-opt sha256={actual} (or sha256=skip)."
        )
    return actual
