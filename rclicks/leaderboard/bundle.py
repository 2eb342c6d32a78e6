"""The submission bundle: a zip of a run's result files with a hashed ``MANIFEST.json``.

Members (flat, nothing else allowed): ``run.json``, ``summary.json``, ``per_click.parquet``,
``manifest.json`` (the dataset manifest), ``submission.json`` (name, paper, code) and
``MANIFEST.json``::

    {"format": "rclicks-bundle/1", "rclicks": "0.1.0", "plugins": {...},
     "files": {"run.json": {"sha256": "...", "bytes": 2493}, ...}}

A bundle is read into memory member by member (:func:`read_bundle`), never extracted to disk;
absolute names, ``..``, backslashes, directories, symlinks, duplicates, unknown members and
oversized contents are refused before anything is decompressed.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from rclicks.errors import BundleError

BUNDLE_FORMAT = "rclicks-bundle/1"
MANIFEST_NAME = "MANIFEST.json"
REQUIRED = ("run.json", "summary.json", "per_click.parquet", "manifest.json", "submission.json")
ALLOWED = frozenset(REQUIRED) | {MANIFEST_NAME}
#: the run-folder files a bundle carries (submission.json is written by ``rclicks submit``)
RUN_FILES = ("run.json", "summary.json", "per_click.parquet", "manifest.json")
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # same files -> same bundle bytes


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_manifest(files: dict[str, bytes], versions: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        **versions,
        "files": {
            name: {"sha256": sha256_bytes(data), "bytes": len(data)}
            for name, data in sorted(files.items())
        },
    }


def build_bundle(files: dict[str, bytes], versions: dict[str, Any]) -> bytes:
    """Zip ``files`` (name -> bytes) with a ``MANIFEST.json`` of their sha256 and
    ``versions`` (``rclicks``, ``plugins``)."""
    manifest = bundle_manifest(files, versions)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [(MANIFEST_NAME, _dumps(manifest)), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode()


def unsafe_name(name: str) -> str | None:
    """Why a member name must not be used, or ``None``."""
    if not name:
        return "an empty name"
    if "\x00" in name:
        return "a NUL byte"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if "\\" in name:
        return "a backslash"
    parts = name.split("/")
    if ".." in parts:
        return "'..' (path traversal)"
    if len(parts) > 1:
        return "a folder (bundle members are flat)"
    return None


def read_bundle(source: bytes | BinaryIO | Path, max_bytes: int) -> dict[str, bytes]:
    """Every member of a bundle as bytes, after the safety checks and the MANIFEST hash check.
    ``max_bytes`` bounds the total uncompressed size. Raises :class:`BundleError`."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise BundleError("bundle: not a zip archive") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > 2 * len(ALLOWED):
            raise BundleError(f"bundle: {len(infos)} members; expected {sorted(ALLOWED)}")
        seen: set[str] = set()
        total = 0
        for info in infos:
            name = info.filename
            why = unsafe_name(name)
            if why:
                raise BundleError(f"bundle: member {name!r} has {why}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise BundleError(f"bundle: member {name!r} is a symbolic link")
            if info.is_dir():
                raise BundleError(f"bundle: member {name!r} is a directory")
            if name not in ALLOWED:
                raise BundleError(
                    f"bundle: unexpected member {name!r}; allowed: {', '.join(sorted(ALLOWED))}"
                )
            if name in seen:
                raise BundleError(f"bundle: member {name!r} appears twice")
            seen.add(name)
            total += info.file_size
            if total > max_bytes:
                raise BundleError(
                    f"bundle: uncompressed contents over the limit of {max_bytes} bytes", 413
                )
        files: dict[str, bytes] = {}
        budget = max_bytes
        for info in infos:
            try:
                with zf.open(info) as f:
                    data = f.read(budget + 1)  # never trust the declared size
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
                raise BundleError(f"bundle: member {info.filename!r} is corrupt ({e})") from None
            budget -= len(data)
            if budget < 0:
                raise BundleError(
                    f"bundle: uncompressed contents over the limit of {max_bytes} bytes", 413
                )
            files[info.filename] = data
    check_manifest(files)
    return files


def check_manifest(files: dict[str, bytes]) -> dict[str, Any]:
    """``MANIFEST.json`` lists exactly the other members, each with its sha256."""
    if MANIFEST_NAME not in files:
        raise BundleError(f"bundle: no {MANIFEST_NAME}")
    try:
        manifest = json.loads(files[MANIFEST_NAME])
    except (ValueError, UnicodeDecodeError):
        raise BundleError(f"{MANIFEST_NAME}: not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{MANIFEST_NAME}: 'format' must be {BUNDLE_FORMAT!r}")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not all(isinstance(v, dict) for v in listed.values()):
        raise BundleError(f"{MANIFEST_NAME}: 'files' must map each file to its sha256")
    present = set(files) - {MANIFEST_NAME}
    missing = [n for n in REQUIRED if n not in present]
    if missing:
        raise BundleError(f"bundle: missing {', '.join(missing)}")
    if set(listed) != present:
        extra = sorted(set(listed) ^ present)
        raise BundleError(f"{MANIFEST_NAME}: lists other files than the bundle holds: {extra}")
    for name in sorted(present):
        want = listed[name].get("sha256")
        got = sha256_bytes(files[name])
        if want != got:
            raise BundleError(
                f"{MANIFEST_NAME}: sha256 of {name} does not match (listed {want}, actual {got})"
            )
    return manifest
