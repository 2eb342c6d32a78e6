"""rclicks plugin: Segment Anything (SAM v1) as an interactive segmentation model.

Registers the model ``sam`` (options: ``variant``, ``checkpoint``, ``device``, ``sha256``,
``multimask``, ``prev_mask``, ``threshold``, ``precision``, ``resize``; test-only:
``random_weights``, ``image_size``, ``encoder_depth``, ``encoder_embed_dim``, ``seed``).

Importing this module is cheap: torch and segment_anything are imported by the factory.
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
    "make_sam",
    "rclicks_register_models",
]

__version__ = "0.1.0"

PIP_HINTS = {
    "torch": "pip install torch torchvision",
    "torchvision": "pip install torchvision",
    "segment_anything": "pip install segment-anything==1.0",
}


def require_dependencies() -> None:
    """Import torch, torchvision and segment_anything, or raise
    :class:`MissingDependencyError` with the pip command that fixes it."""
    require_modules(
        ("torch", "torchvision", "segment_anything"),
        PIP_HINTS,
        "the SAM plugin (rclicks-sam)",
        "torch, torchvision and segment-anything==1.0",
    )


def make_sam(
    variant: str = "vit_h",
    checkpoint: str | None = None,
    device: str = "auto",
    sha256: str | None = None,
    multimask: str = "reference",
    prev_mask: str = "reference",
    threshold: float = 0.5,
    precision: str = "auto",
    resize: str = "predictor",
    random_weights: bool = False,
    image_size: int = 256,
    encoder_depth: int = 2,
    encoder_embed_dim: int = 64,
    seed: int = 0,
):
    """Build the SAM model.

    Real weights: ``checkpoint`` (file, or folder holding the official file name), else
    ``$RCLICKS_CHECKPOINTS/<official file name>``; the sha256 is checked (against ``sha256``
    when given, ``sha256=skip`` to skip, else the published checksum of ``variant``).
    ``random_weights=true`` builds a tiny seeded random SAM instead (tests only) of
    ``image_size`` pixels, ``encoder_depth`` blocks of width ``encoder_embed_dim``.
    ``precision``: ``auto`` = bfloat16 autocast on CUDA devices that support it, float32
    otherwise; ``fp32`` = always float32 (what the reference computes); ``bf16``.
    ``resize``: ``predictor`` = ``SamPredictor.set_image``'s resize (default); ``reference`` =
    the RClicks reference's ``apply_image_torch`` call, including its 341×1024 quirk.
    """
    from rclicks_sam.checkpoints import variant_of
    from rclicks_sam.options import MULTIMASK, PRECISIONS, PREV_MASK, RESIZES, choice

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

    from rclicks_sam import model as m

    dev = m.resolve_device(device)
    if random_weights:
        sam = m.build_random_sam(image_size, encoder_depth, encoder_embed_dim, seed)
        name = f"sam-random-{spec.name}"
    else:
        from rclicks_sam.checkpoints import open_checkpoint

        path, state = open_checkpoint(spec, checkpoint, sha256)
        from segment_anything import sam_model_registry

        sam = sam_model_registry[spec.name]()  # the package's own builder, random init
        try:
            sam.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
            raise CheckpointLoadError(
                f"checkpoint {path} does not fit the SAM {spec.name} network: "
                + " ".join(lines[:3])[:400]
            ) from None
        del state
        name = f"sam-{spec.name}"
    return m.SamModel(sam, dev, multimask, prev_mask, threshold, precision, name, resize)


@rclicks.hookimpl
def rclicks_register_models(register):
    register(
        "sam",
        make_sam,
        description="Segment Anything v1 (vit_b/vit_l/vit_h), wrapped as in RClicks",
    )
