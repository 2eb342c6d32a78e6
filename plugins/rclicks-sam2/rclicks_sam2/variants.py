"""The eight SAM 2 / SAM 2.1 variants: config inside the sam2 package, checkpoint file, where
Meta publishes it and its sha256. Pure data, imports nothing heavy.

The sha256 sums are the Git LFS object ids of the files on the Hugging Face hub, each seen in at
least two independent public places (Meta's own ``facebook/sam2*-hiera-*`` repositories and
mirrors of the same file); the sources are listed in the README.
"""

from __future__ import annotations

from dataclasses import dataclass

URL_SAM2 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"
URL_SAM21 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"


@dataclass(frozen=True)
class Variant:
    name: str  # e.g. "sam2.1-hiera-b+"
    config: str  # config name inside the sam2 package, for sam2.build_sam.build_sam2
    filename: str  # official checkpoint file name
    url: str  # where Meta publishes it
    sha256: str | None  # published sum (None: not confirmed by two sources)
    hf_repo: str  # Hugging Face mirror by Meta


# sha256 of each published file (Git LFS object ids on the Hugging Face hub; sources in README).
PUBLISHED_SHA256: dict[str, str | None] = {
    "sam2_hiera_tiny": "65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125",
    "sam2_hiera_small": "95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3",
    "sam2_hiera_base_plus": "d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071",
    "sam2_hiera_large": "7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b",
    "sam2.1_hiera_tiny": "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69",
    "sam2.1_hiera_small": "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38",
    "sam2.1_hiera_base_plus": "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
    "sam2.1_hiera_large": "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318",
}

_SIZES = (("t", "tiny"), ("s", "small"), ("b+", "base_plus"), ("l", "large"))


def _variants() -> dict[str, Variant]:
    out: dict[str, Variant] = {}
    for gen, base in (("sam2", URL_SAM2), ("sam2.1", URL_SAM21)):
        for size, long in _SIZES:
            stem = f"{gen}_hiera_{long}"
            out[f"{gen}-hiera-{size}"] = Variant(
                name=f"{gen}-hiera-{size}",
                config=f"configs/{gen}/{gen}_hiera_{size}.yaml",
                filename=f"{stem}.pt",
                url=f"{base}{stem}.pt",
                sha256=PUBLISHED_SHA256.get(stem),
                hf_repo=f"facebook/{gen}-hiera-{long.replace('_', '-')}",
            )
    return out


VARIANTS: dict[str, Variant] = _variants()

DEFAULT_VARIANT = "sam2.1-hiera-l"

_SIZE_WORDS = {"tiny": "t", "small": "s", "base-plus": "b+", "base+": "b+", "large": "l", "b": "b+"}


def normalise_name(name: str) -> str:
    """``sam2.1_hiera_base_plus``, ``SAM2.1-Hiera-B+`` -> ``sam2.1-hiera-b+``."""
    text = str(name).strip().lower().replace("_", "-")
    if text.endswith(".pt"):
        text = text[:-3]
    if text.endswith(".yaml"):
        text = text[:-5]
    head, sep, size = text.rpartition("hiera-")
    if not sep:
        return text
    return head + sep + _SIZE_WORDS.get(size, size)


def get_variant(name: str) -> Variant:
    key = normalise_name(name)
    if key in VARIANTS:
        return VARIANTS[key]
    from rclicks_sam2.errors import Sam2Error

    raise Sam2Error(
        f"unknown SAM 2 variant {name!r}; choose one of: {', '.join(VARIANTS)} "
        f"(e.g. --model-opt variant={DEFAULT_VARIANT})"
    )
