"""Which device work runs on: the one place ``--device`` is read (the eval, scoring, training
and the first-party model plugins all call :func:`resolve_device`)."""

from __future__ import annotations

import glob
import importlib.util
import re
import shutil
import sys

from rclicks.errors import DeviceError

_CUDA = re.compile(r"cuda(:\d+)?")


def resolve_device(device: str | None = "auto") -> str:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` for ``device``.

    ``auto`` (or ``None``) is ``cuda`` when torch is installed and sees a GPU, else ``cpu``
    (torch is not even imported on a machine without an NVIDIA device, so the answer is
    instant). An explicit CUDA device on a machine where torch sees none, or an index beyond
    the visible devices, is a :class:`~rclicks.errors.DeviceError` that says so."""
    name = device_name(device)
    if name == "cpu":
        return name
    if name == "auto":
        if importlib.util.find_spec("torch") is None or not nvidia_present():
            return "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if importlib.util.find_spec("torch") is None:
        raise DeviceError(f"device={device} needs torch, which is not installed")
    import torch

    if not torch.cuda.is_available():
        raise DeviceError(
            f"device={device} asked for, but torch {torch.__version__} sees no CUDA device "
            "(torch.cuda.is_available() is False): use --device cpu"
        )
    index = name.partition(":")[2]
    if index and int(index) >= torch.cuda.device_count():
        raise DeviceError(
            f"device={device}: only {torch.cuda.device_count()} CUDA device(s) visible"
        )
    return name


def device_name(device: str | None) -> str:
    """``device`` spelled the one way (``auto``, ``cpu``, ``cuda`` or ``cuda:N``), without
    looking for it; anything else is a :class:`~rclicks.errors.DeviceError`."""
    name = "auto" if device in (None, "") else str(device).strip().lower()
    if name not in ("auto", "cpu") and not _CUDA.fullmatch(name):
        raise DeviceError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    return name


def nvidia_present() -> bool:
    """Might this machine have an NVIDIA GPU? (Asks no driver: device files or nvidia-smi;
    True once torch is imported anyway, so torch decides.)"""
    if "torch" in sys.modules:
        return True
    return bool(glob.glob("/dev/nvidia[0-9]*")) or shutil.which("nvidia-smi") is not None
