"""The choices of the string options (no heavy imports: checked before any model work)."""

from __future__ import annotations

from rclicks.errors import OptionError
from rclicks.options import as_bool

from rclicks_sam.errors import SamOptionError

MULTIMASK = ("reference", "never")
PREV_MASK = ("reference", "always", "never")
PRECISIONS = ("auto", "fp32", "bf16")
RESIZES = ("predictor", "reference")


def choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise SamOptionError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return text


def flag(value: object, name: str) -> bool:
    """A boolean option that may arrive as text (``true`` / ``false`` ...)."""
    try:
        return as_bool(value, name)
    except OptionError as exc:
        raise SamOptionError(str(exc)) from None
