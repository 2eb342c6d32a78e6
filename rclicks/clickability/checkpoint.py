"""Finding, checking and loading clickability network weights, and the network's options.

Weights are never downloaded: the official ``clickability_model.pth`` comes from
``$RCLICKS_CHECKPOINTS`` or an explicit path; its sha256 is checked when one is given. A
reduced-width network trained by ``rclicks train-clickability`` carries its
``ClickabilityNet`` options (``net.json`` beside the weights, or ``net`` inside
``last.ckpt``). torch is imported only when weights are read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rclicks.errors import CheckpointNotFoundError, ChecksumError, ComponentError, OptionError
from rclicks.files import sha256_file

CHECKPOINT_NAME = "clickability_model.pth"
CHECKPOINT_URL = "https://drive.google.com/drive/folders/1ERy2swCS35qT_J0B-QQsPCfyzXbPODK7"
CHECKPOINT_SHA256: str | None = None  # no published checksum is known
ENV_VAR = "RCLICKS_CHECKPOINTS"
# Beside a checkpoint trained by ``rclicks train-clickability``: the ``ClickabilityNet``
# keyword arguments of a reduced-width network (absent for the official architecture).
NET_JSON = "net.json"


def _missing_message(path: Path, looked: str) -> str:
    known = CHECKPOINT_SHA256 or "not published"
    return (
        f"clickability simulator: checkpoint {CHECKPOINT_NAME!r} not found at {str(path)!r} "
        f"({looked}). It is the official RClicks clickability model, published in "
        f"CLICKABILITY_CHECKPOINTS.zip (445 MB) on Google Drive: {CHECKPOINT_URL} (see the "
        f"emb-ai/rclicks README); expected sha256: {known}. Download and unzip it, then either "
        f"set ${ENV_VAR} to the folder holding {CHECKPOINT_NAME} or pass the file explicitly, "
        f"e.g. rclicks eval --simulator clickability --sim-opt checkpoint=/path/to/"
        f"{CHECKPOINT_NAME} (in Python: make_clickability(checkpoint=...))."
    )


def resolve_checkpoint(checkpoint: str | os.PathLike | None) -> Path:
    """The checkpoint path: ``checkpoint`` or ``$RCLICKS_CHECKPOINTS/clickability_model.pth``."""
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        looked = "the path given as checkpoint="
    else:
        root = os.environ.get(ENV_VAR)
        if not root:
            path = Path(CHECKPOINT_NAME)
            raise CheckpointNotFoundError(
                _missing_message(path, f"no checkpoint= was given and ${ENV_VAR} is not set")
            )
        path = Path(root).expanduser() / CHECKPOINT_NAME
        looked = f"${ENV_VAR}={root}"
    if not path.is_file():
        raise CheckpointNotFoundError(_missing_message(path, f"looked via {looked}"))
    return path


def load_state_dict(path: Path, sha256: str | None = None) -> dict:
    """Read a checkpoint: a raw ``state_dict``, or a dict holding one under ``state_dict`` or
    ``model``; a common ``module.`` prefix is stripped."""
    return unwrap(load_object(path, sha256), path)


def load_object(path: Path, sha256: str | None = None):
    import torch

    if sha256 is not None and str(sha256).strip():  # "" (an unset ${VAR:-}) = no check
        got = sha256_file(path)
        if got.lower() != sha256.strip().lower():
            raise ChecksumError(
                f"clickability simulator: sha256 mismatch for {str(path)!r}: expected "
                f"{sha256.strip().lower()}, got {got}. The file is corrupt or a different "
                f"checkpoint; download {CHECKPOINT_NAME} again from {CHECKPOINT_URL}."
            )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        raise ComponentError(
            f"clickability simulator: could not load {str(path)!r} with "
            f"torch.load(weights_only=True): {exc}. The file must hold plain tensors (a "
            f"state_dict), as the official {CHECKPOINT_NAME} does."
        ) from exc
    return obj


def unwrap(obj, path: Path) -> dict:
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, dict):
                obj = inner
                break
    if not isinstance(obj, dict):
        raise ComponentError(
            f"clickability simulator: {str(path)!r} holds a {type(obj).__name__}, not a state_dict"
        )
    prefix = "module."  # written by DataParallel / DistributedDataParallel
    if obj and all(k.startswith(prefix) for k in obj):
        obj = {k[len(prefix) :]: v for k, v in obj.items()}
    return obj


def net_options(value: Any) -> dict | None:
    """``ClickabilityNet`` keyword arguments from ``value``: a dict, JSON text (``{...}``) or
    the path of a JSON file; ``None`` stays ``None``. Unknown keys are an error."""
    from rclicks.clickability.net import DEFAULT_NET_OPTIONS

    if value is None or value == "":
        return None
    if isinstance(value, (str, os.PathLike)):
        text = str(value).strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise OptionError(
                    f"clickability simulator: net={text!r} is not JSON: {exc}"
                ) from None
        else:
            path = Path(text).expanduser()
            if not path.is_file():
                raise OptionError(
                    f"clickability simulator: net={text!r}: no such JSON file (net takes the "
                    f"path of a {NET_JSON} or a JSON object of ClickabilityNet options)"
                )
            try:
                value = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise OptionError(
                    f"clickability simulator: {path}: unreadable JSON: {exc}"
                ) from None
    if not isinstance(value, dict):
        raise OptionError(
            f"clickability simulator: net options must be a JSON object, got {value!r}"
        )
    unknown = sorted(set(value) - set(DEFAULT_NET_OPTIONS))
    if unknown:
        raise OptionError(
            f"clickability simulator: unknown net option(s) {', '.join(unknown)}; known: "
            f"{', '.join(DEFAULT_NET_OPTIONS)}"
        )
    return dict(value)


def checkpoint_net_options(path: Path, obj: Any = None) -> dict | None:
    """The net options stored with a checkpoint: under ``net`` inside it (``last.ckpt`` of
    ``rclicks train-clickability``), else in a ``net.json`` beside it; ``None`` when neither
    exists (the official architecture)."""
    if isinstance(obj, dict) and isinstance(obj.get("net"), dict):
        return net_options(obj["net"])
    side = Path(path).parent / NET_JSON
    if side.is_file():
        return net_options(side)
    return None


def build_net(options: dict | None = None):
    """A ``ClickabilityNet`` with ``options`` (default: the official architecture)."""
    from rclicks.clickability.net import ClickabilityNet

    return ClickabilityNet(**(options or {}))
