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


def require_modules(
    modules: tuple[str, ...], hints: dict[str, str], plugin: str, pulls_in: str
) -> None:
    """Import ``modules`` in order, or raise :class:`MissingDependencyError` naming the missing
    package and the pip command in ``hints`` that installs it. ``plugin`` is e.g. "the SAM
    plugin (rclicks-sam)"; ``pulls_in`` what ``pip install <plugin>`` brings along."""
    import importlib
    import warnings

    for module in modules:
        try:
            with warnings.catch_warnings():  # timm's deprecation notes on TinyViT imports
                warnings.simplefilter("ignore", FutureWarning)
                warnings.filterwarnings("ignore", "Overwriting tiny_vit", UserWarning)
                importlib.import_module(module)
        except ImportError as exc:
            missing = (getattr(exc, "name", None) or module).split(".")[0]
            hint = hints.get(missing, hints[module])
            dist = plugin[plugin.rindex("(") + 1 : -1] if "(" in plugin else plugin
            raise MissingDependencyError(
                f"{plugin} needs the Python package {missing!r}, which cannot be imported "
                f"({exc}). Install it into this environment: `{hint}` (or `pip install {dist}`, "
                f"which pulls in {pulls_in})."
            ) from None
