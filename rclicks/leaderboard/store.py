"""Durable bundle files: an upload streams into ``<uuid>.part`` in the storage folder; an
accepted one is fsynced and renamed to ``<uuid>.zip`` (and the folder fsynced) *before* its
database row is committed; a failure removes the file. At start-up, ``*.part`` files and
bundles without a row (a crash between the rename and the commit), older than a grace period,
are removed — so a crash leaves nothing half stored."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

ORPHAN_GRACE_S = 3600.0


class BundleStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def new_part(self) -> Path:
        return self.root / f"{uuid.uuid4().hex}.part"

    def path(self, name: str) -> Path:
        return self.root / name

    def commit(self, part: Path) -> Path:
        """fsync ``part``, rename it to its final ``.zip`` name, fsync the folder."""
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        final = part.with_suffix(".zip")
        os.replace(part, final)
        self._sync_dir()
        return final

    def discard(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        self._sync_dir()

    def _sync_dir(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def cleanup(self, known: Iterable[str], grace_s: float = ORPHAN_GRACE_S) -> list[str]:
        """Remove ``*.part`` files and the ``*.zip`` files no row names, older than
        ``grace_s`` (another server process may be in the middle of an upload)."""
        known = set(known)
        removed = []
        now = time.time()
        for p in self.root.iterdir():
            stale = p.suffix == ".part" or (p.suffix == ".zip" and p.name not in known)
            if stale and now - p.stat().st_mtime >= grace_s:
                p.unlink(missing_ok=True)
                removed.append(p.name)
        return removed
