"""rclicks plugin: SAM 2 / SAM 2.1 (Meta, package ``sam2==1.1.0``) as the model ``sam2``.

Importing this module is cheap: torch, sam2 and hydra are imported only when a model is built.
"""

from __future__ import annotations

from typing import Any

import rclicks
from rclicks_sam2.errors import Sam2Error
from rclicks_sam2.variants import DEFAULT_VARIANT, VARIANTS, Variant, get_variant

__all__ = ["DEFAULT_VARIANT", "VARIANTS", "Sam2Error", "Variant", "create_model", "get_variant"]
__version__ = "0.1.0"


def create_model(
    variant: str = DEFAULT_VARIANT,
    checkpoint: str | None = None,
    device: str = "auto",
    sha256: Any = None,
    multimask: str = "reference",
    prev_mask: str = "reference",
    threshold: float = 0.5,
    random_weights: Any = False,
    tiny: Any = None,
    overrides: Any = None,
    seed: int = 0,
    autocast: Any = None,
):
    """Build the ``sam2`` model. ``variant``: sam2-hiera-{t,s,b+,l} or sam2.1-hiera-{t,s,b+,l};
    ``checkpoint``: a path (default ``$RCLICKS_CHECKPOINTS/<official file name>``); ``sha256``:
    expected sum (default: the published one; ``skip`` = no check); ``multimask``: ``reference``
    (single mask, as RClicks) or ``always-best``; ``prev_mask``: ``reference``, ``always`` or
    ``never``; ``random_weights``: tests only, a tiny random SAM 2 without a checkpoint."""
    from rclicks_sam2.model import build_model

    return build_model(
        variant=variant,
        checkpoint=checkpoint,
        device=device,
        sha256=sha256,
        multimask=multimask,
        prev_mask=prev_mask,
        threshold=threshold,
        random_weights=random_weights,
        tiny=tiny,
        overrides=overrides,
        seed=seed,
        autocast=autocast,
    )


@rclicks.hookimpl
def rclicks_register_models(register):
    register(
        "sam2",
        create_model,
        description=(
            "SAM 2 / SAM 2.1 (Meta, sam2==1.1.0), wrapped as in RClicks: single mask, previous "
            "logits as mask input; options variant, checkpoint, sha256, multimask, prev_mask"
        ),
    )
