"""Datasets: the generic ``folder`` layout, the bundled ``demo`` and the benchmark loaders
(GrabCut, Berkeley, DAVIS, COCO_MVal, TETRIS, SBD, PascalVOC, COCO JSON)."""

from rclicks.datasets.base import FileDataset, SampleError
from rclicks.datasets.folder import (
    DatasetError,
    FolderDataset,
    check_dataset,
    demo_root,
    find_sample,
)

__all__ = [
    "DatasetError",
    "FileDataset",
    "FolderDataset",
    "SampleError",
    "check_dataset",
    "demo_root",
    "find_sample",
]
