"""rclicks plugin: MobileSAM as an interactive segmentation model.

Registers the model ``mobile-sam`` (options: those of rclicks-sam's ``sam`` but ``variant``,
which is always vit_t; test-only ``random_weights`` and ``seed``). The model class, checkpoint
lookup, sha256 cache and errors are rclicks_sam's.

Importing this module is cheap: torch and mobile_sam are imported by the factory.
"""

from __future__ import annotations

import rclicks
from rclicks_sam.errors import (
    CheckpointLoadError,
    CheckpointNotFoundError,
    ChecksumMismatchError,
    DeviceError,
    MissingDependencyError,
    SamOptionError,
    SamPluginError,
    WrongVariantError,
    require_modules,
)
from rclicks_sam.options import flag

__all__ = [
    "CheckpointLoadError",
    "CheckpointNotFoundError",
    "ChecksumMismatchError",
    "DeviceError",
    "MissingDependencyError",
    "SamOptionError",
    "SamPluginError",
    "WrongVariantError",
    "make_mobile_sam",
    "rclicks_register_models",
]

__version__ = "0.1.0"

PACKAGE_PIN = "mobilesam-mirror==1.0.0"
PIP_HINTS = {
    "torch": "pip install torch torchvision",
    "torchvision": "pip install torchvision",
    "timm": "pip install timm",  # mobile_sam imports timm for TinyViT but does not declare it
    "segment_anything": "pip install segment-anything==1.0",
    "mobile_sam": f"pip install {PACKAGE_PIN} timm",
}


def require_dependencies() -> None:
    """Import torch, torchvision, segment_anything (rclicks-sam's predictor) and mobile_sam
    (which imports timm), or raise :class:`MissingDependencyError` with the pip command."""
    require_modules(
        ("torch", "torchvision", "segment_anything", "mobile_sam"),
        PIP_HINTS,
        "the MobileSAM plugin (rclicks-mobilesam)",
        f"{PACKAGE_PIN} and timm",
    )


def make_mobile_sam(
    variant: str = "vit_t",
    checkpoint: str | None = None,
    device: str = "auto",
    sha256: str | None = None,
    multimask: str = "reference",
    prev_mask: str = "reference",
    threshold: float = 0.5,
    precision: str = "auto",
    resize: str = "predictor",
    random_weights: bool = False,
    seed: int = 0,
):
    """Build MobileSAM; the options mean what they mean for rclicks-sam's ``sam``.

    Real weights: ``checkpoint`` (file, or folder holding ``mobile_sam.pt``), else
    ``$RCLICKS_CHECKPOINTS/mobile_sam.pt``; compared with ``sha256`` when given (``skip`` to
    skip; no sum is published, so by default the file is only checked to be a MobileSAM state
    dict). ``random_weights=true``: a small seeded random MobileSAM (tests only).
    """
    from rclicks_sam.options import MULTIMASK, PRECISIONS, PREV_MASK, RESIZES, choice

    from rclicks_mobilesam.checkpoints import variant_of

    spec = variant_of(variant)
    multimask = choice(multimask, "multimask", MULTIMASK)
    prev_mask = choice(prev_mask, "prev_mask", PREV_MASK)
    precision = choice(precision, "precision", PRECISIONS)
    resize = choice(resize, "resize", RESIZES)
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise SamOptionError(f"threshold must be a number, got {threshold!r}") from None
    random_weights = flag(random_weights, "random_weights")
    require_dependencies()

    from rclicks_sam.model import SamModel, resolve_device

    from rclicks_mobilesam import model as m

    dev = resolve_device(device)
    if random_weights:
        sam = m.build_random_mobile_sam(seed)
        name = "mobile-sam-random"
    else:
        from rclicks_mobilesam.checkpoints import open_checkpoint

        path, state = open_checkpoint(spec, checkpoint, sha256)
        sam = m.build_mobile_sam()
        try:
            result = sam.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
            raise CheckpointLoadError(
                f"checkpoint {path} does not fit the MobileSAM network: "
                + " ".join(lines[:3])[:400]
            ) from None
        # strict, except TinyViT's unused classification head, which a file may or may not carry
        unused = ("image_encoder.head.", "image_encoder.norm_head.")
        keys = (*result.missing_keys, *result.unexpected_keys)
        if [k for k in keys if not k.startswith(unused)]:
            raise CheckpointLoadError(
                f"checkpoint {path} does not fit the MobileSAM network: missing keys "
                f"{result.missing_keys[:5]}, unexpected keys {result.unexpected_keys[:5]}"
            )
        del state
        name = "mobile-sam"
    return SamModel(sam, dev, multimask, prev_mask, threshold, precision, name, resize)


@rclicks.hookimpl
def rclicks_register_models(register):
    register("mobile-sam", make_mobile_sam, description="MobileSAM (TinyViT SAM), as in RClicks")
