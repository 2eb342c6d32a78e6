"""The one exception type of the plugin: its message says everything a user needs."""

from __future__ import annotations

import sys

TWO_STEP_INSTALL = (
    "  1. pip install torch torchvision   (first; pick the wheel for your CUDA at "
    "https://pytorch.org/get-started/locally/)\n"
    "  2. SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2==1.1.0\n"
    "  then: pip install -e plugins/rclicks-sam2   (from the rclicks checkout)"
)


class Sam2Error(RuntimeError):
    """A problem the user can fix (checkpoint, option, installation). No traceback needed."""


def missing_package_error(exc: BaseException) -> Sam2Error:
    return Sam2Error(
        f"the SAM 2 model needs the packages torch and sam2==1.1.0, which are not importable "
        f"in this Python ({sys.executable}): {type(exc).__name__}: {exc}.\n"
        f"Install them in two steps (sam2 compiles against the torch already installed, "
        f"hence --no-build-isolation; SAM2_BUILD_CUDA=0 skips its optional CUDA extension):\n"
        f"{TWO_STEP_INSTALL}"
    )
