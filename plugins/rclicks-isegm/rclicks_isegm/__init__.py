"""rclicks plugin: RITM (HRNet + OCR) and SimpleClick (plain ViT) as interactive segmentation
models, in plain PyTorch, loading the official ``{"config", "state_dict"}`` checkpoints.

Registers the models ``ritm``, ``simpleclick`` and ``cfr-icl`` (SimpleClick's network with the
cascade-forward refinement of CFR-ICL on the first click). Options: ``variant`` (a preset name of
:data:`rclicks_isegm.checkpoints.VARIANTS`), ``checkpoint`` (a file or a folder; default
``$RCLICKS_CHECKPOINTS/<official file name>``), ``sha256`` (checked when given; none is
published), ``zoom_target`` (the zoom-in size: RITM 400 as in the RClicks evaluation of
GrabCut / Berkeley / COCO, 600 for its DAVIS runs; SimpleClick and CFR-ICL 448, and 672 for
DAVIS, their positional embedding resized as the reference does), ``device``, ``dtype``
(``float32``, or ``float64`` for the network to leave out float32 rounding), ``batch``
(trajectories per network call; default all of a click step on CUDA, 1 on the CPU, where
larger batches measured slower), and the
test-only ``random_weights`` / ``seed`` (a randomly initialised network of the variant's
architecture, no file).

Importing this module is cheap: torch is imported by the factory.
"""

from __future__ import annotations

from typing import Any

import rclicks

__version__ = "0.1.0"

DEFAULT_VARIANT = {
    "ritm": "ritm-hrnet18-cocolvis",
    "simpleclick": "simpleclick-vit-b-cocolvis",
    "cfr-icl": "cfr-icl-vit-h-cocolvis",
}
#: CFR-ICL as the RClicks evaluation ran it (``--cf-n=1``): two passes on the first click
CFR_CASCADE, CFR_CASCADE_CLICKS = 2, 1


def _default_network(variant: Any) -> Any:
    """A randomly initialised network of ``variant``'s architecture (the official config)."""
    if variant.family == "ritm":
        from rclicks_isegm.hrnet import HRNetModel

        wide = "hrnet32" in variant.name
        return HRNetModel(width=32, ocr_width=128) if wide else HRNetModel()
    from rclicks_isegm.plainvit import build_plainvit

    size = variant.name.split("-")[-2]  # b / l / h
    return build_plainvit(
        {"b": "simpleclick_vit_base", "l": "simpleclick_vit_large"}.get(
            size, "simpleclick_vit_huge"
        )
    )


def make_model(
    family: str,
    variant: str | None = None,
    checkpoint: str | None = None,
    sha256: str | None = None,
    zoom_target: int | None = None,
    device: str | None = "cpu",
    dtype: str = "float32",
    batch: int | None = None,
    random_weights: bool = False,
    seed: int = 0,
) -> Any:
    from rclicks.devices import resolve_device
    from rclicks.errors import OptionError

    from rclicks_isegm import checkpoints as ck
    from rclicks_isegm.model import IsegmModel
    from rclicks_isegm.predictor import ZoomIn

    v = ck.variant_of(variant or DEFAULT_VARIANT[family])
    if v.family != family:
        raise OptionError(f"variant {v.name} is a {v.family} checkpoint, not {family}")
    if zoom_target is not None and (isinstance(zoom_target, bool) or int(zoom_target) < 1):
        raise OptionError(f"zoom_target must be a whole number of pixels, got {zoom_target!r}")
    if family == "ritm":
        zoom = ZoomIn(int(zoom_target or 400), skip_clicks=1)  # evaluate_model_ritm.py
    else:  # evaluate_model_simpleclick.py / _cfr.py: 448 (672 for DAVIS), from click 1
        side = int(zoom_target or 448)
        zoom = ZoomIn((side, side), skip_clicks=-1)
    device = resolve_device(device)
    import torch

    if random_weights:
        torch.manual_seed(int(seed))
        net = _default_network(v)
    else:
        path = ck.resolve_checkpoint(v, checkpoint)
        ck.check_sha256(path, sha256)
        net = ck.load_network(path)
    if dtype not in ("float32", "float64"):
        raise OptionError(f"dtype must be float32 or float64, got {dtype!r}")
    if batch is not None and (isinstance(batch, bool) or int(batch) < 1):
        raise OptionError(f"batch must be a whole number >= 1, got {batch!r}")
    # trajectories per network call: on the CPU large batches of these early-fusion networks
    # are slower than one at a time (benchmarks/isegm.py); on a GPU one call takes them all
    per_call = int(batch) if batch is not None else (None if device.startswith("cuda") else 1)
    cascade = CFR_CASCADE if family == "cfr-icl" else 1
    if family != "ritm" and zoom.target_size != (448, 448):
        try:
            net.set_input_size(zoom.target_size)
        except ValueError as exc:
            raise OptionError(f"zoom_target={zoom_target}: {exc}") from None
    return IsegmModel(
        net, zoom, device=device, name=v.name, dtype=getattr(torch, dtype), cascade=cascade,
        cascade_clicks=CFR_CASCADE_CLICKS, per_call=per_call,
    )  # fmt: skip


def make_ritm(**options: Any) -> Any:
    """RITM (HRNet-18/32 + OCR): see the module docstring for the options."""
    return make_model("ritm", **options)


def make_simpleclick(**options: Any) -> Any:
    """SimpleClick (plain ViT-B/L/H): see the module docstring for the options."""
    return make_model("simpleclick", **options)


def make_cfr_icl(**options: Any) -> Any:
    """CFR-ICL (SimpleClick's ViT-H, cascade-forward on the first click): the options of
    ``simpleclick``."""
    return make_model("cfr-icl", **options)


@rclicks.hookimpl
def rclicks_register_models(register):
    register(
        "ritm",
        make_ritm,
        description="RITM HRNet + OCR (official checkpoints; the reference zoom-in predictor)",
    )
    register(
        "simpleclick",
        make_simpleclick,
        description="SimpleClick plain ViT (official checkpoints; the reference predictor)",
    )
    register(
        "cfr-icl",
        make_cfr_icl,
        description="CFR-ICL (SimpleClick ViT-H with cascade-forward refinement on click 1)",
    )
