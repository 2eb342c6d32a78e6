"""RITM's interactive segmentation network ``HRNetModel`` (HRNetV2 + OCR head) in plain PyTorch.

This module follows the architecture of SamsungLabs/ritm_interactive_segmentation, files
``isegm/model/is_model.py`` / ``is_hrnet_model.py`` (input preparation, click maps,
``maps_transform``, final upsampling), ``isegm/model/modeling/hrnet_ocr.py`` (the backbone),
``isegm/model/modeling/ocr.py`` (the object-contextual head), ``resnetv1b.py`` (the residual
blocks) and ``isegm/model/ops.py`` (``ScaleLayer``, ``DistMaps``). It is written from the
description in ``shared/fixtures/isegm/README.md`` ("Architecture"); module and attribute names
are chosen so that ``state_dict()`` has exactly the keys, order, shapes and dtypes of the official
checkpoints (``coco_lvis_h18_itermask.pth``, ``coco_lvis_h32_itermask.pth``), which therefore load
with ``load_state_dict(..., strict=True)``.

Data flow of ``HRNetModel.forward(image, points)``:

1. ``image`` is B×4×H×W: RGB in [0, 1] and, as channel 3, the previous probability map. The RGB
   channels are normalised with the ImageNet mean / std.
2. Coord features: concat(prev mask, positive disks, negative disks) (B×3×H×W, the disks from
   :func:`rclicks_isegm.maps.disk_maps`), mapped by ``maps_transform`` (1×1 conv 3→16, LeakyReLU
   0.2, 3×3 stride-2 conv 16→64, times ``|scale|``) to B×64 at stride 2.
3. Backbone (``feature_extractor``): stem conv1 (stride 2) + BN + ReLU, *plus the coord
   features*, conv2 (stride 2) + BN + ReLU; ``layer1`` (4 bottlenecks, 64→256); three
   multi-resolution stages with 2, 3, 4 branches of widths w, 2w, 4w, 8w (4 basic blocks per
   branch, then an exchange unit: bilinear ``align_corners=True`` upsampling of coarser branches,
   strided 3×3 convs for finer ones); the four branches upsampled to stride 4 and concatenated
   (15w channels).
4. ``aux_head`` gives the soft object region (1 channel) = ``instances_aux``; ``conv3x3_ocr``
   reduces the features to 2·ocr_width; the region-weighted average of those is the object context,
   attended to by every pixel (``ocr_distri_head``); ``cls_head`` gives ``instances``.
5. Both stride-4 logit maps are upsampled to H×W (bilinear, ``align_corners=True``).

Only the configuration of the official C+L checkpoints is implemented (``small=False``,
``use_rgb_conv=False``, ``use_disks=True``, ``with_prev_mask=True``, BatchNorm); the network is
meant for eval mode (BatchNorm with running statistics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .maps import disk_maps

__all__ = ["HRNetModel", "ScaleLayer", "HRNetOCR"]

#: BatchNorm epsilon of the reference (torch default)
BN_EPS = 1e-5


def _upsample(x: torch.Tensor, size) -> torch.Tensor:
    """Bilinear resize with ``align_corners=True``, as everywhere inside RITM's HRNet."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=1, bias=bias)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class ScaleLayer(nn.Module):
    """Multiplies its input by ``|scale|``, one learned scalar (``isegm/model/ops.py``; the
    reference's ``lr_mult`` is 1 for this layer, so it does not enter the forward)."""

    def __init__(self, init_value: float = 0.05):
        super().__init__()
        self.scale = nn.Parameter(torch.full((1,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.abs()


# --------------------------------------------------------------------------- residual blocks


class BasicBlock(nn.Module):
    """Two 3×3 conv + BN, identity shortcut (``BasicBlockV1b``); widths never change here."""

    expansion = 1

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = _conv3x3(channels, channels)
        self.bn1 = _bn(channels)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = _bn(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4 width) with BN, and an optional 1×1 conv + BN projection shortcut
    (``BottleneckV1b``)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, project: bool):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = _conv1x1(cin, planes)
        self.bn1 = _bn(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = _bn(planes)
        self.conv3 = _conv1x1(planes, cout)
        self.bn3 = _bn(cout)
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(_conv1x1(cin, cout), _bn(cout)) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


# --------------------------------------------------------------------------- HRNet stages


def _down_path(cin: int, cout: int, steps: int) -> nn.Sequential:
    """``steps`` stride-2 3×3 conv + BN units from a finer branch to a coarser one: the
    intermediate units keep ``cin`` channels and end with ReLU, the last one maps to ``cout``
    and has no ReLU (the sum of the exchange unit is rectified afterwards)."""
    units = []
    for k in range(steps):
        if k == steps - 1:
            units.append(nn.Sequential(_conv3x3(cin, cout, stride=2), _bn(cout)))
        else:
            units.append(nn.Sequential(_conv3x3(cin, cin, stride=2), _bn(cin), nn.ReLU()))
    return nn.Sequential(*units)


class HRModule(nn.Module):
    """One multi-resolution module: a chain of basic blocks per branch, then the exchange unit
    where every output branch ``i`` sums all input branches brought to its resolution and width
    (``fuse_layers[i][j]``: None for j == i, 1×1 conv + BN then upsampling for coarser j,
    :func:`_down_path` for finer j), followed by ReLU."""

    def __init__(self, widths: list[int], num_blocks: int):
        super().__init__()
        self.widths = list(widths)
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(w) for _ in range(num_blocks))) for w in widths
        )
        n = len(widths)
        fuse = nn.ModuleList()
        for i in range(n):
            row = nn.ModuleList()
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(_conv1x1(widths[j], widths[i]), _bn(widths[i])))
                elif j == i:
                    row.append(None)
                else:
                    row.append(_down_path(widths[j], widths[i], i - j))
            fuse.append(row)
        self.fuse_layers = fuse
        self.relu = nn.ReLU()

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        outs = []
        for i, row in enumerate(self.fuse_layers):
            size = xs[i].shape[-2:]
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                if j == i:
                    y = y + xs[j]
                elif j > i:
                    y = y + _upsample(row[j](xs[j]), size)
                else:
                    y = y + row[j](xs[j])
            outs.append(self.relu(y))
        return outs


def _transition(prev: list[int], cur: list[int]) -> nn.ModuleList:
    """Between stages: existing branches whose width changes get 3×3 conv + BN + ReLU (None when
    unchanged); each new branch is made from the coarsest previous one by stride-2 3×3
    conv + BN + ReLU units (the last one sets the width)."""
    layers = nn.ModuleList()
    for i, width in enumerate(cur):
        if i < len(prev):
            if width != prev[i]:
                layers.append(nn.Sequential(_conv3x3(prev[i], width), _bn(width), nn.ReLU()))
            else:
                layers.append(None)
        else:
            units = []
            steps = i + 1 - len(prev)
            cin = prev[-1]
            for k in range(steps):
                cout = width if k == steps - 1 else cin
                units.append(nn.Sequential(_conv3x3(cin, cout, stride=2), _bn(cout), nn.ReLU()))
            layers.append(nn.Sequential(*units))
    return layers


def _apply_transition(layers: nn.ModuleList, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    out = []
    for i, layer in enumerate(layers):
        if layer is None:
            out.append(xs[i])
        else:
            out.append(layer(xs[i] if i < len(xs) else xs[-1]))
    return out


# --------------------------------------------------------------------------- OCR head


class ObjectAttention(nn.Module):
    """Pixel-to-object attention (``ObjectAttentionBlock2D``, scale 1): queries from the pixel
    features, keys and values from the object context, each through two (or one)
    1×1 conv (no bias) + BN + ReLU layers; the attended value goes back up to ``channels``."""

    def __init__(self, channels: int, key_channels: int):
        super().__init__()
        self.key_channels = key_channels

        def proj(cin: int, cout: int) -> list[nn.Module]:
            return [_conv1x1(cin, cout), nn.Sequential(_bn(cout), nn.ReLU())]

        self.f_pixel = nn.Sequential(
            *proj(channels, key_channels), *proj(key_channels, key_channels)
        )
        self.f_object = nn.Sequential(
            *proj(channels, key_channels), *proj(key_channels, key_channels)
        )
        self.f_down = nn.Sequential(*proj(channels, key_channels))
        self.f_up = nn.Sequential(*proj(key_channels, channels))

    def forward(self, feats: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, _, h, w = feats.shape
        query = self.f_pixel(feats).flatten(2).transpose(1, 2)  # B×HW×Ck
        key = self.f_object(context).flatten(2)  # B×Ck×K
        value = self.f_down(context).flatten(2).transpose(1, 2)  # B×K×Ck
        attn = torch.softmax(torch.matmul(query, key) * self.key_channels**-0.5, dim=-1)
        out = torch.matmul(attn, value).transpose(1, 2).reshape(b, self.key_channels, h, w)
        return self.f_up(out)


class SpatialOCR(nn.Module):
    """``SpatialOCR_Module``: concat(object-attended context, pixel features) → 1×1 conv
    (no bias) + BN + ReLU → Dropout2d (inactive in eval)."""

    def __init__(self, channels: int, key_channels: int, dropout: float = 0.05):
        super().__init__()
        self.object_context_block = ObjectAttention(channels, key_channels)
        self.conv_bn_dropout = nn.Sequential(
            _conv1x1(2 * channels, channels),
            nn.Sequential(_bn(channels), nn.ReLU()),
            nn.Dropout2d(dropout),
        )

    def forward(self, feats: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        attended = self.object_context_block(feats, context)
        return self.conv_bn_dropout(torch.cat([attended, feats], dim=1))


class SpatialGather(nn.Module):
    """``SpatialGather_Module``: per class, the average of the features weighted by the softmax
    of its logits over all pixels → B×C×K×1."""

    def forward(self, feats: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(logits.flatten(2), dim=2)  # B×K×HW
        pixels = feats.flatten(2).transpose(1, 2)  # B×HW×C
        return torch.matmul(weights, pixels).transpose(1, 2).unsqueeze(3)


# --------------------------------------------------------------------------- backbone + heads


class HRNetOCR(nn.Module):
    """``HighResolutionNet`` of ``hrnet_ocr.py`` (``small=False``, one output class): the
    HRNetV2-W``width`` backbone with the coord features added after the first stem conv, the
    auxiliary soft-region head and the OCR head. ``forward`` returns (cls logits, aux logits) at
    stride 4."""

    def __init__(self, width: int = 18, ocr_width: int = 64):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = _bn(64)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = _bn(64)
        self.relu = nn.ReLU()

        self.layer1 = nn.Sequential(
            Bottleneck(64, 64, project=True),
            *(Bottleneck(256, 64, project=False) for _ in range(3)),
        )
        widths2, widths3, widths4 = [w, 2 * w], [w, 2 * w, 4 * w], [w, 2 * w, 4 * w, 8 * w]
        self.transition1 = _transition([256], widths2)
        self.stage2 = nn.Sequential(HRModule(widths2, 4))
        self.transition2 = _transition(widths2, widths3)
        self.stage3 = nn.Sequential(*(HRModule(widths3, 4) for _ in range(4)))
        self.transition3 = _transition(widths3, widths4)
        self.stage4 = nn.Sequential(*(HRModule(widths4, 4) for _ in range(3)))

        feat_ch = sum(widths4)
        mid_ch, key_ch = 2 * ocr_width, ocr_width
        self.conv3x3_ocr = nn.Sequential(
            nn.Conv2d(feat_ch, mid_ch, kernel_size=3, stride=1, padding=1), _bn(mid_ch), nn.ReLU()
        )
        self.ocr_gather_head = SpatialGather()
        self.ocr_distri_head = SpatialOCR(mid_ch, key_ch, dropout=0.05)
        self.cls_head = nn.Conv2d(mid_ch, 1, kernel_size=1, bias=True)
        self.aux_head = nn.Sequential(
            nn.Conv2d(feat_ch, feat_ch, kernel_size=1, bias=True),
            _bn(feat_ch),
            nn.ReLU(),
            nn.Conv2d(feat_ch, 1, kernel_size=1, bias=True),
        )

    def features(self, x: torch.Tensor, additional: torch.Tensor | None) -> torch.Tensor:
        """The stride-4 concatenation of the four HRNet branches (15·width channels)."""
        x = self.relu(self.bn1(self.conv1(x)))
        if additional is not None:
            x = x + additional
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        xs = _apply_transition(self.transition1, [x])
        xs = self.stage2(xs)
        xs = _apply_transition(self.transition2, xs)
        xs = self.stage3(xs)
        xs = _apply_transition(self.transition3, xs)
        xs = self.stage4(xs)
        size = xs[0].shape[-2:]
        return torch.cat([xs[0], *(_upsample(t, size) for t in xs[1:])], dim=1)

    def forward(
        self, x: torch.Tensor, additional: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(x, additional)
        aux = self.aux_head(feats)
        feats = self.conv3x3_ocr(feats)
        context = self.ocr_gather_head(feats, aux)
        feats = self.ocr_distri_head(feats, context)
        return self.cls_head(feats), aux


# --------------------------------------------------------------------------- the full model


def _check(condition: bool, option: str, value, supported) -> None:
    if not condition:
        raise ValueError(
            f"HRNetModel: {option}={value!r} is not supported (only {option}={supported!r}, "
            "the configuration of the official RITM C+L checkpoints)"
        )


class HRNetModel(nn.Module):
    """RITM ``HRNetModel`` (``isegm/model/is_hrnet_model.py`` on ``ISModel``), configuration of the
    official C+L checkpoints: HRNet-18 ``HRNetModel()`` or HRNet-32
    ``HRNetModel(width=32, ocr_width=128)``.

    ``state_dict()`` keys: ``maps_transform.*`` then ``feature_extractor.*``, as in the
    checkpoints. ``backbone_lr_mult`` is training-only and ignored; ``norm_layer`` must be
    BatchNorm2d (or None); ``cpu_dist_maps`` must be False and ``clicks_groups`` None.
    """

    def __init__(
        self,
        width: int = 18,
        ocr_width: int = 64,
        small: bool = False,
        with_aux_output: bool = True,
        use_leaky_relu: bool = True,
        use_rgb_conv: bool = False,
        use_disks: bool = True,
        norm_radius: float = 5,
        with_prev_mask: bool = True,
        norm_mean: tuple[float, float, float] = (0.485, 0.456, 0.406),
        norm_std: tuple[float, float, float] = (0.229, 0.224, 0.225),
        binary_prev_mask: bool = False,
        backbone_lr_mult: float = 0.1,
        norm_layer=None,
        cpu_dist_maps: bool = False,
        clicks_groups=None,
    ):
        super().__init__()
        _check(not small, "small", small, False)
        _check(not use_rgb_conv, "use_rgb_conv", use_rgb_conv, False)
        _check(bool(use_disks), "use_disks", use_disks, True)
        _check(bool(with_prev_mask), "with_prev_mask", with_prev_mask, True)
        _check(not cpu_dist_maps, "cpu_dist_maps", cpu_dist_maps, False)
        _check(clicks_groups is None, "clicks_groups", clicks_groups, None)
        _check(
            norm_layer is None or norm_layer is nn.BatchNorm2d,
            "norm_layer",
            norm_layer,
            nn.BatchNorm2d,
        )
        _check(int(ocr_width) > 0, "ocr_width", ocr_width, "a positive int")
        _check(int(width) > 0, "width", width, "a positive int")
        del backbone_lr_mult  # only scales the backbone learning rate during training

        self.width, self.ocr_width = int(width), int(ocr_width)
        self.with_aux_output = bool(with_aux_output)
        self.norm_radius = float(norm_radius)
        self.binary_prev_mask = bool(binary_prev_mask)
        # plain tensors, not buffers: the checkpoints hold no normalisation entries
        self._mean = torch.tensor(norm_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(norm_std, dtype=torch.float32).view(1, 3, 1, 1)

        self.maps_transform = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=1),
            nn.LeakyReLU(negative_slope=0.2) if use_leaky_relu else nn.ReLU(),
            nn.Conv2d(16, 64, kernel_size=3, stride=2, padding=1),
            ScaleLayer(init_value=0.05),
        )
        self.feature_extractor = HRNetOCR(width=self.width, ocr_width=self.ocr_width)

    # ---------------------------------------------------------------- input preparation

    def normalize(self, rgb: torch.Tensor) -> torch.Tensor:
        """``(rgb - mean) / std`` per channel (``BatchImageNormalize``)."""
        mean = self._mean.to(device=rgb.device, dtype=rgb.dtype)
        std = self._std.to(device=rgb.device, dtype=rgb.dtype)
        return (rgb - mean) / std

    def coord_features(self, image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """B×3×H×W concat(prev mask, positive disks, negative disks) for the 4-channel ``image``
        (``ISModel.prepare_input`` + ``get_coord_features``)."""
        prev = image[:, 3:4]
        if self.binary_prev_mask:
            prev = (prev > 0.5).to(image.dtype)
        disks = disk_maps(points, image.shape[2], image.shape[3], radius=self.norm_radius)
        return torch.cat([prev, disks.to(device=image.device, dtype=image.dtype)], dim=1)

    # ---------------------------------------------------------------- forward

    def forward_maps(
        self, rgb: torch.Tensor, coord_features: torch.Tensor, return_lowres: bool = False
    ) -> dict[str, torch.Tensor]:
        """The network from already built coord features.

        ``rgb``: B×3×H×W in [0, 1] (not normalised; channels beyond 3 are ignored, so the
        4-channel network input can be passed as is). ``coord_features``: B×3×H×W (prev mask,
        positive map, negative map), e.g. from :meth:`coord_features` or a soft, differentiable
        click encoding. Returns ``instances`` (and ``instances_aux`` when ``with_aux_output``):
        B×1×H×W logits; with ``return_lowres`` also the stride-4 maps ``logits_lowres`` and
        ``aux_lowres``.
        """
        x = self.normalize(rgb[:, :3])
        extra = self.maps_transform(coord_features)
        logits, aux = self.feature_extractor(x, extra)
        size = rgb.shape[-2:]
        out = {"instances": _upsample(logits, size)}
        if self.with_aux_output:
            out["instances_aux"] = _upsample(aux, size)
        if return_lowres:
            out["logits_lowres"] = logits
            out["aux_lowres"] = aux
        return out

    def forward(
        self, image: torch.Tensor, points: torch.Tensor, return_lowres: bool = False
    ) -> dict[str, torch.Tensor]:
        """``image``: B×4×H×W (RGB in [0, 1], previous probability map); ``points``: B×2N×3
        ``(y, x, click_index)``, N positive rows then N negative rows, padded with -1.
        See :meth:`forward_maps` for the outputs."""
        return self.forward_maps(
            image[:, :3], self.coord_features(image, points), return_lowres=return_lowres
        )
