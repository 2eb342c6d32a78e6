"""MobileSAM networks. The rclicks model is rclicks_sam's ``SamModel`` unchanged: MobileSAM is
SAM v1 with a TinyViT image encoder, same prompt encoder, decoder and predictor. This module
imports torch and mobile_sam at the top: only the factory imports it."""

from __future__ import annotations

import torch
from mobile_sam import sam_model_registry
from mobile_sam.modeling import MaskDecoder, PromptEncoder, Sam, TinyViT, TwoWayTransformer
from rclicks_sam.model import PIXEL_MEAN, PIXEL_STD, PROMPT_DIM

IMAGE_SIZE = 1024  # mobile_sam's TinyViT reshapes to 64×64 tokens: 1024 px input only


def build_mobile_sam() -> Sam:
    """The official MobileSAM network (mobile_sam's own builder, no checkpoint loaded)."""
    return sam_model_registry["vit_t"](checkpoint=None)


def build_random_mobile_sam(seed: int = 0) -> Sam:
    """A small MobileSAM with random (seeded) weights from mobile_sam's modules: the official
    layout (1024 px, four TinyViT stages, 64×64 output) at a quarter of the width and one block
    per stage. Tests and benchmarks only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return Sam(
            image_encoder=TinyViT(
                img_size=IMAGE_SIZE,
                in_chans=3,
                num_classes=1000,
                embed_dims=[16, 32, 48, 320],  # 320: the width at which TinyViT keeps 64×64,
                depths=[1, 1, 1, 1],
                num_heads=[1, 1, 1, 10],
                window_sizes=[7, 7, 14, 7],
                mlp_ratio=4.0,
                drop_rate=0.0,
                drop_path_rate=0.0,
                use_checkpoint=False,
                mbconv_expand_ratio=4.0,
                local_conv_size=3,
                layer_lr_decay=0.8,
            ),
            prompt_encoder=PromptEncoder(
                embed_dim=PROMPT_DIM,
                image_embedding_size=(IMAGE_SIZE // 16, IMAGE_SIZE // 16),
                input_image_size=(IMAGE_SIZE, IMAGE_SIZE),
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
