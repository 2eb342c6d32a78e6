"""SAM 2 / SAM 2.1 as an rclicks model, the way the RClicks reference wraps it.

Reference: ``isegm/isegm/model/is_sam2_model.py`` of RClicks (used by
``scripts/evaluate_model_sam2.py`` and, identically, ``evaluate_model_sam2.1.py``). Per click it
calls ``SAM2ImagePredictor.set_image(image)`` and then ``predict(point_coords=(x, y) in original
pixels, point_labels=1/0, mask_input=previous low-res logits, multimask_output=False,
return_logits=True)``; the probability is ``sigmoid`` of the returned full-resolution logits and
the previous mask is reset when ``max(#positive, #negative) <= 1``.

Here ``encode`` computes what ``set_image`` computes, once per image, and ``predict_batch``
does what ``SAM2ImagePredictor._prep_prompts`` + ``_predict`` do, for many trajectories of the
same image at once (B×N×2 point prompts). torch and sam2 are imported when a model is built,
never when the plugin is imported.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import rclicks
import rclicks.errors
from rclicks.protocols import point_labels
from rclicks_sam2.checkpoints import expected_sha256, resolve_checkpoint, verify_checkpoint
from rclicks_sam2.errors import Sam2Error, missing_package_error
from rclicks_sam2.variants import DEFAULT_VARIANT, VARIANTS, Variant, get_variant

MULTIMASK = ("reference", "always-best")
PREV_MASK = ("reference", "always", "never")

# A tiny random SAM 2 for tests: 256-pixel input, a 5-block Hiera trunk with 8 channels, a
# one-layer memory attention (unused for images but built by SAM2Base). Everything else (prompt
# encoder, mask decoder, the image-predictor code paths) is the real thing.
TINY_OVERRIDES = (
    "++model.image_size=256",
    "++model.image_encoder.trunk.embed_dim=8",
    "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[4,4]",
    "++model.image_encoder.trunk.window_spec=[8,4,4,4]",
    "++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]",
    "++model.memory_attention.num_layers=1",
    "++model.memory_attention.layer.dim_feedforward=64",
    "++model.memory_attention.layer.self_attention.feat_sizes=[16,16]",
    "++model.memory_attention.layer.cross_attention.feat_sizes=[16,16]",
)


@dataclass(frozen=True)
class Sam2Embedding:
    """What ``SAM2ImagePredictor.set_image`` keeps: the lowest-resolution image embedding
    (1×C×h×w, ``no_mem_embed`` added), the two high-resolution feature maps, and the original
    image size (H, W). Read-only: decoding never writes into it."""

    image_embed: Any
    high_res_feats: tuple
    orig_hw: tuple[int, int]


def _import_torch_sam2():
    try:
        import torch
        from sam2.build_sam import build_sam2
        from sam2.utils.transforms import SAM2Transforms
    except ImportError as exc:
        raise missing_package_error(exc) from None
    except RuntimeError as exc:  # sam2 refuses to import from the parent of its source tree
        raise Sam2Error(f"the sam2 package could not be imported: {exc}") from None
    return torch, build_sam2, SAM2Transforms


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", "", "none"):
        return False
    raise Sam2Error(f"option {name}={value!r} must be true or false")


def _choice(value: Any, name: str, choices: Sequence[str]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise Sam2Error(f"option {name}={value!r} must be one of: {', '.join(choices)}")
    return text


def _overrides_list(value: Any) -> list[str]:
    """Hydra overrides from a list or from a string separated by ';' or whitespace."""
    if value in (None, ""):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [p for p in re.split(r"[;\s]+", str(value)) if p]


def resolve_device(device: Any) -> str:
    """``rclicks.resolve_device`` (auto, cpu, cuda, cuda:N), its errors as :class:`Sam2Error`."""
    try:
        return rclicks.resolve_device(device)
    except rclicks.errors.DeviceError as exc:
        raise Sam2Error(str(exc)) from None


def _signature_of_config(cfg: Any) -> tuple[int, int, bool]:
    trunk = cfg.model.image_encoder.trunk
    # defaults of sam2.modeling.backbones.hieradet.Hiera where a config leaves them out
    stages = trunk.get("stages", None) or (2, 3, 16, 3)
    return (
        int(trunk.get("embed_dim", 96)),
        int(sum(stages)),
        bool(cfg.model.get("no_obj_embed_spatial", False)),
    )


def _signature_of_state(sd: dict) -> tuple[int, int, bool] | None:
    w = sd.get("image_encoder.trunk.patch_embed.proj.weight")
    if w is None or not hasattr(w, "shape"):
        return None
    blocks = {
        int(m.group(1))
        for k in sd
        if (m := re.match(r"image_encoder\.trunk\.blocks\.(\d+)\.", k)) is not None
    }
    return int(w.shape[0]), len(blocks), "no_obj_embed_spatial" in sd


def _describe_mismatch(
    variant: Variant, path: Any, sd: dict, model: Any, overrides: list[str]
) -> str:
    """Say which variant the file looks like, from its keys and shapes."""
    from hydra import compose
    from omegaconf import OmegaConf

    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(sd))
        if hasattr(sd[k], "shape") and tuple(sd[k].shape) != tuple(own[k].shape)
    ]
    file_sig = _signature_of_state(sd)
    looks: list[str] = []
    if file_sig is not None:
        for name, v in VARIANTS.items():
            cfg = compose(config_name=v.config, overrides=list(overrides))
            OmegaConf.resolve(cfg)
            if _signature_of_config(cfg) == file_sig:
                looks.append(name)
    if looks:
        guess = "it looks like a checkpoint of " + " or ".join(looks)
        hint = f" Use --model-opt variant={looks[0]}" if len(looks) == 1 else ""
        guess += "." + hint
    elif "image_encoder.blocks.0.attn.qkv.weight" in sd:
        guess = "it looks like a SAM (v1, ViT) checkpoint: use the 'sam' model for it."
    elif file_sig is not None:
        dim, depth, spatial = file_sig
        guess = (
            f"it looks like a SAM 2 checkpoint with a Hiera trunk of width {dim} and {depth} "
            f"blocks ({'2.1' if spatial else '2.0'}-style), which matches none of the known "
            f"variants."
        )
    else:
        guess = "it does not look like a SAM 2 / SAM 2.1 checkpoint at all."

    def first(items: list[str]) -> str:
        more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
        return ", ".join(items[:5]) + more

    details = []
    if missing:
        details.append(f"{len(missing)} missing key(s): {first(missing)}")
    if unexpected:
        details.append(f"{len(unexpected)} unexpected key(s): {first(unexpected)}")
    if shapes:
        details.append(f"{len(shapes)} shape mismatch(es): {first(shapes)}")
    return (
        f"checkpoint {path} does not fit variant {variant.name} ({variant.config}): "
        + guess
        + ("\nDifferences: " + "; ".join(details) if details else "")
    )


def _load_weights(torch: Any, model: Any, variant: Variant, path: Any, overrides: list[str]):
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise Sam2Error(
            f"checkpoint {path} could not be read by torch.load ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); expected Meta's "
            f"{variant.filename} from {variant.url}"
        ) from None
    sd = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict):
        raise Sam2Error(
            f"checkpoint {path} holds a {type(obj).__name__}, not a state dict "
            f"(Meta's files hold {{'model': state_dict}})"
        )
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError:
        raise Sam2Error(_describe_mismatch(variant, path, sd, model, overrides)) from None


# -- the model ---------------------------------------------------------------------------------


class Sam2Model:
    """SAM 2 / 2.1 behind the rclicks ISModel protocol.

    ``predict_batch`` decodes every trajectory of one image together; ``state`` is the chosen
    low-resolution logits (1×h×w tensor), fed back as ``mask_input`` by the ``prev_mask`` rule.
    """

    def __init__(
        self,
        sam_model: Any,
        *,
        variant: str = DEFAULT_VARIANT,
        device: str = "cpu",
        multimask: str = "reference",
        prev_mask: str = "reference",
        threshold: float = 0.5,
        autocast: bool | None = None,
    ) -> None:
        torch, _, SAM2Transforms = _import_torch_sam2()
        self._torch = torch
        self.sam = sam_model
        self.variant = variant
        self.device = device
        self.multimask = _choice(multimask, "multimask", MULTIMASK)
        self.prev_mask = _choice(prev_mask, "prev_mask", PREV_MASK)
        self.threshold = float(threshold)
        # The same transforms SAM2ImagePredictor(sam_model) builds with its defaults (its
        # torch.jit.script call warns about deprecation on recent torch: not our users' news).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self._transforms = SAM2Transforms(
                resolution=sam_model.image_size,
                mask_threshold=0.0,
                max_hole_area=0.0,
                max_sprinkle_area=0.0,
            )
        on_cuda = str(device).startswith("cuda")
        if autocast is None:
            autocast = on_cuda
        self.autocast = bool(autocast) and on_cuda and torch.cuda.is_bf16_supported()

    # autocast only on CUDA with bf16 support; plain float32 everywhere else
    def _ctx(self):
        if self.autocast:
            return self._torch.autocast("cuda", dtype=self._torch.bfloat16)
        return contextlib.nullcontext()

    def encode(self, image: np.ndarray) -> Sam2Embedding:
        """What ``SAM2ImagePredictor.set_image`` computes: transforms, backbone, feature prep."""
        torch = self._torch
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"image must be H×W×3 RGB, got shape {img.shape}")
        if img.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        if not img.flags.writeable or not img.flags.c_contiguous:
            img = np.array(img, order="C")  # ToTensor warns on read-only arrays
        model = self.sam
        with torch.no_grad(), self._ctx():
            x = self._transforms(img)[None, ...].to(self.device)
            backbone_out = model.forward_image(x)
            _, vision_feats, _, feat_sizes = model._prepare_backbone_features(backbone_out)
            if model.directly_add_no_mem_embed:
                vision_feats[-1] = vision_feats[-1] + model.no_mem_embed
            feats = [
                feat.permute(1, 2, 0).reshape(1, -1, *size)
                for feat, size in zip(vision_feats, feat_sizes)
            ]
        return Sam2Embedding(feats[-1], tuple(feats[:-1]), (int(img.shape[0]), int(img.shape[1])))

    def _mask_input(self, clicks: Sequence[Any], state: Any) -> Any:
        return self._mask_input_of([c.positive for c in clicks], state)

    def _mask_input_of(self, labels: Sequence[bool], state: Any) -> Any:
        """The previous low-res logits when this click feeds them back, else None."""
        if state is None or self.prev_mask == "never":
            return None
        if self.prev_mask == "reference":
            pos = sum(1 for v in labels if v)
            if max(pos, len(labels) - pos) <= 1:  # the reference's reset (points.shape[1] == 2)
                return None
        return state

    def predict(self, embedding: Sam2Embedding, clicks: Sequence[Any], state: Any | None):
        probs, states = self.predict_batch(embedding, [clicks], [state])
        return probs[0], states[0]

    def predict_batch(
        self,
        embedding: Sam2Embedding,
        clicks: Sequence[Sequence[Any]],
        states: Sequence[Any] | None = None,
    ) -> tuple[list[np.ndarray], list[Any]]:
        n = len(clicks)
        states = list(states) if states is not None else [None] * n
        if len(states) != n:
            raise ValueError(f"{n} click lists but {len(states)} states")
        groups: dict[tuple[int, bool], list[int]] = {}
        masks_in = []
        for i, (cl, st) in enumerate(zip(clicks, states)):
            if len(cl) == 0:
                raise ValueError("SAM 2 needs at least one click per trajectory")
            m = self._mask_input(cl, st)
            masks_in.append(m)
            groups.setdefault((len(cl), m is not None), []).append(i)
        probs: list[Any] = [None] * n
        new_states: list[Any] = [None] * n
        for (_, has_mask), idx in groups.items():
            p, s = self._decode(
                embedding,
                [clicks[i] for i in idx],
                [masks_in[i] for i in idx] if has_mask else None,
            )
            for j, i in enumerate(idx):
                probs[i] = p[j]
                new_states[i] = s[j]
        return probs, new_states

    def _decode(self, emb: Sam2Embedding, clicks: list, masks: list | None):
        """``SAM2ImagePredictor._prep_prompts`` + ``_predict`` for B point prompts of one image."""
        torch = self._torch
        dev = self.device
        b = len(clicks)
        coords = torch.tensor(
            [[[c.x, c.y] for c in cl] for cl in clicks], dtype=torch.float, device=dev
        )
        labels = torch.tensor(
            [[1 if c.positive else 0 for c in cl] for cl in clicks], dtype=torch.int, device=dev
        )
        with torch.no_grad(), self._ctx():
            full, low_res = self._logits(emb, coords, labels, masks)
            low_res = torch.clamp(low_res, -32.0, 32.0)
            prob = torch.sigmoid(full.float()).cpu().numpy().astype(np.float32)
            chosen = low_res.float()[:, None]  # B×1×h×w, as the reference keeps it
        return list(prob[:, 0]), [chosen[i] for i in range(b)]

    def _logits(self, emb: Sam2Embedding, coords: Any, labels: Any, masks: list | None):
        """Coordinates to the model frame, prompt encoder, mask decoder, upscaling, best mask:
        B×1×H×W full-size and B×h×w low-res logits of the kept mask, for B×N×2 ``coords`` (x, y)
        in original pixels. No grad mode of its own (``_decode``: no_grad;
        ``predict_differentiable``: the gradient on)."""
        torch = self._torch
        model = self.sam
        dev = self.device
        b = coords.shape[0]
        points = self._transforms.transform_coords(coords, normalize=True, orig_hw=emb.orig_hw)
        mask_input = None
        if masks is not None:
            mask_input = torch.stack(
                [
                    torch.as_tensor(m, dtype=torch.float, device=dev).reshape(1, *m.shape[-2:])
                    for m in masks
                ]
            )
        sparse, dense = model.sam_prompt_encoder(
            points=(points, labels), boxes=None, masks=mask_input
        )
        low_res, iou, _, _ = model.sam_mask_decoder(
            image_embeddings=emb.image_embed,
            image_pe=model.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=self.multimask == "always-best",
            repeat_image=b > 1,
            high_res_features=list(emb.high_res_feats),
        )
        full = self._transforms.postprocess_masks(low_res, emb.orig_hw)
        best = torch.argmax(iou.float(), dim=1)
        rows = torch.arange(b, device=best.device)
        return full[rows, best][:, None], low_res[rows, best]

    # -- DifferentiablePredictor ---------------------------------------------------------------

    def predict_differentiable(
        self, embedding: Sam2Embedding, points: Any, labels: Sequence[bool], state: Any | None
    ) -> Any:
        """H×W logits for the clicks ``points`` (N×2 float torch tensor of (x, y) in original
        pixels, all clicks of the trajectory in order) with the gradient reaching them: the
        same torch coordinate transform, mask input, decoder call, mask choice and upscaling as
        :meth:`predict` (``sigmoid`` of the result is its map), run with the gradient on, so it
        flows through the prompt encoder's positional point embedding. ``state`` and
        ``embedding`` are read, never changed."""
        torch = self._torch
        labels = point_labels(points, labels)
        coords = points.to(device=self.device, dtype=torch.float)[None]  # 1×N×2
        lab = torch.tensor([[1 if v else 0 for v in labels]], dtype=torch.int, device=self.device)
        m = self._mask_input_of(labels, state)
        masks = None if m is None else [torch.as_tensor(m).detach()]
        with torch.enable_grad(), self._ctx():
            full, _ = self._logits(embedding, coords, lab, masks)
        return full[0, 0].float()


# -- building ----------------------------------------------------------------------------------


def build_model(
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
) -> Sam2Model:
    """Build the model. ``random_weights`` (tests): no checkpoint, weights from ``seed``; the
    architecture is shrunk by :data:`TINY_OVERRIDES` unless ``tiny=false``. ``overrides``: more
    Hydra overrides (a list, or a string separated by ';')."""
    v = get_variant(variant)
    multimask = _choice(multimask, "multimask", MULTIMASK)
    prev_mask = _choice(prev_mask, "prev_mask", PREV_MASK)
    random_weights = _as_bool(random_weights, "random_weights")
    tiny = random_weights if tiny is None else _as_bool(tiny, "tiny")
    extra = (list(TINY_OVERRIDES) if tiny else []) + _overrides_list(overrides)
    if random_weights and checkpoint not in (None, ""):
        raise Sam2Error("options random_weights=true and checkpoint=... exclude each other")
    path = None
    check, expected = False, None
    if not random_weights:  # find and check the file before the heavy imports
        path = resolve_checkpoint(v, checkpoint)
        check, expected = expected_sha256(v, sha256)
    torch, build_sam2, _ = _import_torch_sam2()
    dev = resolve_device(device)
    if path is not None and check:
        verify_checkpoint(path, v, expected)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            sam = build_sam2(v.config, ckpt_path=None, device="cpu", hydra_overrides_extra=extra)
    except Exception as exc:  # noqa: BLE001 - a bad override or config: say which
        raise Sam2Error(
            f"sam2 could not build {v.name} from {v.config} with overrides {extra}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if path is not None:
        _load_weights(torch, sam, v, path, extra)
    sam = sam.to(dev).eval()
    for p in sam.parameters():
        p.requires_grad_(False)
    model = Sam2Model(
        sam,
        variant=v.name,
        device=dev,
        multimask=multimask,
        prev_mask=prev_mask,
        threshold=threshold,
        autocast=None if autocast in (None, "") else _as_bool(autocast, "autocast"),
    )
    model.checkpoint = None if path is None else os.fspath(path)
    return model
