"""The version of rclicks (read by the package and by ``run.json``)."""

__version__ = "0.1.0"
