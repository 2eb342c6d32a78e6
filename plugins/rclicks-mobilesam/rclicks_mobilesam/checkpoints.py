"""The MobileSAM checkpoint: its name, where to get it, and whether a file is it.

Built on :mod:`rclicks_sam.checkpoints` (lookup, sha256 cache, loading). No torch at import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclicks_sam import checkpoints as sam_ck
from rclicks_sam.errors import (
    ChecksumMismatchError,
    SamOptionError,
    WrongVariantError,
)

URL = "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt"
TINY_KEY = "image_encoder.layers.0.blocks.0.conv1.c.weight"  # TinyViT's first conv
HQ_KEY = "mask_decoder.hf_token.weight"  # HQ-SAM's extra token (sam_hq_vit_tiny.pth)


@dataclass(frozen=True)
class MobileVariant(sam_ck.Variant):
    """An rclicks_sam ``Variant`` for MobileSAM; ``sha256`` None (none published, see README)."""

    @property
    def url(self) -> str:
        return URL

    @property
    def label(self) -> str:
        return "MobileSAM"


# The upstream repository tracks the file as git blob 7ef2d090979fd9853adf17b7a99c8b94a1c5a6a7
# (weights/mobile_sam.pt at commit 34bbbfd); no sha256 was found in two public sources.
VARIANTS: dict[str, MobileVariant] = {
    "vit_t": MobileVariant("vit_t", "mobile_sam.pt", None, "about 39 MiB", 320, 0, 0, ()),
}
VARIANT_ALIASES = {"t": "vit_t", "vit_tiny": "vit_t", "tiny": "vit_t", "vit-t": "vit_t"}


def variant_of(name: str) -> MobileVariant:
    key = str(name).strip().lower()
    key = VARIANT_ALIASES.get(key, key)
    if key not in VARIANTS:
        raise SamOptionError(f"unknown MobileSAM variant {name!r}: the only one is vit_t")
    return VARIANTS[key]


resolve_checkpoint = sam_ck.resolve_checkpoint  # option, then $RCLICKS_CHECKPOINTS


def check_variant(state: Any, variant: MobileVariant, path: Path) -> None:
    keys = set(getattr(state, "keys", list)())
    if HQ_KEY in keys:
        what, hint = "an HQ-SAM checkpoint (it has " + HQ_KEY + ")", "use the `hq-sam` model, or "
    elif TINY_KEY in keys:
        return
    elif sam_ck.PATCH_KEY in keys:
        what, hint = "a SAM v1 ViT checkpoint", "use the `sam` model for it, or "
    else:
        what, hint = "no TinyViT image encoder (no " + TINY_KEY + ")", ""
    raise WrongVariantError(
        f"checkpoint {path} holds {what}, not MobileSAM: {hint}point checkpoint= at "
        f"{variant.file_name} ({variant.url})."
    )


def open_checkpoint(
    variant: MobileVariant, checkpoint: str | os.PathLike | None, sha256: str | None
) -> tuple[Path, dict]:
    """Find, verify (the ``sha256`` option, ``skip`` to skip; else the published sum when there
    is one) and load the checkpoint; returns (path, state dict)."""
    path = resolve_checkpoint(variant, checkpoint)
    if sha256 not in (None, ""):
        want = None if sam_ck._skipped(sha256) else str(sha256).strip().lower()
    else:
        want = variant.sha256
    if want is not None:
        got = sam_ck.file_sha256(path)
        if got != want:
            source = "the sha256 option" if sha256 not in (None, "") else "the published sum"
            raise ChecksumMismatchError(
                f"checkpoint {path} has sha256 {got}, expected {want} ({source}). The file is "
                f"damaged or not the one you meant: download it again from {variant.url}, or, "
                f"for your own fine-tuned weights, pass --model-opt sha256={got} (or sha256=skip)."
            )
    state = sam_ck.load_state_dict(path)
    check_variant(state, variant, path)
    return path, state
