"""Where the SAM checkpoints are, whether they are the right files, and which variant they hold.

Nothing here imports torch at module level: :func:`load_state_dict` imports it when called.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclicks_sam.errors import (
    CheckpointLoadError,
    CheckpointNotFoundError,
    ChecksumMismatchError,
    SamOptionError,
    WrongVariantError,
)

CHECKPOINTS_ENV = "RCLICKS_CHECKPOINTS"
URL_BASE = "https://dl.fbaipublicfiles.com/segment_anything/"
CHUNK = 1 << 20  # hash in 1 MiB chunks
SKIP = ("skip", "none", "off", "false", "no")


@dataclass(frozen=True)
class Variant:
    name: str
    file_name: str
    sha256: str | None  # None: no published sum
    size: str  # for messages only
    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]

    @property
    def url(self) -> str:
        return URL_BASE + self.file_name

    @property
    def label(self) -> str:
        """The model family, for messages (subclasses for SAM derivatives override it)."""
        return "SAM"


# The official SAM v1 checkpoints and the encoder settings of segment_anything.build_sam.
VARIANTS: dict[str, Variant] = {
    "vit_b": Variant(
        "vit_b",
        "sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        "about 358 MiB",
        768,
        12,
        12,
        (2, 5, 8, 11),
    ),
    "vit_l": Variant(
        "vit_l",
        "sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        "about 1.2 GiB",
        1024,
        24,
        16,
        (5, 11, 17, 23),
    ),
    "vit_h": Variant(
        "vit_h",
        "sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        "about 2.4 GiB",
        1280,
        32,
        16,
        (7, 15, 23, 31),
    ),
}
VARIANT_ALIASES = {
    "b": "vit_b",
    "l": "vit_l",
    "h": "vit_h",
    "vit-b": "vit_b",
    "vit-l": "vit_l",
    "vit-h": "vit_h",
}


def variant_of(name: str) -> Variant:
    key = str(name).strip().lower()
    key = VARIANT_ALIASES.get(key, key)
    if key not in VARIANTS:
        raise SamOptionError(
            f"unknown SAM variant {name!r}: use one of {', '.join(VARIANTS)} "
            "(e.g. --model-opt variant=vit_b)"
        )
    return VARIANTS[key]


# -- finding the file ------------------------------------------------------------------------


def resolve_checkpoint(variant: Variant, checkpoint: str | os.PathLike | None) -> Path:
    """``checkpoint`` (a file, or a folder holding the official file name), else
    ``$RCLICKS_CHECKPOINTS/<official file name>``. Raises :class:`CheckpointNotFoundError`
    naming every place it looked."""
    looked: list[str] = []
    if checkpoint not in (None, ""):
        path = Path(os.path.expandvars(os.path.expanduser(str(checkpoint))))
        if path.is_dir():
            candidate = path / variant.file_name
            if candidate.is_file():
                return candidate
            looked.append(f"{candidate} (checkpoint={checkpoint} is a folder without it)")
        elif path.is_file():
            return path
        else:
            looked.append(f"{path} (from checkpoint={checkpoint}: no such file)")
    else:
        looked.append("checkpoint= (option not given)")
    root = os.environ.get(CHECKPOINTS_ENV, "")
    if root:
        candidate = Path(os.path.expanduser(root)) / variant.file_name
        if candidate.is_file():
            return candidate
        looked.append(f"{candidate} (${CHECKPOINTS_ENV}={root}: no such file)")
    else:
        looked.append(f"${CHECKPOINTS_ENV}/{variant.file_name} (${CHECKPOINTS_ENV} is not set)")
    checksum = f"sha256 {variant.sha256}" if variant.sha256 else "no published sha256"
    raise CheckpointNotFoundError(
        f"{variant.label} {variant.name} checkpoint {variant.file_name} not found. Looked at: "
        + "; ".join(looked)
        + f". Download it ({variant.size}, {checksum}) from {variant.url} "
        f"(e.g. `curl -L -o {variant.file_name} {variant.url}`), then either put it in the "
        f"folder named by ${CHECKPOINTS_ENV} (export {CHECKPOINTS_ENV}=/path/to/folder) or pass "
        f"--model-opt checkpoint=/path/to/{variant.file_name}."
    )


# -- checksum ---------------------------------------------------------------------------------


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rclicks" / "sha256.json"


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def file_sha256(path: str | os.PathLike, use_cache: bool = True) -> str:
    """The file's sha256, read in 1 MiB chunks. The digest is cached by (path, size, mtime) so
    a multi-GB checkpoint is hashed once."""
    path = Path(path).resolve()
    st = path.stat()
    key = str(path)
    if use_cache:
        hit = _read_cache().get(key)
        if (
            isinstance(hit, dict)
            and hit.get("size") == st.st_size
            and hit.get("mtime_ns") == st.st_mtime_ns
            and isinstance(hit.get("sha256"), str)
        ):
            return hit["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    if use_cache:
        cache = _read_cache()
        cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": value}
        target = _cache_file()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(cache, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, target)
        except OSError:
            pass  # a read-only home only costs a re-hash next time
    return value


def _skipped(expected: str | None) -> bool:
    return expected is not None and str(expected).strip().lower() in SKIP


def _damaged_message(path: Path, got: str, variant: Variant) -> str:
    return (
        f"checkpoint {path} has sha256 {got}, expected {variant.sha256} (the published "
        f"{variant.file_name}, {variant.url}). The file is damaged or incomplete: download it "
        f"again. If it is your own fine-tuned {variant.name} checkpoint, pass "
        f"--model-opt sha256={got} (or sha256=skip)."
    )


def open_checkpoint(
    variant: Variant,
    checkpoint: str | os.PathLike | None,
    sha256: str | None,
) -> tuple[Path, dict]:
    """Find, verify and load the checkpoint of ``variant``; returns (path, state dict).

    The sha256 is checked against the ``sha256`` option when given (``skip`` turns the check
    off), else against the published checksum of ``variant``. A file that fails the published
    checksum is looked into before giving up, so that the error can say "this is the vit_l
    checkpoint" or "this encoder has width 64" instead of only "wrong checksum".
    """
    path = resolve_checkpoint(variant, checkpoint)
    if _skipped(sha256):
        state = load_state_dict(path)
        check_variant(state, variant, path)
        return path, state
    got = file_sha256(path)
    if sha256 not in (None, ""):
        want = str(sha256).strip().lower()
        if got != want:
            raise ChecksumMismatchError(
                f"checkpoint {path} has sha256 {got}, expected {want} (the sha256 option). "
                "The file is damaged or not the one you meant: "
                + (
                    f"download it again from {variant.url}."
                    if want == variant.sha256
                    else "download it again or fix --model-opt sha256=..."
                )
            )
        state = load_state_dict(path)
        check_variant(state, variant, path)
        return path, state
    if got == variant.sha256:
        return path, load_state_dict(path)
    for other in VARIANTS.values():
        if got == other.sha256:
            raise WrongVariantError(
                f"checkpoint {path} is the official SAM {other.name} checkpoint "
                f"({other.file_name}, sha256 {got}), but variant={variant.name} was asked for: "
                f"use --model-opt variant={other.name} (or the sam-{other.name.replace('_', '-')} "
                f"preset), or point checkpoint= at {variant.file_name}."
            )
    try:
        state = load_state_dict(path)
    except CheckpointLoadError:
        raise ChecksumMismatchError(_damaged_message(path, got, variant)) from None
    check_variant(state, variant, path)  # another variant's encoder: say so
    raise ChecksumMismatchError(_damaged_message(path, got, variant))


# -- what the state dict holds ----------------------------------------------------------------

PATCH_KEY = "image_encoder.patch_embed.proj.weight"
POS_KEY = "image_encoder.pos_embed"


def describe_state_dict(state: Any) -> tuple[int | None, int]:
    """(encoder width, encoder depth) read from the shapes of a SAM state dict."""
    width = None
    w = state.get(PATCH_KEY) if hasattr(state, "get") else None
    if w is not None and hasattr(w, "shape") and len(w.shape) == 4:
        width = int(w.shape[0])
    else:
        p = state.get(POS_KEY) if hasattr(state, "get") else None
        if p is not None and hasattr(p, "shape") and len(p.shape) == 4:
            width = int(p.shape[-1])
    depth = 0
    prefix = "image_encoder.blocks."
    for key in getattr(state, "keys", list)():
        if isinstance(key, str) and key.startswith(prefix):
            idx = key[len(prefix) :].split(".", 1)[0]
            if idx.isdigit():
                depth = max(depth, int(idx) + 1)
    return width, depth


def check_variant(state: Any, variant: Variant, path: Path) -> None:
    """Raise :class:`WrongVariantError` unless ``state`` has the image encoder of ``variant``."""
    width, depth = describe_state_dict(state)
    want_width, want_depth = variant.embed_dim, variant.depth
    if width == want_width and depth == want_depth:
        return
    if width is None:
        raise WrongVariantError(
            f"checkpoint {path} is not a SAM v1 checkpoint: it has no {PATCH_KEY} "
            f"(is it a SAM 2 or another model's file?). Expected the {variant.name} file "
            f"{variant.file_name} from {variant.url}."
        )
    found = next((v for v in VARIANTS.values() if v.embed_dim == width), None)
    what = (
        f"a SAM {found.name} checkpoint (encoder width {width}, depth {depth})"
        if found is not None and found.depth == depth
        else f"an encoder of width {width} and depth {depth}, which is no official SAM v1 "
        "variant (vit_b 768×12, vit_l 1024×24, vit_h 1280×32)"
    )
    hint = (
        f"use --model-opt variant={found.name}, or "
        if found is not None and found.depth == depth
        else ""
    )
    raise WrongVariantError(
        f"checkpoint {path} holds {what}, but variant={variant.name} needs width {want_width} "
        f"and depth {want_depth}: {hint}point checkpoint= at {variant.file_name} ({variant.url})."
    )


def load_state_dict(path: Path) -> dict:
    """``torch.load`` the checkpoint on the CPU (weights only) with a clear error."""
    import torch

    try:
        with open(path, "rb") as f:
            state = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a readable checkpoint"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointLoadError(
            f"checkpoint {path} cannot be read as a PyTorch state dict "
            f"({type(exc).__name__}: {first}). Download it again."
        ) from None
    if isinstance(state, dict) and "model" in state and PATCH_KEY not in state:
        state = state["model"]  # a training checkpoint wrapping the weights
    if not isinstance(state, dict):
        raise CheckpointLoadError(
            f"checkpoint {path} holds a {type(state).__name__}, not a state dict of tensors."
        )
    return state
