"""rclicks plugin: HQ-SAM (Segment Anything in High Quality) as an interactive segmentation model.

Registers the model ``hq-sam`` (options: those of the ``sam`` model of rclicks-sam, plus
``hq_token_only``; ``variant`` is one of vit_b, vit_l, vit_h, vit_tiny). The wrapping, the
checkpoint lookup, the sha256 cache and the errors are rclicks_sam's.

Importing this module is cheap: torch and segment_anything_hq are imported by the factory.
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
    "make_hq_sam",
    "rclicks_register_models",
]

__version__ = "0.1.0"

PACKAGE_PIN = "segment-anything-hq==0.3"
PIP_HINTS = {
    "torch": "pip install torch torchvision",
    "torchvision": "pip install torchvision",
    # segment_anything_hq imports timm (for TinyViT) but does not declare it
    "timm": "pip install timm",
    "segment_anything_hq": f"pip install {PACKAGE_PIN} timm",
}


def require_dependencies() -> None:
    """Import torch, torchvision and segment_anything_hq (which imports timm), or raise
    :class:`MissingDependencyError` with the pip command that fixes it."""
    require_modules(
        ("torch", "torchvision", "segment_anything_hq"),
        PIP_HINTS,
        "the HQ-SAM plugin (rclicks-hqsam)",
        f"{PACKAGE_PIN} and timm",
    )


def make_hq_sam(
    variant: str = "vit_h",
    checkpoint: str | None = None,
    device: str = "auto",
    sha256: str | None = None,
    multimask: str = "reference",
    prev_mask: str = "reference",
    threshold: float = 0.5,
    precision: str = "auto",
    resize: str = "predictor",
    hq_token_only: bool = False,
    random_weights: bool = False,
    image_size: int = 256,
    encoder_depth: int = 2,
    encoder_embed_dim: int = 64,
    seed: int = 0,
):
    """Build the HQ-SAM model. The options mean what they mean for rclicks-sam's ``sam``;
    ``hq_token_only``: use the HQ output token's mask alone instead of SAM's mask + HQ mask
    (default False, as the package's predictor and the RClicks reference).

    Real weights: ``checkpoint`` (file, or folder holding the official file name), else
    ``$RCLICKS_CHECKPOINTS/<official file name>``; compared with ``sha256`` when given
    (``skip`` to skip); the official files have no published sum, so by default the file is
    only checked to be an HQ-SAM state dict of ``variant``. ``random_weights=true``: a tiny
    seeded random ViT HQ-SAM (tests only; for every variant, vit_tiny included).
    """
    from rclicks_sam.options import MULTIMASK, PRECISIONS, PREV_MASK, RESIZES, choice

    from rclicks_hqsam.checkpoints import variant_of

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
    hq_token_only = flag(hq_token_only, "hq_token_only")
    require_dependencies()

    from rclicks_sam.model import resolve_device

    from rclicks_hqsam import model as m

    dev = resolve_device(device)
    if random_weights:
        sam = m.build_random_hq_sam(image_size, encoder_depth, encoder_embed_dim, seed)
        name = f"hq-sam-random-{spec.name}"
    else:
        from rclicks_hqsam.checkpoints import open_checkpoint

        path, state = open_checkpoint(spec, checkpoint, sha256)
        sam = m.build_hq_sam(spec)
        try:
            result = sam.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
            raise CheckpointLoadError(
                f"checkpoint {path} does not fit the HQ-SAM {spec.name} network: "
                + " ".join(lines[:3])[:400]
            ) from None
        # strict, except TinyViT's unused classification head (image_encoder.head / norm_head),
        # which a vit_tiny file may or may not carry
        unused = ("image_encoder.head.", "image_encoder.norm_head.")
        bad = [
            k for k in (*result.missing_keys, *result.unexpected_keys) if not k.startswith(unused)
        ]
        if bad:
            raise CheckpointLoadError(
                f"checkpoint {path} does not fit the HQ-SAM {spec.name} network: "
                f"missing keys {result.missing_keys[:5]}, unexpected keys "
                f"{result.unexpected_keys[:5]}"
            )
        del state
        name = f"hq-sam-{spec.name}"
    return m.HQSamModel(
        sam,
        dev,
        multimask,
        prev_mask,
        threshold,
        precision,
        name,
        resize,
        hq_token_only=hq_token_only,
    )


@rclicks.hookimpl
def rclicks_register_models(register):
    register(
        "hq-sam",
        make_hq_sam,
        description="HQ-SAM, Segment Anything in High Quality (vit_b/vit_l/vit_h/vit_tiny)",
    )
