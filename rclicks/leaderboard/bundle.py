"""The submission bundle: a zip of a run's result files with a hashed ``MANIFEST.json``.

Members (flat, nothing else allowed): ``run.json``, ``summary.json``, ``per_click.parquet``,
``masks.parquet`` (the predicted mask after every click), ``manifest.json`` (the dataset
manifest), ``submission.json`` (name, paper, code) and ``MANIFEST.json``::

    {"format": "rclicks-bundle/2", "rclicks": "0.1.0", "plugins": {...},
     "files": {"run.json": {"sha256": "...", "bytes": 2493}, ...}}

A bundle is read into memory member by member (:func:`read_bundle`), never extracted to disk.
Before anything is decompressed the archive's layout is checked — it starts with its first
member and ends with its directory (nothing before, between or after), no encryption, no
data descriptors, deflate or stored only — and absolute names, ``..``, backslashes,
directories, symlinks, duplicates, unknown members and oversized contents are refused. Members
are then decompressed in chunks against a running limit (their declared sizes are not
trusted).
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from rclicks.errors import BundleError
from rclicks.runs.masks import MASKS

BUNDLE_FORMAT = "rclicks-bundle/2"
MANIFEST_NAME = "MANIFEST.json"
#: every member but MANIFEST.json, which lists them
MEMBERS = (
    "run.json", "summary.json", "per_click.parquet", MASKS, "manifest.json", "submission.json",
)  # fmt: skip
REQUIRED = MEMBERS
ALLOWED = frozenset(MEMBERS) | {MANIFEST_NAME}
#: the run-folder files a bundle carries (submission.json is written by ``rclicks submit``)
RUN_FILES = ("run.json", "summary.json", "per_click.parquet", MASKS, "manifest.json")
#: the most a member may unpack to (the parquet files are bounded by the bundle's limit)
MEMBER_LIMITS = {
    MANIFEST_NAME: 1 << 16,
    "submission.json": 1 << 14,
    "run.json": 1 << 20,
    "summary.json": 16 << 20,
    "manifest.json": 128 << 20,
}
CHUNK = 1 << 20
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # same files -> same bundle bytes
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # a member's local header (30 bytes)
_END = struct.Struct("<4sHHHHIIH")  # the end of central directory record (22 bytes)


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


def _check_layout(f: BinaryIO, infos: list[zipfile.ZipInfo]) -> None:
    """The archive is exactly its members, one after the other from byte 0, then its central
    directory, then the end record: nothing hidden before, between or after them."""
    f.seek(0, io.SEEK_END)
    size = f.tell()
    if size < _END.size:
        raise BundleError("bundle: not a zip archive")
    f.seek(size - _END.size)
    sig, _disk, _cd_disk, n_here, n_all, cd_size, cd_offset, comment = _END.unpack(
        f.read(_END.size)
    )
    if sig != b"PK\x05\x06" or comment != 0:
        raise BundleError("bundle: bytes after the end of the zip archive")
    if cd_offset + cd_size < size - _END.size:  # the offsets count from a later start
        raise BundleError("bundle: unexpected bytes before the first member of the zip archive")
    if n_here != n_all or n_all != len(infos) or cd_offset + cd_size != size - _END.size:
        raise BundleError("bundle: the zip directory is not where the archive says it is")
    at = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset != at:
            what = "before the first member" if at == 0 else f"before member {info.filename!r}"
            raise BundleError(f"bundle: unexpected bytes {what}")
        f.seek(at)
        head = f.read(_LOCAL.size)
        if len(head) < _LOCAL.size:
            raise BundleError(f"bundle: member {info.filename!r} is cut short")
        sig, _ver, flags, method, _t, _d, _crc, csize, _usize, nlen, elen = _LOCAL.unpack(head)
        if sig != b"PK\x03\x04":
            raise BundleError(f"bundle: member {info.filename!r} has no local header")
        if flags & 0x41 or info.flag_bits & 0x41:
            raise BundleError(f"bundle: member {info.filename!r} is encrypted")
        if flags & 0x08 or info.flag_bits & 0x08:
            raise BundleError(f"bundle: member {info.filename!r} uses a data descriptor")
        if method != info.compress_type or csize != info.compress_size:
            raise BundleError(f"bundle: member {info.filename!r}: its headers disagree")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BundleError(
                f"bundle: member {info.filename!r} uses compression method "
                f"{info.compress_type}; bundles use deflate"
            )
        at += _LOCAL.size + nlen + elen + csize
    if at != cd_offset:
        raise BundleError("bundle: unexpected bytes before the zip directory")


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str) -> bytes:
    """One member, decompressed in chunks; :class:`BundleError` (413) as soon as it passes
    ``limit`` bytes."""
    out = bytearray()
    try:
        with zf.open(info) as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                out += chunk
                if len(out) > limit:
                    raise BundleError(f"bundle: {what} over the limit of {limit} bytes", 413)
    except BundleError:
        raise
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError, ValueError,
            NotImplementedError, RuntimeError) as e:  # fmt: skip
        raise BundleError(f"bundle: member {info.filename!r} is corrupt ({e})") from None
    return bytes(out)


def read_bundle(source: bytes | BinaryIO | Path, max_bytes: int) -> dict[str, bytes]:
    """Every member of a bundle as bytes, after the safety checks and the MANIFEST hash check.
    ``max_bytes`` bounds the total uncompressed size. Raises :class:`BundleError`."""
    if isinstance(source, Path):
        with open(source, "rb") as f:
            return read_bundle(f, max_bytes)
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError, struct.error):  # fmt: skip
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
        _check_layout(source, infos)
        files: dict[str, bytes] = {}
        budget = max_bytes
        for info in infos:
            limit = min(budget, MEMBER_LIMITS.get(info.filename, budget))
            what = "uncompressed contents" if limit == budget else f"member {info.filename!r}"
            data = _member(zf, info, limit, what)
            budget -= len(data)
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
        old = isinstance(manifest, dict) and manifest.get("format") == "rclicks-bundle/1"
        hint = (
            " (a bundle of an older rclicks, without the predicted masks: re-run the benchmark "
            "with this rclicks and submit again)"
            if old
            else ""
        )
        raise BundleError(f"{MANIFEST_NAME}: 'format' must be {BUNDLE_FORMAT!r}{hint}")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not all(isinstance(v, dict) for v in listed.values()):
        raise BundleError(f"{MANIFEST_NAME}: 'files' must map each file to its sha256")
    present = set(files) - {MANIFEST_NAME}
    missing = [n for n in REQUIRED if n not in present]
    if missing:
        hint = (
            " (the predicted mask after every click: `rclicks eval --benchmark ... "
            "--save-masks`, on by default for benchmark runs)"
            if MASKS in missing
            else ""
        )
        raise BundleError(f"bundle: missing {', '.join(missing)}{hint}")
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
