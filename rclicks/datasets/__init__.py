"""Datasets: the generic ``folder`` layout, the bundled ``demo`` and the benchmark loaders
(GrabCut, Berkeley, DAVIS, COCO_MVal, TETRIS, SBD, PascalVOC, COCO JSON), all on one
:class:`FileDataset` base (one image reader, one check, one manifest); :func:`check_dataset`
for any ``rclicks.Dataset``; :func:`find_sample` and :func:`render_sample` to look at one."""

from rclicks.datasets.base import FileDataset, find_sample
from rclicks.datasets.folder import FolderDataset, demo_dataset, demo_root
from rclicks.datasets.manifest import MANIFEST_FILE, CheckResult, check_dataset, write_manifest
from rclicks.datasets.render import render_sample

__all__ = [
    "MANIFEST_FILE",
    "CheckResult",
    "FileDataset",
    "FolderDataset",
    "check_dataset",
    "demo_dataset",
    "demo_root",
    "find_sample",
    "render_sample",
    "write_manifest",
]
