"""SimpleClick's plain-ViT interactive segmentation network (``PlainVitModel``), in plain PyTorch.

A re-implementation, written from the architecture description, of the network of
uncbiag/SimpleClick (``isegm/model/is_plainvit_model.py``: ``PlainVitModel`` and ``SimpleFPN``;
``isegm/model/modeling/models_vit.py``: ``VisionTransformer``, ``Block``, ``Attention``, ``Mlp``,
``PatchEmbed``; ``isegm/model/modeling/swin_transformer.py``: ``SwinTransfomerSegHead``;
``isegm/model/is_model.py``: ``ISModel`` input handling). The module tree is laid out so that
``state_dict()`` has exactly the keys, order, shapes and dtypes of the official checkpoints
(``cocolvis_vit_{base,large,huge}.pth``), including the parameters that inference never uses
(``backbone.cls_token``, ``backbone.fc_norm``, the 1000-class ``backbone.head``,
``head.up_conv1`` / ``head.up_conv2``), so ``load_state_dict(ckpt["state_dict"], strict=True)``
works. Only inference (eval mode) is supported; dropout layers exist but are off in eval.

Data flow, for a Bx4xHxW input (RGB in [0, 1] plus the previous probability map as channel 3) and
Bx2Nx3 click points:

1. RGB normalised with the ImageNet mean/std; coord features = [prev mask, positive disks,
   negative disks] (3 channels; radius-5 disks, :func:`rclicks_isegm.maps.disk_maps`).
2. Two patch embeddings (stride = kernel = patch conv), one for the image and one for the coord
   features (``patch_embed_coords``); tokens summed, then ``pos_embed[:, 1:]`` added (row 0 is the
   unused cls slot; no cls token is prepended).
3. Pre-norm transformer blocks (LayerNorm eps 1e-6, multi-head attention with qkv bias, exact-erf
   GELU MLP). Most blocks attend inside non-overlapping windows of ``224 // patch`` tokens' worth
   of grid (the MAE pre-training size, 224 px); every ``group``-th block (1-based) is global, with
   ``group = 6`` for depth 12 and ``depth // 4`` otherwise (ViT-B: blocks 6, 12; ViT-L: every 6th
   of 24; ViT-H: every 8th of 32). No final norm.
4. Tokens -> BxCxhxw feature map -> SimpleFPN neck (strides 4, 8, 16, 32; GroupNorm with one group).
5. Segmentation head (``upsample='x1'``): per scale 1x1 conv + ReLU, all resized to the stride-4
   size (bilinear, ``align_corners=False``), concatenated, 1x1 fusion conv + ReLU, Dropout2d,
   1x1 classifier -> low-res logits (H/4 x W/4), then bilinear upsampling to HxW with
   ``align_corners=True``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .maps import disk_maps

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Side of the windows of the windowed attention blocks, in pixels (the MAE pre-training size).
WINDOW_PIXELS = 224


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


def global_block_period(depth: int) -> int:
    """Every this many blocks (1-based indices ``k * period``) attend globally; the others attend
    inside windows. 6 for ViT-B's 12 blocks, ``depth // 4`` otherwise (ViT-L 6, ViT-H 8)."""
    if depth <= 0 or depth % 4:
        raise ValueError(f"backbone_params.depth must be a positive multiple of 4, got {depth}")
    return 6 if depth == 12 else depth // 4


def window_layout(grid: tuple[int, int], patch: tuple[int, int]) -> tuple[int, int]:
    """The number of windows along (rows, cols) of the token grid: the grid is cut into
    ``grid // (224 // patch)`` equal windows per axis (2x2 windows of 14x14 tokens for a 28x28
    grid with 16-px patches, 2x2 windows of 16x16 tokens for ViT-H's 32x32 grid)."""
    counts = []
    for g, p in zip(grid, patch):
        n = g // (WINDOW_PIXELS // p)
        if n < 1 or g % n:
            raise ValueError(
                f"backbone_params.img_size: a token grid of {g} cannot be cut into "
                f"{WINDOW_PIXELS}-px windows of {p}-px patches"
            )
        counts.append(n)
    return counts[0], counts[1]


class PatchEmbed(nn.Module):
    """Non-overlapping patch embedding: a conv with kernel = stride = patch, then the grid is
    flattened row-major to B x (h*w) x C tokens."""

    def __init__(self, img_size, patch_size, in_chans: int, embed_dim: int):
        super().__init__()
        self.img_size = _pair(img_size)
        self.patch_size = _pair(patch_size)
        self.grid_size = (
            self.img_size[0] // self.patch_size[0],
            self.img_size[1] // self.patch_size[1],
        )
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(
            in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention over the token axis of B x N x C (fused qkv projection)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool):
        super().__init__()
        if dim % num_heads:
            raise ValueError(
                f"backbone_params: embed_dim {dim} not divisible by num_heads {num_heads}"
            )
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        # (B, N, 3, heads, head_dim) -> (3, B, heads, N, head_dim)
        q, k, v = (
            self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        )
        weights = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """Linear -> exact GELU -> Linear."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block. ``norm1``/``norm2`` are created before ``attn``/``mlp``, which
    fixes the checkpoint's key order."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """The MAE-style ViT backbone with SimpleClick's windowed/global block schedule.

    ``cls_token``, ``fc_norm`` and ``head`` belong to the classification model the weights were
    pre-trained as; they are kept for the checkpoint keys and never used by
    :meth:`forward_features`."""

    def __init__(
        self,
        img_size=(224, 224),
        patch_size=(16, 16),
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        pos_drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        norm_layer=None,
        act_layer=None,
        cls_feature_dim=None,
        global_pool: bool = False,
    ):
        super().__init__()
        # Dropout rates and ``global_pool`` only matter for training / classification; they are
        # accepted so that official configs pass through.
        del pos_drop_rate, attn_drop_rate, proj_drop_rate, global_pool
        if norm_layer is not None:
            raise ValueError("backbone_params.norm_layer: only the default LayerNorm(eps=1e-6)")
        if act_layer is not None:
            raise ValueError("backbone_params.act_layer: only the default exact GELU")
        if cls_feature_dim:
            raise ValueError("backbone_params.cls_feature_dim is not supported")
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.blocks = nn.Sequential(
            *[Block(embed_dim, num_heads, mlp_ratio, qkv_bias) for _ in range(depth)]
        )
        self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)

        self.global_period = global_block_period(depth)
        self.num_windows = window_layout(self.patch_embed.grid_size, self.patch_embed.patch_size)

    def is_global(self, index: int) -> bool:
        """Whether block ``index`` (0-based) attends over the whole grid."""
        return (index + 1) % self.global_period == 0

    def _to_windows(self, x: torch.Tensor) -> torch.Tensor:
        """B x N x C (row-major grid) -> (B * windows) x tokens-per-window x C; windows ordered
        row-major, each window's tokens row-major."""
        b, _, c = x.shape
        (gh, gw), (nh, nw) = self.patch_embed.grid_size, self.num_windows
        x = x.view(b, nh, gh // nh, nw, gw // nw, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(b * nh * nw, (gh // nh) * (gw // nw), c)

    def _from_windows(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`_to_windows`."""
        _, _, c = x.shape
        (gh, gw), (nh, nw) = self.patch_embed.grid_size, self.num_windows
        x = x.view(-1, nh, nw, gh // nh, gw // nw, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(-1, gh * gw, c)

    def forward_features(self, image: torch.Tensor, extra_tokens: torch.Tensor) -> torch.Tensor:
        """Image tokens + ``extra_tokens`` (the coord tokens) + positional embedding, through
        all blocks. Returns B x N x C tokens in row-major grid order."""
        x = self.patch_embed(image) + extra_tokens
        x = x + self.pos_embed[:, 1:]
        windowed = False
        for i, block in enumerate(self.blocks):
            if self.is_global(i) and windowed:
                x, windowed = self._from_windows(x), False
            elif not self.is_global(i) and not windowed:
                x, windowed = self._to_windows(x), True
            x = block(x)
        return self._from_windows(x) if windowed else x


class SimpleFPN(nn.Module):
    """Single-scale ViT features -> four scales (strides 4, 8, 16, 32 of the input) with
    transposed / strided convs, GroupNorm(1 group) and GELU."""

    def __init__(self, in_dim: int = 768, out_dims: Sequence[int] = (128, 256, 512, 1024)):
        super().__init__()
        if len(out_dims) != 4:
            raise ValueError(f"neck_params.out_dims must have 4 entries, got {list(out_dims)}")
        c4 = max(out_dims[0] * 2, in_dim // 2)
        self.down_4 = nn.Sequential(
            nn.ConvTranspose2d(in_dim, c4, 2, stride=2),
            nn.GroupNorm(1, c4),
            nn.GELU(),
            nn.ConvTranspose2d(c4, c4 // 2, 2, stride=2),
            nn.GroupNorm(1, c4 // 2),
            nn.Conv2d(c4 // 2, out_dims[0], 1),
            nn.GroupNorm(1, out_dims[0]),
            nn.GELU(),
        )
        c8 = max(out_dims[1], in_dim // 2)
        self.down_8 = nn.Sequential(
            nn.ConvTranspose2d(in_dim, c8, 2, stride=2),
            nn.GroupNorm(1, c8),
            nn.Conv2d(c8, out_dims[1], 1),
            nn.GroupNorm(1, out_dims[1]),
            nn.GELU(),
        )
        self.down_16 = nn.Sequential(
            nn.Conv2d(in_dim, out_dims[2], 1),
            nn.GroupNorm(1, out_dims[2]),
            nn.GELU(),
        )
        c32 = max(out_dims[3], in_dim * 2)
        self.down_32 = nn.Sequential(
            nn.Conv2d(in_dim, c32, 2, stride=2),
            nn.GroupNorm(1, c32),
            nn.Conv2d(c32, out_dims[3], 1),
            nn.GroupNorm(1, out_dims[3]),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.down_4(x), self.down_8(x), self.down_16(x), self.down_32(x)]


class ConvAct(nn.Module):
    """1x1 conv (with bias) + ReLU; the ``.conv`` attribute gives mmcv ``ConvModule``'s keys."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


def _up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2),
        nn.GroupNorm(1, out_channels),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.GroupNorm(1, out_channels),
        nn.GELU(),
    )


class SegHead(nn.Module):
    """SimpleClick's ``SwinTransfomerSegHead`` with ``upsample='x1'`` (the only mode supported).

    ``up_conv1``/``up_conv2`` (used by the 'x2'/'x4' modes) are kept for the checkpoint keys."""

    _IGNORED = ("loss_decode", "ignore_index", "sampler", "init_cfg", "conv_cfg")

    def __init__(
        self,
        in_channels: Sequence[int] = (128, 256, 512, 1024),
        channels: int = 256,
        *,
        num_classes: int = 1,
        in_index: Sequence[int] = (0, 1, 2, 3),
        dropout_ratio: float = 0.1,
        align_corners: bool = False,
        upsample: str = "x1",
        interpolate_mode: str = "bilinear",
        norm_cfg=None,
        act_cfg=None,
        input_transform: str = "multiple_select",
        **ignored,
    ):
        super().__init__()
        unknown = sorted(set(ignored) - set(self._IGNORED))
        if unknown:
            raise ValueError(f"head_params: unsupported option(s) {', '.join(unknown)}")
        if upsample != "x1":
            raise ValueError(f"head_params.upsample={upsample!r} is not supported (only 'x1')")
        if interpolate_mode != "bilinear":
            raise ValueError(f"head_params.interpolate_mode={interpolate_mode!r} is not supported")
        if norm_cfg is not None:
            raise ValueError("head_params.norm_cfg is not supported (only None)")
        if act_cfg is not None and dict(act_cfg) != {"type": "ReLU"}:
            raise ValueError(f"head_params.act_cfg={act_cfg!r} is not supported (only ReLU)")
        if input_transform != "multiple_select":
            raise ValueError(f"head_params.input_transform={input_transform!r} is not supported")
        if len(in_channels) != len(in_index):
            raise ValueError("head_params: in_channels and in_index must have the same length")
        self.in_index = [int(i) for i in in_index]
        self.align_corners = bool(align_corners)
        # Created first, as in mmseg's BaseDecodeHead: ``head.conv_seg`` leads the head's keys.
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else nn.Identity()
        self.convs = nn.ModuleList(ConvAct(c, channels) for c in in_channels)
        self.fusion_conv = ConvAct(channels * len(in_channels), channels)
        self.up_conv1 = _up_block(channels, channels // 2)
        self.up_conv2 = _up_block(channels // 2, channels // 4)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        inputs = [features[i] for i in self.in_index]
        size = inputs[0].shape[2:]
        maps = [
            F.interpolate(conv(x), size=size, mode="bilinear", align_corners=self.align_corners)
            for conv, x in zip(self.convs, inputs)
        ]
        x = self.fusion_conv(torch.cat(maps, dim=1))
        return self.conv_seg(self.dropout(x))


class PlainVitModel(nn.Module):
    """SimpleClick ``PlainVitModel`` (inference). Constructor keywords follow the official configs
    (see :data:`CONFIGS`); training-only entries (e.g. ``head_params['loss_decode']``) are
    accepted and ignored, and options whose computation is not implemented raise ``ValueError``.

    ``forward(image, points)`` returns ``{"instances": B x 1 x H x W logits,
    "instances_lowres": B x 1 x H/4 x W/4 logits}``.
    """

    def __init__(
        self,
        backbone_params: dict | None = None,
        neck_params: dict | None = None,
        head_params: dict | None = None,
        random_split: bool = False,
        *,
        use_disks: bool = True,
        norm_radius: float = 5,
        with_prev_mask: bool = True,
        norm_mean_std=(IMAGENET_MEAN, IMAGENET_STD),
        with_aux_output: bool = False,
        cpu_dist_maps: bool = False,
        use_rgb_conv: bool = False,
        use_leaky_relu: bool = False,
        binary_prev_mask: bool = False,
    ):
        super().__init__()
        # ``cpu_dist_maps`` only picks an implementation of the same maps; ``use_leaky_relu``
        # only matters with ``use_rgb_conv`` (RITM).
        del cpu_dist_maps, use_leaky_relu
        for name, value, supported in (
            ("random_split", random_split, False),
            ("use_disks", use_disks, True),
            ("with_prev_mask", with_prev_mask, True),
            ("with_aux_output", with_aux_output, False),
            ("use_rgb_conv", use_rgb_conv, False),
            ("binary_prev_mask", binary_prev_mask, False),
        ):
            if bool(value) != supported:
                raise ValueError(f"{name}={value!r} is not supported (only {supported})")
        if backbone_params is None or neck_params is None or head_params is None:
            raise ValueError("backbone_params, neck_params and head_params are required")
        self.norm_radius = float(norm_radius)
        # Plain tuples, not buffers: the checkpoint has no such entries, and a model built on the
        # meta device can take a checkpoint with ``load_state_dict(..., assign=True)``.
        mean, std = norm_mean_std
        self.norm_mean = tuple(float(v) for v in mean)
        self.norm_std = tuple(float(v) for v in std)

        self.patch_embed_coords = PatchEmbed(
            backbone_params["img_size"],
            backbone_params["patch_size"],
            in_chans=3,
            embed_dim=backbone_params["embed_dim"],
        )
        self.backbone = VisionTransformer(**backbone_params)
        self.neck = SimpleFPN(**neck_params)
        self.head = SegHead(**head_params)

    def normalize(self, rgb: torch.Tensor) -> torch.Tensor:
        """``(rgb - mean) / std`` per channel, with float32 mean/std (as the reference)."""
        mean = torch.tensor(self.norm_mean, dtype=torch.float32, device=rgb.device)
        std = torch.tensor(self.norm_std, dtype=torch.float32, device=rgb.device)
        return (rgb - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)

    def set_input_size(self, size: tuple[int, int]) -> None:
        """Run at another input size, as the reference evaluation does for DAVIS (672 x 672;
        ``pos_embed.py: interpolate_pos_embed_inference``): the positional embedding of the
        trained grid (row 0, the unused class slot, kept) resized bicubically
        (``align_corners=False``) to the new token grid, whose windows follow the usual rule
        (224-px windows: 3 x 3 of them at 672). Always from the trained embedding, so sizes
        can change back and forth."""
        bb = self.backbone
        pe = bb.patch_embed
        if not hasattr(self, "_trained"):
            self._trained = (pe.img_size, pe.grid_size, bb.pos_embed.detach().clone())
        img0, grid0, pos0 = self._trained
        size = (int(size[0]), int(size[1]))
        grid = (size[0] // pe.patch_size[0], size[1] // pe.patch_size[1])
        if grid[0] * pe.patch_size[0] != size[0] or grid[1] * pe.patch_size[1] != size[1]:
            raise ValueError(f"input size {size} is not a multiple of the patch {pe.patch_size}")
        windows = window_layout(grid, pe.patch_size)
        if grid == grid0:
            pos = pos0
        else:
            c = pos0.shape[-1]
            tokens = pos0[:, 1:].reshape(1, grid0[0], grid0[1], c).permute(0, 3, 1, 2)
            tokens = F.interpolate(tokens, size=grid, mode="bicubic", align_corners=False)
            pos = torch.cat([pos0[:, :1], tokens.permute(0, 2, 3, 1).flatten(1, 2)], dim=1)
        bb.pos_embed = nn.Parameter(pos.to(bb.pos_embed.device), requires_grad=False)
        pe.img_size, pe.grid_size = size, grid
        pe.num_patches = grid[0] * grid[1]
        bb.num_windows = windows

    def forward(self, image: torch.Tensor, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """``image``: B x 4 x H x W float32 (RGB in [0, 1], previous probability map);
        ``points``: B x 2N x 3 ``(y, x, click_index)``, N positives then N negatives, padded
        with -1."""
        height, width = image.shape[2:]
        disks = disk_maps(points, height, width, radius=self.norm_radius)
        coord_features = torch.cat([image[:, 3:4], disks.to(image.dtype)], dim=1)
        return self.forward_maps(image, coord_features)

    def forward_maps(
        self, image: torch.Tensor, coord_features: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The network on already built coord features (B x 3 x H x W: prev mask, positive and
        negative click maps), so any (e.g. differentiable) click encoding can be used. ``image``
        is B x 4 x H x W (channel 3 is ignored here) or B x 3 x H x W."""
        height, width = image.shape[2:]
        if (height, width) != self.backbone.patch_embed.img_size:
            raise ValueError(
                f"input size {(height, width)} != the model's img_size "
                f"{self.backbone.patch_embed.img_size}"
            )
        rgb = self.normalize(image[:, :3])
        tokens = self.backbone.forward_features(rgb, self.patch_embed_coords(coord_features))
        b, n, c = tokens.shape
        gh, gw = self.backbone.patch_embed.grid_size
        features = tokens.transpose(1, 2).reshape(b, c, gh, gw)
        lowres = self.head(self.neck(features))
        instances = F.interpolate(lowres, size=(height, width), mode="bilinear", align_corners=True)
        return {"instances": instances, "instances_lowres": lowres}


def _config(patch: int, embed_dim: int, depth: int, num_heads: int, out_dims: list[int]) -> dict:
    return dict(
        use_disks=True,
        norm_radius=5,
        with_prev_mask=True,
        random_split=False,
        backbone_params=dict(
            img_size=(448, 448),
            patch_size=(patch, patch),
            in_chans=3,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=4,
            qkv_bias=True,
        ),
        neck_params=dict(in_dim=embed_dim, out_dims=list(out_dims)),
        head_params=dict(
            in_channels=list(out_dims),
            in_index=[0, 1, 2, 3],
            dropout_ratio=0.1,
            num_classes=1,
            align_corners=False,
            upsample="x1",
            channels=256,
        ),
    )


#: Constructor keywords of the official SimpleClick 448 C+L models
#: (``models/iter_mask/plainvit_{base,large,huge}448_cocolvis_itermask.py``, without the loss).
CONFIGS: dict[str, dict] = {
    "simpleclick_vit_base": _config(16, 768, 12, 12, [128, 256, 512, 1024]),
    "simpleclick_vit_large": _config(16, 1024, 24, 16, [192, 384, 768, 1536]),
    "simpleclick_vit_huge": _config(14, 1280, 32, 16, [240, 480, 960, 1920]),
}


def build_plainvit(name: str) -> PlainVitModel:
    """A fresh :class:`PlainVitModel` for one of :data:`CONFIGS` (e.g. ``"simpleclick_vit_base"``),
    in eval mode, with torch's default initialisation (load a checkpoint into it)."""
    if name not in CONFIGS:
        raise ValueError(f"unknown SimpleClick config {name!r}; known: {', '.join(CONFIGS)}")
    return PlainVitModel(**copy.deepcopy(CONFIGS[name])).eval()


__all__ = [
    "CONFIGS",
    "PlainVitModel",
    "build_plainvit",
    "global_block_period",
    "window_layout",
]
