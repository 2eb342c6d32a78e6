"""Datasets: the generic ``folder`` layout and the bundled ``demo``."""

from rclicks.datasets.folder import DatasetError, FolderDataset, check_dataset, demo_root

__all__ = ["DatasetError", "FolderDataset", "check_dataset", "demo_root"]
