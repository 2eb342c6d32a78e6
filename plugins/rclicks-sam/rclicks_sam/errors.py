"""Errors of the SAM plugin. Each one carries a complete, single-paragraph message: the rclicks
CLI prints it as a one-line error, so it must say what is wrong and what to do about it."""

from __future__ import annotations


class SamPluginError(Exception):
    """Base class of every error this plugin raises on purpose."""


class SamOptionError(SamPluginError, ValueError):
    """An option has a value the plugin does not understand."""


class MissingDependencyError(SamPluginError, ImportError):
    """torch, torchvision or segment_anything cannot be imported."""


class CheckpointNotFoundError(SamPluginError, FileNotFoundError):
    """No checkpoint file where the plugin looked."""


class ChecksumMismatchError(SamPluginError, ValueError):
    """The checkpoint's sha256 is not the expected one."""


class WrongVariantError(SamPluginError, ValueError):
    """The checkpoint belongs to another SAM variant (or is no SAM v1 checkpoint at all)."""


class CheckpointLoadError(SamPluginError, ValueError):
    """The checkpoint file exists but cannot be read as a SAM state dict."""


class DeviceError(SamPluginError, ValueError):
    """The requested device is not available."""
