"""HQ-SAM behind the :class:`rclicks.ISModel` protocol, as a subclass of rclicks_sam's model.

Everything but the encoder output and the decoder call is rclicks_sam's: clicks to prompt
coordinates, the mask-input (prev_mask) rule, batching by (#clicks, mask input), precision,
resize, upscaling only the kept mask, and ``predict_differentiable`` (the TETRIS gradient).
This module imports torch and segment_anything_hq at the top: only the factory imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from rclicks_sam.errors import SamOptionError
from rclicks_sam.model import PATCH, PIXEL_MEAN, PIXEL_STD, PROMPT_DIM, SamEmbedding, SamModel
from segment_anything_hq import SamPredictor as HQSamPredictor
from segment_anything_hq import sam_model_registry
from segment_anything_hq.modeling import (
    ImageEncoderViT,
    MaskDecoderHQ,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

from rclicks_hqsam.checkpoints import HQVariant


@dataclass(frozen=True)
class HQSamEmbedding(SamEmbedding):
    """SAM's embedding plus the early encoder feature HQ-SAM's decoder fuses."""

    interm: torch.Tensor  # 1×64×64×C: output of the first global-attention block (ViT) or
    # of TinyViT's second stage; the decoder reads only this one of the encoder's list


def build_hq_sam(variant: HQVariant) -> Sam:
    """The official HQ-SAM network of ``variant`` (segment_anything_hq's own builder, no
    checkpoint loaded: the factory loads and checks it)."""
    return sam_model_registry[variant.name](checkpoint=None)


def build_random_hq_sam(
    image_size: int = 256, depth: int = 2, embed_dim: int = 64, seed: int = 0
) -> Sam:
    """A tiny HQ-SAM with random (seeded) weights from segment_anything_hq's modules, laid out as
    its ``_build_sam``: ``depth`` ViT blocks of width ``embed_dim`` (the last one global, so
    it supplies the interm embedding) on ``image_size`` pixels. Tests and benchmarks only."""
    image_size, depth, embed_dim = int(image_size), int(depth), int(embed_dim)
    if image_size < 2 * PATCH or image_size % PATCH:
        raise SamOptionError(f"image_size must be a multiple of {PATCH} >= 32, got {image_size}")
    if depth < 1:
        raise SamOptionError(f"encoder_depth must be >= 1, got {depth}")
    if embed_dim < 16 or embed_dim % 16:
        raise SamOptionError(f"encoder_embed_dim must be a multiple of 16, got {embed_dim}")
    grid = image_size // PATCH
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        sam = Sam(
            image_encoder=ImageEncoderViT(
                depth=depth,
                embed_dim=embed_dim,
                img_size=image_size,
                mlp_ratio=4,
                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                num_heads=max(1, embed_dim // 32),
                patch_size=PATCH,
                qkv_bias=True,
                use_rel_pos=True,
                global_attn_indexes=(depth - 1,),
                window_size=14,
                out_chans=PROMPT_DIM,
            ),
            prompt_encoder=PromptEncoder(
                embed_dim=PROMPT_DIM,
                image_embedding_size=(grid, grid),
                input_image_size=(image_size, image_size),
                mask_in_chans=16,
            ),
            mask_decoder=MaskDecoderHQ(
                num_multimask_outputs=3,
                transformer=TwoWayTransformer(
                    depth=2, embedding_dim=PROMPT_DIM, mlp_dim=2048, num_heads=8
                ),
                transformer_dim=PROMPT_DIM,
                iou_head_depth=3,
                iou_head_hidden_dim=256,
                vit_dim=embed_dim,
            ),
            pixel_mean=PIXEL_MEAN,
            pixel_std=PIXEL_STD,
        )
    return sam


class HQSamModel(SamModel):
    """HQ-SAM as an rclicks model: one encoding (image + interm embeddings) per image, every
    trajectory decoded in a batch.

    ``multimask="reference"``: HQ-SAM's decoder asked for the multimask output keeps, inside
    the decoder, the SAM mask with the highest predicted IoU and adds the HQ mask to it (one
    mask out); that is what the RClicks reference's ``predict_torch(multimask_output=True)``
    gets. ``hq_token_only``: the HQ mask alone instead of SAM mask + HQ mask (the package's
    predictor default and the reference: False). The state of a trajectory is the low-res
    logits of that output, fed back by rclicks_sam's ``prev_mask`` rule.
    """

    def __init__(self, sam: Sam, *args, hq_token_only: bool = False, **kwargs) -> None:
        super().__init__(sam, *args, **kwargs)
        # segment_anything_hq's predictor: its encoder call also keeps the interm embeddings
        self.predictor = HQSamPredictor(self.sam)
        self.transform = self.predictor.transform
        self.hq_token_only = bool(hq_token_only)

    def __repr__(self) -> str:
        return super().__repr__().replace("SamModel(", "HQSamModel(", 1)[:-1] + (
            f", hq_token_only={self.hq_token_only})"
        )

    def encode(self, image: np.ndarray) -> HQSamEmbedding:
        """rclicks_sam's encode (either resize) through segment_anything_hq's predictor, keeping
        the interm embedding its decoder needs (its ``reset_image`` leaves it in place)."""
        self.predictor.interm_features = None
        try:
            emb = super().encode(image)
            interm = self.predictor.interm_features
            if not interm:
                raise RuntimeError("segment_anything_hq's encoder gave no interm embeddings")
        finally:
            self.predictor.interm_features = None
        return HQSamEmbedding(emb.features, emb.original_size, emb.input_size, interm[0])

    def decode_prompts(
        self, embedding: HQSamEmbedding, sparse: torch.Tensor, dense: torch.Tensor
    ) -> torch.Tensor:
        """The decoder call of ``segment_anything_hq.SamPredictor.predict_torch`` on encoded
        prompts: B×1×h×w float32 low-res logits (the state). rclicks_sam's ``decode`` (in
        inference mode) and ``predict_differentiable`` (gradient on) both come through here."""
        low_res, _ = self.sam.mask_decoder(
            image_embeddings=embedding.features,
            image_pe=self.sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=self.multimask == "reference",
            hq_token_only=self.hq_token_only,
            interm_embeddings=[embedding.interm],
        )
        return low_res.float()  # B×1×h×w: HQ-SAM always returns one mask per prompt
