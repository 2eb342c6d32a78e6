"""Plain-PyTorch clickability network (RClicks ``SegNeXtSaliency``, arch ``'b'``).

This module re-implements, with ``torch.nn`` only (no mmcv / mmseg), the network whose
``state_dict`` is stored in the official RClicks ``clickability_model.pth``. The weights load
with ``load_state_dict(strict=True)``.

Structure
---------
``ClickabilityNet.forward(image, coord_features)``:

1. ``maps_transform`` (coord features, 2 channels: gt mask, error mask) ->
   Conv1x1 2->16 + ReLU, Conv3x3/s2 16->16 + ReLU, Conv3x3/s2 16->64, ScaleLayer (``x * |s|``).
   Output: 64 x H/4 x W/4.
2. ``encoder_decoder.backbone``: MSCAN-B (embed dims 64/128/320/512, depths 3/3/12/3,
   MLP ratios 8/8/4/4). Stage 1 uses a stem (Conv3x3/s2 3->32, BN, GELU, Conv3x3/s2 32->64, BN)
   whose output gets the ``maps_transform`` output added before the blocks. Stages 2-4 use a
   Conv3x3/s2 patch embedding + BN. Each block is
   ``x += ls1 * Attn(BN1(x)); x += ls2 * MLP(BN2(x))`` where ``Attn(y) = proj_2(MSCA(GELU(
   proj_1(y)))) + y`` and MSCA is the multi-scale strip-convolution attention
   (dw5x5, then dw 1x7/7x1, 1x11/11x1, 1x21/21x1 branches, summed, 1x1 conv3, times the input).
   Each stage ends with a LayerNorm over channels. Outputs at strides 4, 8, 16, 32. In train
   mode the two residual branches of each block use stochastic depth (rates 0..0.1).
3. ``encoder_decoder.decode_head[0]``: LightHamHead using all four stages: resize to stride 4
   (bilinear, align_corners=False), concat (1024 ch), ``squeeze`` (1x1 conv, GN32, ReLU),
   ``hamburger`` (``ham_in`` 1x1 conv with bias, ReLU, NMF2D with 7 eval steps and inv_t=1,
   ``ham_out`` 1x1 conv + GN32, ``relu(x + ham_out)``), ``align`` (1x1 conv, GN32, ReLU),
   ``conv_seg`` (1x1 512->1), preceded by Dropout2d(0.1) in train mode.
4. The low-resolution logits (stride 4) are upsampled bilinearly (align_corners=True) to the
   input size and min-max normalised per sample with eps 1e-9.

Weight-key layout (862 ``state_dict`` entries, in this order)
-------------------------------------------------------------
- ``encoder_decoder.backbone.patch_embed1.proj.{0,1,3,4}.*`` (stem conv/BN/-/conv/BN),
  then ``block1.{0..2}.*``, ``norm1.*``, then ``patch_embed{i}.{proj,norm}.*``,
  ``block{i}.{j}.*``, ``norm{i}.*`` for stages 2..4. A block holds ``layer_scale_1``,
  ``layer_scale_2``, ``norm1.*`` (BN), ``attn.proj_1.*``,
  ``attn.spatial_gating_unit.{conv0,conv0_1,conv0_2,conv1_1,conv1_2,conv2_1,conv2_2,conv3}.*``,
  ``attn.proj_2.*``, ``norm2.*`` (BN), ``mlp.{fc1,dwconv,fc2}.*``.
- ``encoder_decoder.decode_head.0.conv_seg.*``, ``squeeze.{conv,gn}.*``,
  ``hamburger.ham_in.conv.*``, ``hamburger.ham.bases`` (persistent buffer (1, 512, 16)),
  ``hamburger.ham_out.{conv,gn}.*``, ``align.{conv,gn}.*``.
- ``maps_transform.{0,2,4}.*`` (convs) and ``maps_transform.5.scale``.

BatchNorm layers carry ``running_mean``, ``running_var`` and ``num_batches_tracked`` buffers.
The network must be put in ``.eval()`` mode for inference (BN running statistics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ClickabilityNet", "MSCAN", "LightHamHead", "NMF2D", "DEFAULT_NET_OPTIONS"]

EMBED_DIMS = (64, 128, 320, 512)
DEPTHS = (3, 3, 12, 3)
MLP_RATIOS = (8, 8, 4, 4)
HEAD_CHANNELS = 512
GN_GROUPS = 32
HAM_RANK = 16
COORD_HIDDEN = 16  # width of the first two maps_transform convs
# Train-mode regularisation of the reference (mmseg MSCAN ``drop_path_rate=0.1``, linearly
# increasing over the blocks; LightHamHead ``dropout_ratio=0.1``). Identity in eval mode.
DROP_PATH_RATE = 0.1
DROPOUT_RATIO = 0.1

# ``ClickabilityNet(**options)`` keyword arguments and their defaults (the official network).
DEFAULT_NET_OPTIONS: dict = {
    "embed_dims": list(EMBED_DIMS),
    "depths": list(DEPTHS),
    "mlp_ratios": list(MLP_RATIOS),
    "head_channels": HEAD_CHANNELS,
    "gn_groups": GN_GROUPS,
    "ham_rank": HAM_RANK,
    "coord_hidden": COORD_HIDDEN,
    "drop_path_rate": DROP_PATH_RATE,
    "dropout_ratio": DROPOUT_RATIO,
}


class ScaleLayer(nn.Module):
    """Multiply by ``|scale|`` (a single learnable value)."""

    def __init__(self, init_value: float = 0.05) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.abs(self.scale)


class StemConv(nn.Module):
    """Stage-1 patch embedding: two stride-2 3x3 convs with BN (GELU between)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, out_channels // 2, 3, stride=2, padding=1),
            nn.BatchNorm2d(out_channels // 2),
            nn.GELU(),
            nn.Conv2d(out_channels // 2, out_channels, 3, stride=2, padding=1),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class OverlapPatchEmbed(nn.Module):
    """Stages 2-4 patch embedding: 3x3 stride-2 conv then BN."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


class MSCA(nn.Module):
    """Multi-scale convolutional attention (the ``spatial_gating_unit``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        c = channels
        self.conv0 = nn.Conv2d(c, c, 5, padding=2, groups=c)
        self.conv0_1 = nn.Conv2d(c, c, (1, 7), padding=(0, 3), groups=c)
        self.conv0_2 = nn.Conv2d(c, c, (7, 1), padding=(3, 0), groups=c)
        self.conv1_1 = nn.Conv2d(c, c, (1, 11), padding=(0, 5), groups=c)
        self.conv1_2 = nn.Conv2d(c, c, (11, 1), padding=(5, 0), groups=c)
        self.conv2_1 = nn.Conv2d(c, c, (1, 21), padding=(0, 10), groups=c)
        self.conv2_2 = nn.Conv2d(c, c, (21, 1), padding=(10, 0), groups=c)
        self.conv3 = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv0(x)
        b0 = self.conv0_2(self.conv0_1(a))
        b1 = self.conv1_2(self.conv1_1(a))
        b2 = self.conv2_2(self.conv2_1(a))
        attn = self.conv3(a + b0 + b1 + b2)
        return attn * x


class SpatialAttention(nn.Module):
    """``proj_1`` -> GELU -> MSCA -> ``proj_2``, plus the input (inner residual)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj_1 = nn.Conv2d(channels, channels, 1)
        self.activation = nn.GELU()
        self.spatial_gating_unit = MSCA(channels)
        self.proj_2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.activation(self.proj_1(x))
        y = self.proj_2(self.spatial_gating_unit(y))
        return y + x


class Mlp(nn.Module):
    """1x1 ``fc1`` -> depthwise 3x3 ``dwconv`` -> GELU -> 1x1 ``fc2``."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x))))


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth (per sample): zero the branch with probability ``p``, scale by
    ``1 / (1 - p)`` otherwise; identity when not training or ``p == 0``."""
    if p <= 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = torch.floor(
        keep + torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
    )
    return x / keep * mask


class MSCABlock(nn.Module):
    """MSCAN block with per-channel layer scales; drop-path (stochastic depth) in train mode."""

    def __init__(
        self,
        channels: int,
        mlp_ratio: int,
        layer_scale_init: float = 0.01,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.drop_path = float(drop_path)
        self.layer_scale_1 = nn.Parameter(torch.full((channels,), layer_scale_init))
        self.layer_scale_2 = nn.Parameter(torch.full((channels,), layer_scale_init))
        self.norm1 = nn.BatchNorm2d(channels)
        self.attn = SpatialAttention(channels)
        self.norm2 = nn.BatchNorm2d(channels)
        self.mlp = Mlp(channels, channels * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, train = self.drop_path, self.training
        x = x + drop_path(self.layer_scale_1[:, None, None] * self.attn(self.norm1(x)), p, train)
        x = x + drop_path(self.layer_scale_2[:, None, None] * self.mlp(self.norm2(x)), p, train)
        return x


class MSCAN(nn.Module):
    """MSCAN backbone (MSCAN-B by default); ``forward(image, coord)`` adds ``coord`` after the
    stem."""

    def __init__(
        self,
        embed_dims=EMBED_DIMS,
        depths=DEPTHS,
        mlp_ratios=MLP_RATIOS,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_stages = len(embed_dims)
        rates = torch.linspace(0, float(drop_path_rate), int(sum(depths))).tolist()
        in_ch, cur = 3, 0
        for i, (dim, depth, ratio) in enumerate(
            zip(embed_dims, depths, mlp_ratios, strict=True), start=1
        ):
            embed = StemConv(in_ch, dim) if i == 1 else OverlapPatchEmbed(in_ch, dim)
            setattr(self, f"patch_embed{i}", embed)
            blocks = [MSCABlock(dim, ratio, drop_path=rates[cur + j]) for j in range(depth)]
            setattr(self, f"block{i}", nn.ModuleList(blocks))
            setattr(self, f"norm{i}", nn.LayerNorm(dim))
            in_ch, cur = dim, cur + depth

    def forward(self, image: torch.Tensor, coord: torch.Tensor | None) -> list[torch.Tensor]:
        outs = []
        x = image
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"patch_embed{i}")(x)
            if i == 1 and coord is not None:
                x = x + coord
            for blk in getattr(self, f"block{i}"):
                x = blk(x)
            # LayerNorm over the channel axis (channels-last and back).
            x = getattr(self, f"norm{i}")(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()
            outs.append(x)
        return outs


class ConvGN(nn.Module):
    """1x1 conv without bias, GroupNorm(32), optional ReLU (mmcv ``ConvModule`` layout)."""

    def __init__(self, in_ch: int, out_ch: int, relu: bool = True, groups: int = 32) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.gn = nn.GroupNorm(groups, out_ch)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gn(self.conv(x))
        return F.relu(x) if self.relu else x


class ConvOnly(nn.Module):
    """1x1 conv with bias, no norm, no activation (kept under ``.conv`` for the key layout)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class NMF2D(nn.Module):
    """Non-negative matrix factorisation "ham" (S=1, R=16, fixed ``bases`` buffer).

    The multiplicative updates run ``eval_steps`` (7) times in eval mode and ``train_steps`` (6)
    in train mode, then one more coefficient update; ``inv_t`` is 1. The bases updated during a
    call are local to it; the buffer is never written.
    """

    def __init__(
        self,
        channels: int = 512,
        md_s: int = 1,
        md_r: int = 16,
        train_steps: int = 6,
        eval_steps: int = 7,
        inv_t: float = 1.0,
    ) -> None:
        super().__init__()
        self.S = md_s
        self.R = md_r
        self.train_steps = train_steps
        self.eval_steps = eval_steps
        self.inv_t = inv_t
        bases = F.normalize(torch.rand(md_s, channels // md_s, md_r), dim=1)
        self.register_buffer("bases", bases)

    @staticmethod
    def _coef_step(x: torch.Tensor, bases: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        numerator = torch.bmm(x.transpose(1, 2), bases)
        denominator = coef.bmm(bases.transpose(1, 2).bmm(bases))
        return coef * numerator / (denominator + 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        d = c // self.S
        x = x.reshape(b * self.S, d, h * w)
        bases = self.bases.repeat(b, 1, 1)
        coef = F.softmax(self.inv_t * torch.bmm(x.transpose(1, 2), bases), dim=-1)
        steps = self.train_steps if self.training else self.eval_steps
        for _ in range(steps):
            coef = self._coef_step(x, bases, coef)
            numerator = torch.bmm(x, coef)
            denominator = bases.bmm(coef.transpose(1, 2).bmm(coef))
            bases = bases * numerator / (denominator + 1e-6)
        coef = self._coef_step(x, bases, coef)
        out = torch.bmm(bases, coef.transpose(1, 2))
        return out.reshape(b, c, h, w)


class Hamburger(nn.Module):
    """``relu(x + ham_out(NMF(relu(ham_in(x)))))``."""

    def __init__(self, channels: int = 512, groups: int = GN_GROUPS, rank: int = HAM_RANK) -> None:
        super().__init__()
        self.ham_in = ConvOnly(channels, channels)
        self.ham = NMF2D(channels, md_r=rank)
        self.ham_out = ConvGN(channels, channels, relu=False, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enjoy = F.relu(self.ham_in(x))
        enjoy = self.ham_out(self.ham(enjoy))
        return F.relu(x + enjoy)


class LightHamHead(nn.Module):
    """Decode head over all four backbone stages; returns 1-channel logits at stride 4."""

    def __init__(
        self,
        in_channels=EMBED_DIMS,
        channels: int = HEAD_CHANNELS,
        num_classes: int = 1,
        groups: int = GN_GROUPS,
        rank: int = HAM_RANK,
        dropout_ratio: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        self.squeeze = ConvGN(sum(in_channels), channels, groups=groups)
        self.hamburger = Hamburger(channels, groups=groups, rank=rank)
        self.align = ConvGN(channels, channels, groups=groups)
        # no parameters: the state_dict layout is unchanged
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else nn.Identity()

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[2:]
        xs = [f if f.shape[2:] == size else F.interpolate(f, size, mode="bilinear") for f in feats]
        x = self.squeeze(torch.cat(xs, dim=1))
        x = self.align(self.hamburger(x))
        return self.conv_seg(self.dropout(x))


class EncoderDecoder(nn.Module):
    def __init__(self, backbone: MSCAN | None = None, head: LightHamHead | None = None) -> None:
        super().__init__()
        self.backbone = backbone if backbone is not None else MSCAN()
        self.decode_head = nn.ModuleList([head if head is not None else LightHamHead()])

    def forward(self, image: torch.Tensor, coord: torch.Tensor) -> torch.Tensor:
        return self.decode_head[0](self.backbone(image, coord))


class ClickabilityNet(nn.Module):
    """RClicks clickability network (SegNeXt-B with coord features and a LightHam head).

    ``forward(image, coord_features)``: ``image`` is a normalised B x 3 x H x W tensor,
    ``coord_features`` B x 2 x H x W (gt mask, error mask). Returns B x 1 x H x W in [0, 1],
    min-max normalised per sample, in train mode too (as the reference ``SegNeXtSaliency``).
    Call ``.eval()`` before inference.

    Every keyword argument defaults to the official architecture (whose ``state_dict`` is the
    RClicks ``clickability_model.pth``); smaller values build a reduced-width network for tests
    and quick experiments. ``drop_path_rate`` and ``dropout_ratio`` only act in train mode and
    have no weights. :attr:`options` holds the arguments as a JSON-able dict.
    """

    EPS = 1e-9

    def __init__(
        self,
        *,
        embed_dims=EMBED_DIMS,
        depths=DEPTHS,
        mlp_ratios=MLP_RATIOS,
        head_channels: int = HEAD_CHANNELS,
        gn_groups: int = GN_GROUPS,
        ham_rank: int = HAM_RANK,
        coord_hidden: int = COORD_HIDDEN,
        drop_path_rate: float = DROP_PATH_RATE,
        dropout_ratio: float = DROPOUT_RATIO,
    ) -> None:
        super().__init__()
        embed_dims = [int(v) for v in embed_dims]
        depths = [int(v) for v in depths]
        mlp_ratios = [int(v) for v in mlp_ratios]
        if not (len(embed_dims) == len(depths) == len(mlp_ratios)) or not embed_dims:
            raise ValueError(
                "ClickabilityNet: embed_dims, depths and mlp_ratios must have the same length; "
                f"got {embed_dims}, {depths}, {mlp_ratios}"
            )
        if embed_dims[0] % 2 or min(embed_dims) < 2:
            raise ValueError(f"ClickabilityNet: embed_dims[0] must be even, got {embed_dims}")
        if int(head_channels) % int(gn_groups):
            raise ValueError(
                f"ClickabilityNet: head_channels ({head_channels}) must be a multiple of "
                f"gn_groups ({gn_groups})"
            )
        self.options = {
            "embed_dims": embed_dims,
            "depths": depths,
            "mlp_ratios": mlp_ratios,
            "head_channels": int(head_channels),
            "gn_groups": int(gn_groups),
            "ham_rank": int(ham_rank),
            "coord_hidden": int(coord_hidden),
            "drop_path_rate": float(drop_path_rate),
            "dropout_ratio": float(dropout_ratio),
        }
        backbone = MSCAN(embed_dims, depths, mlp_ratios, drop_path_rate=float(drop_path_rate))
        head = LightHamHead(
            embed_dims,
            int(head_channels),
            groups=int(gn_groups),
            rank=int(ham_rank),
            dropout_ratio=float(dropout_ratio),
        )
        self.encoder_decoder = EncoderDecoder(backbone, head)
        self.maps_transform = nn.Sequential(
            nn.Conv2d(2, int(coord_hidden), 1),
            nn.ReLU(),
            nn.Conv2d(int(coord_hidden), int(coord_hidden), 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(int(coord_hidden), embed_dims[0], 3, stride=2, padding=1),
            ScaleLayer(0.05),
        )

    def forward_logits(self, image: torch.Tensor, coord_features: torch.Tensor) -> torch.Tensor:
        """Low-resolution logits (B x 1 x H/4 x W/4), before upsampling and min-max."""
        coord = self.maps_transform(coord_features)
        return self.encoder_decoder(image, coord)

    def forward_with_logits(
        self, image: torch.Tensor, coord_features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(output, logits_lowres)``."""
        logits = self.forward_logits(image, coord_features)
        up = F.interpolate(logits, image.shape[2:], mode="bilinear", align_corners=True)
        flat = up.flatten(1)
        lo = flat.min(dim=1).values[:, None, None, None]
        hi = flat.max(dim=1).values[:, None, None, None]
        return (up - lo) / (hi - lo + self.EPS), logits

    def forward(self, image: torch.Tensor, coord_features: torch.Tensor) -> torch.Tensor:
        return self.forward_with_logits(image, coord_features)[0]
