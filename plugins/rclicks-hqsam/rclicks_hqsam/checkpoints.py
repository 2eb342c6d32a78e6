"""The HQ-SAM checkpoints: their names, where to get them, and whether a file is one of them.

Built on :mod:`rclicks_sam.checkpoints` (lookup, sha256 cache, loading); only what differs for
HQ-SAM lives here. Nothing here imports torch at module level.
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

URL_BASE = "https://huggingface.co/lkeab/hq-sam/resolve/main/"
HQ_KEY = "mask_decoder.hf_token.weight"  # the HQ output token: present in every HQ-SAM file
TINY_KEY = "image_encoder.layers.0.blocks.0.conv1.c.weight"  # TinyViT's first conv (vit_tiny)


@dataclass(frozen=True)
class HQVariant(sam_ck.Variant):
    """An rclicks_sam ``Variant`` with the HQ-SAM download location; ``sha256`` may be None
    (no published checksum, see README); ``embed_dim`` is the width of the encoder feature
    the HQ decoder fuses (``vit_dim``), ``depth`` 0 for the TinyViT encoder."""

    @property
    def url(self) -> str:
        return URL_BASE + self.file_name

    @property
    def label(self) -> str:
        return "HQ-SAM"

    @property
    def tiny(self) -> bool:
        return self.name == "vit_tiny"


# sha256: None. No sum for these files was found in two independent public sources (only
# md5 sums in one third-party table); see README "Checkpoints".
VARIANTS: dict[str, HQVariant] = {
    "vit_b": HQVariant(
        "vit_b", "sam_hq_vit_b.pth", None, "about 379 MB", 768, 12, 12, (2, 5, 8, 11)
    ),
    "vit_l": HQVariant(
        "vit_l", "sam_hq_vit_l.pth", None, "about 1.25 GB", 1024, 24, 16, (5, 11, 17, 23)
    ),
    "vit_h": HQVariant(
        "vit_h", "sam_hq_vit_h.pth", None, "about 2.57 GB", 1280, 32, 16, (7, 15, 23, 31)
    ),
    "vit_tiny": HQVariant("vit_tiny", "sam_hq_vit_tiny.pth", None, "about 43 MB", 160, 0, 0, ()),
}
VARIANT_ALIASES = {
    "b": "vit_b",
    "l": "vit_l",
    "h": "vit_h",
    "t": "vit_tiny",
    "tiny": "vit_tiny",
    "vit_t": "vit_tiny",
    "vit-b": "vit_b",
    "vit-l": "vit_l",
    "vit-h": "vit_h",
    "vit-tiny": "vit_tiny",
}


def variant_of(name: str) -> HQVariant:
    key = str(name).strip().lower()
    key = VARIANT_ALIASES.get(key, key)
    if key not in VARIANTS:
        raise SamOptionError(
            f"unknown HQ-SAM variant {name!r}: use one of {', '.join(VARIANTS)} "
            "(e.g. --model-opt variant=vit_b)"
        )
    return VARIANTS[key]


resolve_checkpoint = sam_ck.resolve_checkpoint  # option, then $RCLICKS_CHECKPOINTS


def _wrong(path: Path, what: str, variant: HQVariant, hint: str = "") -> WrongVariantError:
    return WrongVariantError(
        f"checkpoint {path} holds {what}, but variant={variant.name} was asked for: {hint}"
        f"point checkpoint= at {variant.file_name} ({variant.url})."
    )


def check_variant(state: Any, variant: HQVariant, path: Path) -> None:
    """Raise :class:`WrongVariantError` unless ``state`` is an HQ-SAM state dict of
    ``variant`` (HQ token present; ViT width and depth, or a TinyViT encoder)."""
    keys = set(getattr(state, "keys", list)())
    if HQ_KEY not in keys:
        plain = sam_ck.PATCH_KEY in keys or TINY_KEY in keys
        raise _wrong(
            path,
            "no HQ-SAM decoder (no "
            + HQ_KEY
            + ")"
            + (": it looks like a plain SAM / MobileSAM checkpoint" if plain else ""),
            variant,
            "use the `sam` model for plain SAM files, or " if plain else "",
        )
    if TINY_KEY in keys:
        if not variant.tiny:
            raise _wrong(
                path,
                "an HQ-SAM vit_tiny checkpoint (TinyViT encoder)",
                variant,
                "use --model-opt variant=vit_tiny, or ",
            )
        return
    width, depth = sam_ck.describe_state_dict(state)
    if variant.tiny:
        raise _wrong(
            path,
            f"a ViT encoder of width {width} and depth {depth}",
            variant,
            "use variant=vit_b/vit_l/vit_h for it, or ",
        )
    if (width, depth) == (variant.embed_dim, variant.depth):
        return
    found = next(
        (v for v in VARIANTS.values() if (v.embed_dim, v.depth) == (width, depth) and not v.tiny),
        None,
    )
    if found is not None:
        raise _wrong(
            path,
            f"an HQ-SAM {found.name} checkpoint (encoder width {width}, depth {depth})",
            variant,
            f"use --model-opt variant={found.name}, or ",
        )
    raise _wrong(
        path,
        f"an encoder of width {width} and depth {depth}, which is no official "
        "HQ-SAM variant (vit_b 768×12, vit_l 1024×24, vit_h 1280×32, vit_tiny)",
        variant,
    )


def open_checkpoint(
    variant: HQVariant, checkpoint: str | os.PathLike | None, sha256: str | None
) -> tuple[Path, dict]:
    """Find, verify and load the checkpoint of ``variant``; returns (path, state dict).

    The sha256 (rclicks_sam's cached hash) is checked against the ``sha256`` option when given
    (``skip`` turns it off), else against the published sum of ``variant`` when there is one;
    the state dict is then checked to be an HQ-SAM one of ``variant``.
    """
    path = resolve_checkpoint(variant, checkpoint)
    want = None
    if sha256 not in (None, "") and not sam_ck._skipped(sha256):
        want = str(sha256).strip().lower()
    elif sha256 in (None, ""):
        want = variant.sha256
    if want is not None:
        got = sam_ck.file_sha256(path)
        if got != want:
            source = "the sha256 option" if sha256 not in (None, "") else "the published sum"
            try:  # a readable file of another variant: say which one
                check_variant(sam_ck.load_state_dict(path), variant, path)
            except WrongVariantError:
                raise
            except Exception:  # noqa: BLE001 - unreadable: the checksum message says it all
                pass
            raise ChecksumMismatchError(
                f"checkpoint {path} has sha256 {got}, expected {want} ({source}). The file is "
                f"damaged or not the one you meant: download it again from {variant.url}, or, "
                f"for your own fine-tuned {variant.name} weights, pass --model-opt sha256={got} "
                "(or sha256=skip)."
            )
    state = sam_ck.load_state_dict(path)  # unwraps {"model": ...} too
    check_variant(state, variant, path)
    return path, state
