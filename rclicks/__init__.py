"""rclicks: evaluate click-based interactive segmentation the way real people click."""

from rclicks.plugins import hookimpl
from rclicks.protocols import ClickSimulator, Dataset, ISModel
from rclicks.types import Click, Sample

__version__ = "0.1.0"

__all__ = ["Click", "ClickSimulator", "Dataset", "ISModel", "Sample", "__version__", "hookimpl"]
