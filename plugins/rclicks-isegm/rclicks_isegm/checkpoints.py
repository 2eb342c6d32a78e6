"""The official RITM, SimpleClick and CFR-ICL checkpoints: where to find them, how to read them, and
which network they describe.

A checkpoint of these releases is a ``torch.save`` of ``{"config": ..., "state_dict": ...}``
(``isegm/utils/misc.py: save_checkpoint``). ``config`` is ``{"class": "isegm.model....Model",
"params": {name: {"type": "builtin" | "class", "value": ..., "specified": bool}}}``, the
constructor arguments recorded at training time. The network is built from that config and
the state dict loaded with ``strict=True``; a checkpoint of another architecture is refused,
naming what it holds.

SimpleClick's config stores a training-loss object of the ``isegm`` package inside
``head_params``. Those classes are not needed (nor installed): reading the file replaces every
``isegm`` class by an inert stand-in, allows torch's own types, and refuses anything else.
"""

from __future__ import annotations

import os
import pickle
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclicks.errors import CheckpointNotFoundError, ChecksumError, OptionError, RclicksError

CHECKPOINTS_ENV = "RCLICKS_CHECKPOINTS"

RITM_PAGE = "https://github.com/SamsungLabs/ritm_interactive_segmentation#pretrained-models"
SC_PAGE = "https://github.com/uncbiag/SimpleClick#download"
CFR_PAGE = "https://github.com/TitorX/CFR-ICL-Interactive-Segmentation#download"

HRNET_CLASS = "isegm.model.is_hrnet_model.HRNetModel"
PLAINVIT_CLASS = "isegm.model.is_plainvit_model.PlainVitModel"


class CheckpointError(RclicksError, ValueError):
    """A checkpoint file that cannot be read, or describes a network this plugin does not
    implement."""


@dataclass(frozen=True)
class Variant:
    """One published checkpoint: its preset name, family (``ritm`` / ``simpleclick`` /
    ``cfr-icl``), official file name, download page, and the sha256 where one is published
    (none of these releases publishes one)."""

    name: str
    family: str
    file_name: str
    page: str
    training: str
    sha256: str | None = None


_C, _S = "COCO+LVIS", "SBD"
VARIANTS = {
    v.name: v
    for v in (
        Variant("ritm-hrnet18-cocolvis", "ritm", "coco_lvis_h18_itermask.pth", RITM_PAGE, _C),
        Variant("ritm-hrnet32-cocolvis", "ritm", "coco_lvis_h32_itermask.pth", RITM_PAGE, _C),
        Variant("ritm-hrnet18-sbd", "ritm", "sbd_h18_itermask.pth", RITM_PAGE, _S),
        Variant("simpleclick-vit-b-cocolvis", "simpleclick", "cocolvis_vit_base.pth", SC_PAGE, _C),
        Variant("simpleclick-vit-l-cocolvis", "simpleclick", "cocolvis_vit_large.pth", SC_PAGE, _C),
        Variant("simpleclick-vit-h-cocolvis", "simpleclick", "cocolvis_vit_huge.pth", SC_PAGE, _C),
        Variant("simpleclick-vit-b-sbd", "simpleclick", "sbd_vit_base.pth", SC_PAGE, _S),
        Variant("simpleclick-vit-l-sbd", "simpleclick", "sbd_vit_large.pth", SC_PAGE, _S),
        Variant("simpleclick-vit-h-sbd", "simpleclick", "sbd_vit_huge.pth", SC_PAGE, _S),
        Variant("cfr-icl-vit-h-cocolvis", "cfr-icl", "cocolvis_icl_vit_huge.pth", CFR_PAGE, _C),
    )
}


def variant_of(name: str) -> Variant:
    if name not in VARIANTS:
        raise OptionError(f"variant must be one of {', '.join(VARIANTS)}, got {name!r}")
    return VARIANTS[name]


# -- finding the file -------------------------------------------------------------------------


def resolve_checkpoint(variant: Variant, checkpoint: str | os.PathLike | None) -> Path:
    """``checkpoint`` (a file, or a folder holding the official file name), else
    ``$RCLICKS_CHECKPOINTS/<official file name>``; the error names every place looked at."""
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
    raise CheckpointNotFoundError(
        f"{variant.name} checkpoint {variant.file_name} ({variant.family}, trained on "
        f"{variant.training}) not found. Looked at: " + "; ".join(looked) + ". Download "
        f"{variant.file_name} from {variant.page} (no sha256 is published: pin your copy with "
        f"--model-opt sha256=<digest>), then put it in the folder named by ${CHECKPOINTS_ENV} "
        f"(export {CHECKPOINTS_ENV}=/path/to/folder) or pass "
        f"--model-opt checkpoint=/path/to/{variant.file_name}."
    )


def check_sha256(path: Path, expected: str | None) -> None:
    """Compare the file with ``expected`` (None or ``skip``: no check)."""
    if expected in (None, "") or str(expected).strip().lower() == "skip":
        return
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    got = h.hexdigest()
    if got != str(expected).strip().lower():
        raise ChecksumError(
            f"checkpoint {path} has sha256 {got}, expected {expected} (the sha256 option): the "
            "file is damaged or not the one you meant; download it again or fix "
            "--model-opt sha256=..."
        )


# -- reading the file ---------------------------------------------------------------------------


class _Inert:
    """Stands for a class of the ``isegm`` package found in a checkpoint's config (a training
    loss, ...): keeps whatever state it is given and does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state


_ALLOWED_ROOTS = ("torch", "collections", "numpy", "_codecs")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if root in ("isegm", "easydict", "mmseg", "mmcv"):
            return type(name, (_Inert,), {"__module__": module})
        if root in _ALLOWED_ROOTS or (module == "builtins" and name in _SAFE_BUILTINS):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint")


_SAFE_BUILTINS = {"set", "frozenset", "tuple", "list", "dict", "slice", "complex", "bytearray"}
_PICKLE = types.SimpleNamespace(Unpickler=_Unpickler, load=pickle.load, __name__="pickle")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """``{"config": ..., "state_dict": ...}`` of an official checkpoint file."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # a config with isegm objects in it: the restricted reader
        try:
            data = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_PICKLE)
        except Exception as exc:  # noqa: BLE001 - a damaged or foreign file
            raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - not a torch file at all
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from None
    if isinstance(data, list):
        raise CheckpointError(
            f"checkpoint {path} holds a multi-stage model (a list of {len(data)} networks); "
            "rclicks-isegm reads single RITM / SimpleClick networks"
        )
    if not isinstance(data, dict) or "state_dict" not in data or "config" not in data:
        what = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"checkpoint {path} is not in the RITM / SimpleClick format (a dict with 'config' "
            f"and 'state_dict'); it holds {what}"
        )
    return data


# -- the network of a config --------------------------------------------------------------------

#: constructor parameters of the reference that these networks fix, with the value they fix
_FIXED = {
    "cpu_dist_maps": {False},
    "clicks_groups": {None},
    "binary_prev_mask": {False},
    "conv_extend": {False},
    "backbone_lr_mult": None,  # training only: any value
    "norm_mean_std": None,  # checked below through norm_mean / norm_std when given
}


def config_params(config: dict[str, Any]) -> dict[str, Any]:
    """The stored constructor arguments as ``{name: value}``."""
    params = config.get("params", {})
    if not isinstance(params, dict):
        raise CheckpointError(f"config params must be a dict, got {type(params).__name__}")
    out = {}
    for name, entry in params.items():
        value = entry.get("value") if isinstance(entry, dict) else entry
        if isinstance(entry, dict) and entry.get("type") == "class" and value in _CLASSES:
            import torch

            value = getattr(torch.nn, _CLASSES[value])  # stored as an import path
        out[name] = value
    return out


#: classes a config names by import path that these networks take as arguments
_CLASSES = {
    "torch.nn.modules.batchnorm.BatchNorm2d": "BatchNorm2d",
    "torch.nn.BatchNorm2d": "BatchNorm2d",
}


def build_network(config: dict[str, Any], source: str) -> Any:
    """The network (not yet loaded) that ``config`` describes; ``source`` names the file in
    errors."""
    cls = config.get("class") if isinstance(config, dict) else None
    params = config_params(config)
    if cls == HRNET_CLASS:
        from rclicks_isegm.hrnet import HRNetModel

        target = HRNetModel
    elif cls == PLAINVIT_CLASS:
        from rclicks_isegm.plainvit import PlainVitModel

        target = PlainVitModel
    else:
        raise CheckpointError(
            f"checkpoint {source} holds a {cls or 'model of no recorded class'} network; "
            f"rclicks-isegm implements {HRNET_CLASS} (RITM) and {PLAINVIT_CLASS} "
            "(SimpleClick, CFR-ICL)"
        )
    import inspect

    accepted = set(inspect.signature(target.__init__).parameters) - {"self"}
    kwargs = {}
    for name, value in params.items():
        if name in accepted:
            kwargs[name] = value
        elif name in _FIXED:
            allowed = _FIXED[name]
            if allowed is not None and value not in allowed:
                raise CheckpointError(
                    f"checkpoint {source}: {cls} with {name}={value!r} is not supported "
                    f"(rclicks-isegm implements {name}={sorted(map(str, allowed))[0]})"
                )
        else:
            raise CheckpointError(
                f"checkpoint {source}: {cls} has the parameter {name}={value!r}, which "
                "rclicks-isegm does not know"
            )
    try:
        return target(**kwargs)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {source}: {exc}") from None


def load_network(path: Path) -> Any:
    """Read ``path``, build its network and load its weights with ``strict=True``."""
    data = read_checkpoint(path)
    net = build_network(data["config"], str(path))
    state = data["state_dict"]
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        raise CheckpointError(
            f"checkpoint {path}: its state_dict does not fit the network its config describes "
            f"({' '.join(first[:3])[:600]})"
        ) from None
    return net.eval()
