"""SAM v1 behind the :class:`rclicks.ISModel` protocol.

This module imports torch and segment_anything at the top: it is imported only by the factory
(:func:`rclicks_sam.make_sam`), never when rclicks lists its plugins.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import rclicks
import rclicks.errors
import torch
from rclicks import Click
from rclicks.protocols import point_labels
from segment_anything import SamPredictor
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

from rclicks_sam.errors import DeviceError, SamOptionError
from rclicks_sam.options import MULTIMASK, PRECISIONS, PREV_MASK, RESIZES, choice

# segment_anything.build_sam's fixed settings (shared by every SAM v1 variant)
PROMPT_DIM = 256
PATCH = 16
PIXEL_MEAN = [123.675, 116.28, 103.53]
PIXEL_STD = [58.395, 57.12, 57.375]


@dataclass(frozen=True)
class SamEmbedding:
    """What ``encode`` keeps of an image; read-only afterwards."""

    features: torch.Tensor  # 1×256×(S/16)×(S/16) image embedding, S = image_encoder.img_size
    original_size: tuple[int, int]  # (H, W) of the image
    input_size: tuple[int, int]  # (h, w) after ResizeLongestSide, before padding to S×S


def build_sam(
    embed_dim: int,
    depth: int,
    num_heads: int,
    global_attn_indexes: Sequence[int],
    image_size: int = 1024,
) -> Sam:
    """A SAM v1 network from segment_anything's own modules, laid out as ``build_sam.py``
    does; ``image_size`` other than 1024 only for the tiny test model."""
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=depth,
            embed_dim=embed_dim,
            img_size=image_size,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=num_heads,
            patch_size=PATCH,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=tuple(global_attn_indexes),
            window_size=14,
            out_chans=PROMPT_DIM,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=PROMPT_DIM,
            image_embedding_size=(image_size // PATCH, image_size // PATCH),
            input_image_size=(image_size, image_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=PROMPT_DIM, mlp_dim=2048, num_heads=8
            ),
            transformer_dim=PROMPT_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=PIXEL_MEAN,
        pixel_std=PIXEL_STD,
    )


def build_random_sam(
    image_size: int = 256, depth: int = 2, embed_dim: int = 64, seed: int = 0
) -> Sam:
    """A tiny SAM with random (seeded, hence reproducible) weights, for tests and benchmarks."""
    image_size, depth, embed_dim = int(image_size), int(depth), int(embed_dim)
    if image_size < 2 * PATCH or image_size % PATCH:
        raise SamOptionError(f"image_size must be a multiple of {PATCH} >= 32, got {image_size}")
    if depth < 1:
        raise SamOptionError(f"encoder_depth must be >= 1, got {depth}")
    if embed_dim < 16 or embed_dim % 16:
        raise SamOptionError(f"encoder_embed_dim must be a multiple of 16, got {embed_dim}")
    heads = max(1, embed_dim // 32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build_sam(embed_dim, depth, heads, (depth - 1,), image_size)


def resolve_device(device: str | None) -> torch.device:
    """``rclicks.resolve_device`` (auto, cpu, cuda, cuda:N) as a ``torch.device``."""
    try:
        return torch.device(rclicks.resolve_device(device))
    except rclicks.errors.DeviceError as exc:
        raise DeviceError(str(exc)) from None


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain float32."""
    p = choice(precision, "precision", PRECISIONS)
    if p == "fp32":
        return None
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if p == "bf16":
            raise DeviceError(f"precision=bf16 asked for, but {device} does not support bfloat16")
        return None
    return torch.bfloat16 if p == "bf16" else None  # auto on the CPU: float32


class SamModel:
    """SAM v1 as an rclicks model: one image encoding, every trajectory decoded in a batch.

    ``multimask``: ``"reference"`` asks for the three multimask outputs on every click and
    keeps the one with the highest predicted IoU (as RClicks' ``is_sam_model.py``);
    ``"never"`` asks for the single-mask output.
    ``prev_mask``: ``"reference"`` feeds the previous click's low-res logits as the mask input,
    except while max(#positive, #negative clicks) <= 1 (the reference's reset); ``"always"``
    feeds them from the second click on; ``"never"`` never does.
    The state of a trajectory is the low-res logits (1×256×256 for the official models) of the
    mask it chose.
    """

    def __init__(
        self,
        sam: Sam,
        device: str | torch.device = "cpu",
        multimask: str = "reference",
        prev_mask: str = "reference",
        threshold: float = 0.5,
        precision: str = "auto",
        name: str = "sam",
        resize: str = "predictor",
    ) -> None:
        multimask = choice(multimask, "multimask", MULTIMASK)
        prev_mask = choice(prev_mask, "prev_mask", PREV_MASK)
        self.resize = choice(resize, "resize", RESIZES)
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.autocast_dtype = resolve_precision(precision, self.device)
        self.sam = sam.to(self.device).eval()
        for p in self.sam.parameters():
            p.requires_grad_(False)
        self.predictor = SamPredictor(self.sam)
        self.transform = self.predictor.transform  # ResizeLongestSide(image_encoder.img_size)
        self.multimask = multimask
        self.prev_mask = prev_mask
        self.threshold = float(threshold)
        self.name = name

    def __repr__(self) -> str:
        enc = self.sam.image_encoder
        return (
            f"SamModel({self.name}, img_size={enc.img_size}, device={self.device}, "
            f"multimask={self.multimask}, prev_mask={self.prev_mask}, resize={self.resize}, "
            f"autocast={self.autocast_dtype})"
        )

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    # -- ISModel --------------------------------------------------------------------------

    def encode(self, image: np.ndarray) -> SamEmbedding:
        """Run the image encoder once.

        ``resize="predictor"`` (default): the package's own ``SamPredictor.set_image`` path
        (PIL resize of the uint8 image to the longest side, normalise, pad, encoder).
        ``resize="reference"``: what RClicks' ``is_sam_model.py`` does, bug for bug:
        ``ResizeLongestSide.apply_image_torch`` on the 1×3×H×W float image, which (segment
        anything issue #218) sizes the output from the batch and channel dimensions, so every
        image becomes ``S/3``×``S`` (341×1024), then ``set_torch_image``.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.shape} {image.dtype}")
        try:
            with torch.inference_mode(), self._autocast():
                if self.resize == "reference":
                    # torchvision ToTensor (/255) then * 255, as the reference's predictor does
                    t = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
                    t = t.permute(2, 0, 1)[None].float().div(255) * 255
                    resized = self.transform.apply_image_torch(t)
                    self.predictor.set_torch_image(resized, image.shape[:2])
                else:
                    self.predictor.set_image(np.ascontiguousarray(image), image_format="RGB")
                features = self.predictor.features
            original = tuple(int(v) for v in self.predictor.original_size)
            input_size = tuple(int(v) for v in self.predictor.input_size)
        finally:
            self.predictor.reset_image()
        return SamEmbedding(features, original, input_size)

    def predict(
        self, embedding: SamEmbedding, clicks: Sequence[Click], state: Any | None
    ) -> tuple[np.ndarray, Any]:
        probs, states = self.predict_batch(embedding, [clicks], [state])
        return probs[0], states[0]

    def predict_batch(
        self,
        embedding: SamEmbedding,
        clicks: Sequence[Sequence[Click]],
        states: Sequence[Any | None],
    ) -> tuple[list[np.ndarray], list[Any]]:
        """Decode every trajectory; one decoder call per (number of clicks, mask input or
        not) group, i.e. at most two calls when all trajectories have as many clicks."""
        n = len(clicks)
        if len(states) != n:
            raise ValueError(f"{n} click lists but {len(states)} states")
        probs: list[np.ndarray | None] = [None] * n
        out_states: list[Any] = [None] * n
        groups: dict[tuple[int, bool], list[int]] = {}
        h, w = embedding.original_size
        for i, (cl, st) in enumerate(zip(clicks, states)):
            if len(cl) == 0:  # nothing to prompt with: an empty prediction
                probs[i] = np.zeros((h, w), dtype=np.float32)
                out_states[i] = st
                continue
            groups.setdefault((len(cl), self.uses_mask_input(cl, st)), []).append(i)
        for (_, with_mask), idx in groups.items():
            coords = np.stack([self.points(clicks[i], embedding.original_size) for i in idx])
            labels = np.array([[1 if c.positive else 0 for c in clicks[i]] for i in idx])
            masks = [states[i] for i in idx] if with_mask else None
            p, s = self.decode(embedding, coords, labels, masks)
            for j, i in enumerate(idx):
                probs[i] = p[j]
                out_states[i] = s[j]
        return probs, out_states  # type: ignore[return-value]

    # -- pieces -----------------------------------------------------------------------------

    def uses_mask_input(self, clicks: Sequence[Click], state: Any | None) -> bool:
        """Whether this click feeds the previous low-res logits to the prompt encoder."""
        return self.mask_input_rule([c.positive for c in clicks], state)

    def mask_input_rule(self, labels: Sequence[bool], state: Any | None) -> bool:
        """:meth:`uses_mask_input` from the signs of the clicks (True = positive)."""
        if state is None or self.prev_mask == "never":
            return False
        if self.prev_mask == "always":
            return True
        positives = sum(1 for v in labels if v)
        # the reference drops its prev_mask when its points tensor has 2 entries, i.e. when
        # max(#positive, #negative) <= 1 (click 1, and click 2 when that one is negative)
        return max(positives, len(labels) - positives) > 1

    def points(self, clicks: Sequence[Click], original_size: tuple[int, int]) -> np.ndarray:
        """Clicks (x = column, y = row) in original pixels -> N×2 (x, y) in the resized
        input frame, with ResizeLongestSide.apply_coords (no +0.5: the prompt encoder adds it)."""
        xy = np.array([[c.x, c.y] for c in clicks], dtype=np.float64)
        return self.transform.apply_coords(xy, original_size)

    def decode(
        self,
        embedding: SamEmbedding,
        coords: np.ndarray,
        labels: np.ndarray,
        mask_input: Sequence[torch.Tensor] | None,
    ) -> tuple[np.ndarray, torch.Tensor]:
        """``SamPredictor.predict_torch`` for a batch of B prompts on one image, keeping per
        prompt the mask with the best predicted IoU (multimask) or the single mask.
        ``mask_input``: B low-res logit maps (1×h×w each) or None.
        Returns B×H×W float32 probabilities and the chosen B×1×h×w low-res logits."""
        with torch.inference_mode(), self._autocast():
            pts = torch.as_tensor(coords, dtype=torch.float, device=self.device)
            lab = torch.as_tensor(labels, dtype=torch.int, device=self.device)
            masks = None
            if mask_input is not None:
                masks = torch.stack([torch.as_tensor(m).float() for m in mask_input])
                masks = masks.to(self.device)  # B×1×h×w
            chosen = self.low_res_logits(embedding, pts, lab, masks)
            # upscaling each channel is independent: upscale only the chosen mask
            full = self.sam.postprocess_masks(chosen, embedding.input_size, embedding.original_size)
            probs = torch.sigmoid(full[:, 0].float()).cpu().numpy()
        return probs.astype(np.float32, copy=False), chosen

    def low_res_logits(
        self,
        embedding: SamEmbedding,
        coords: torch.Tensor,
        labels: torch.Tensor,
        masks: torch.Tensor | None,
    ) -> torch.Tensor:
        """Prompt encoder and mask decoder for B prompts (B×N×2 ``coords`` in the resized input
        frame, B×N int ``labels``, B×1×h×w ``masks`` or None): the kept B×1×h×w float32 low-res
        logits. No grad mode of its own: :meth:`decode` runs it in inference mode,
        :meth:`predict_differentiable` with the gradient on."""
        sparse, dense = self.sam.prompt_encoder(points=(coords, labels), boxes=None, masks=masks)
        return self.decode_prompts(embedding, sparse, dense)

    def decode_prompts(
        self, embedding: SamEmbedding, sparse: torch.Tensor, dense: torch.Tensor
    ) -> torch.Tensor:
        """The mask decoder on encoded prompts: per prompt the mask with the best predicted
        IoU (multimask) or the single mask, as B×1×h×w float32 low-res logits."""
        low_res, scores = self.sam.mask_decoder(
            image_embeddings=embedding.features,
            image_pe=self.sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=self.multimask == "reference",
        )
        low_res = low_res.float()
        best = torch.argmax(scores.float(), dim=1)
        chosen = low_res[torch.arange(low_res.shape[0], device=low_res.device), best]
        return chosen[:, None]  # B×1×h×w

    # -- DifferentiablePredictor ------------------------------------------------------------

    def predict_differentiable(
        self,
        embedding: SamEmbedding,
        points: torch.Tensor,
        labels: Sequence[bool],
        state: Any | None,
    ) -> torch.Tensor:
        """H×W logits for the clicks ``points`` (N×2 float ``(x, y)`` in original pixels, all
        clicks of the trajectory in order) with the gradient reaching them: the coordinates go
        to the resized input frame in torch (:meth:`points` does it in numpy) and on to the
        prompt encoder's positional point embedding. The same mask input (:meth:`uses_mask_input`),
        decoder call, mask choice and upscaling as :meth:`predict`, so ``sigmoid`` of the result
        is its map. ``state`` and ``embedding`` are read, never changed."""
        labels = point_labels(points, labels)
        old_h, old_w = embedding.original_size
        new_h, new_w = self.transform.get_preprocess_shape(
            old_h, old_w, self.transform.target_length
        )
        with torch.enable_grad(), self._autocast():
            # ResizeLongestSide.apply_coords in float64, then float32 as decode gets it
            scale = torch.tensor([new_w / old_w, new_h / old_h], dtype=torch.float64)
            xy = points.to(device=self.device, dtype=torch.float64) * scale.to(self.device)
            coords = xy.float()[None]  # 1×N×2
            lab = torch.tensor([[1 if v else 0 for v in labels]], dtype=torch.int)
            masks = None
            if self.mask_input_rule(labels, state):
                masks = torch.as_tensor(state).detach().float().to(self.device)[None]  # 1×1×h×w
            chosen = self.low_res_logits(embedding, coords, lab.to(self.device), masks)
            full = self.sam.postprocess_masks(chosen, embedding.input_size, embedding.original_size)
        return full[0, 0].float()
