"""Train the clickability network on real clicks (``rclicks train-clickability``).

The recipe follows the reference ``scripts/train_click_model.py`` of emb-ai/rclicks:

- **Targets.** The clicks of one click set are rendered as Gaussians whose σ scales with the
  image diagonal (``σ_px = sigma·√(H²+W²)/√(1920²+1080²)``, OpenCV ``GaussianBlur`` with an odd
  kernel of ``⌈7σ_px⌉`` and a constant border), divided by their maximum and multiplied by the
  error mask blurred with ``scipy.ndimage.gaussian_filter(σ = click_radius)``, where
  ``click_radius = int(5·√(H²+W²)/(500·√2))``. rclicks normalises the result to sum 1 (the loss
  normalises anyway). ``sigma`` defaults to 5, the value of the reference README; its ablation
  covers 0.01 … 120 (``experiments/eval_cm/ablation_cm_sigma_tetris.csv``).
- **Inputs.** The image scaled to [0, 1] and ImageNet-normalised, the gt mask and the error mask
  (the coord features) and the target, all letterboxed to 416² exactly as the ``clickability``
  simulator does (:func:`rclicks.clickability.preprocess.letterbox`). Training samples are
  flipped horizontally with probability 1/2 (before letterboxing, like the reference's
  albumentations ``HorizontalFlip``).
- **Loss.** The reference ``kld``: both maps divided by ``(sum + eps)``, then
  ``Σ t·log(eps + t/(eps + p))`` per sample, averaged over the batch (``eps = 1e-9``). The
  network output is min-max normalised in train mode too, as in the reference.
- **Optimiser.** Adam on all parameters (reference lr 0.01), one scheduler step per batch:
  linear warmup over the first 10 % of the steps, then cosine decay towards 0 over the rest.
  The reference uses timm's ``CosineLRScheduler`` whose warmup starts at lr 0 and whose cosine
  spans all steps (ending near 2.4 % of the base lr); rclicks starts the warmup at
  ``lr/warmup_steps`` and ends the cosine at the last step.
- **Validation.** After each epoch: KL (the loss), CC and SIM (the reference formulas, on both
  maps min-max normalised, over the 416² letterboxed frame). ``best.pth`` keeps the weights with
  the highest SIM, as the reference does.

Resuming is exact: the epoch order and flips come from ``numpy.random.default_rng([seed,
epoch])``, and ``last.ckpt`` holds the model, the optimiser, the step, the torch RNG states and
the configuration, so 2 epochs in one go or 1 + ``--resume`` 1 give the same weights (on the
same device and torch build).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rclicks.devices import resolve_device
from rclicks.errors import ClicksFileError, DeviceError, TrainError
from rclicks.protocols import described_name, is_indexable
from rclicks.realclicks.clicks_csv import (
    CLICK_TYPES,
    ClickSet,
    check_prev_masks,
    load_clicks,
    targets,
)

__all__ = [
    "DEFAULT_SIGMA",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "click_map",
    "click_radius",
    "gaussian_ksize",
    "kld",
    "lr_at",
    "render_clicks",
    "similarity",
    "correlation",
    "split_images",
    "train",
]

DEFAULT_SIGMA = 5.0
REFERENCE_DIAGONAL = math.hypot(1920, 1080)
EPS = 1e-9
LAST = "last.ckpt"
BEST = "best.pth"
METRICS = "metrics.jsonl"

Progress = Callable[[str, dict[str, Any]], None]


# -- targets ---------------------------------------------------------------------------------


def gaussian_ksize(sigma: float) -> int:
    """The reference kernel size: ``⌈7σ⌉`` made odd (the 3.5σ rule)."""
    d = int(math.ceil(7 * sigma))
    return d + (d + 1) % 2


def scaled_sigma(sigma: float, shape: tuple[int, int]) -> float:
    """``sigma`` is given for a 1920×1080 screen; scale it by the image diagonal."""
    h, w = int(shape[0]), int(shape[1])
    return float(sigma) * math.hypot(h, w) / REFERENCE_DIAGONAL


def click_radius(shape: tuple[int, int]) -> int:
    """σ of the error-mask blur: ``int(5·diag/(500·√2))`` (reference ``ClickMaps``)."""
    h, w = int(shape[0]), int(shape[1])
    return int(5 * math.hypot(h, w) / (500 * math.sqrt(2)))


def render_clicks(xs: Sequence[int], ys: Sequence[int], shape: tuple[int, int], sigma: float):
    """The clicks as a sum of Gaussians (reference ``render_gaze_map``, up to a constant)."""
    import cv2

    h, w = int(shape[0]), int(shape[1])
    xs = np.asarray(xs, dtype=np.int64)
    ys = np.asarray(ys, dtype=np.int64)
    out = np.zeros((h, w), dtype=np.float32)
    if xs.size == 0:
        return out
    np.add.at(out, (np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)), np.float32(1.0 / xs.size))
    s = scaled_sigma(sigma, (h, w))
    k = gaussian_ksize(s)
    return cv2.GaussianBlur(out, (k, k), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_CONSTANT)


def click_map(
    xs: Sequence[int], ys: Sequence[int], error_mask: np.ndarray, sigma: float = DEFAULT_SIGMA
) -> np.ndarray:
    """The training target of one click set: rendered clicks (max 1) × blurred error mask,
    normalised to sum 1 (all zeros when no click falls near the error region)."""
    from scipy.ndimage import gaussian_filter

    err = np.asarray(error_mask, dtype=np.float32)
    gauss = render_clicks(xs, ys, err.shape, sigma)
    top = float(gauss.max())
    if top > 0:
        gauss = gauss / top
    blurred = gaussian_filter(err, sigma=click_radius(err.shape))
    out = (gauss * blurred).astype(np.float32)
    total = float(out.sum(dtype=np.float64))
    return out / np.float32(total) if total > 0 else np.zeros_like(out)


# -- loss and metrics ------------------------------------------------------------------------


def kld(pred, target, eps: float = EPS):
    """Reference ``kld``: KL(target ‖ pred) of the sum-normalised maps, mean over the batch."""
    import torch

    t = target / (eps + torch.sum(target, dim=(1, 2, 3), keepdim=True))
    p = pred / (eps + torch.sum(pred, dim=(1, 2, 3), keepdim=True))
    return torch.mean(torch.sum(t * torch.log(eps + t / (eps + p)), dim=(1, 2, 3)))


def _minmax(x: np.ndarray) -> np.ndarray | None:
    lo, hi = float(x.min()), float(x.max())
    return None if not hi > lo else (x - lo) / (hi - lo)


def similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """Reference SIM: Σ min of the two maps, each divided by (sum + 1e-7)."""
    p = pred / (pred.sum() + 1e-7)
    g = gt / (gt.sum() + 1e-7)
    return float(np.minimum(p, g).sum())


def correlation(pred: np.ndarray, gt: np.ndarray) -> float:
    """Reference CC: Pearson correlation with the reference's 1e-7 guards."""
    a = (pred - pred.mean()) / (pred.std() + 1e-7)
    b = (gt - gt.mean()) / (gt.std() + 1e-7)
    return float((a * b).sum() / math.sqrt(float((a * a).sum() * (b * b).sum()) + 1e-7))


# -- schedule --------------------------------------------------------------------------------


def lr_at(step: int, total: int, base: float, warmup: float = 0.1) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of ``total``: linear warmup over
    ``int(warmup·total)`` steps, then cosine decay to 0 at ``total``."""
    w = int(warmup * total)
    if step < w:
        return base * (step + 1) / w
    span = max(total - w, 1)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(step - w, span) / span))


# -- data ------------------------------------------------------------------------------------


def split_images(
    stems: Iterable[str], val_fraction: float = 0.1, val_images: Iterable[str] | None = None
) -> tuple[list[str], list[str]]:
    """``(train, val)`` image stems. With ``val_images`` those are the validation images;
    otherwise the stems are ordered by their sha256 and the first ``round(fraction·n)`` (at least
    one when the fraction is positive and there are two or more images) are held out."""
    stems = sorted(set(stems))
    if val_images is not None:
        wanted = set(val_images)
        return [s for s in stems if s not in wanted], [s for s in stems if s in wanted]
    n = len(stems)
    k = int(round(float(val_fraction) * n))
    if val_fraction > 0 and n >= 2:
        k = min(max(k, 1), n - 1)
    ordered = sorted(stems, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    val = set(ordered[:k])
    return [s for s in stems if s not in val], [s for s in stems if s in val]


def read_stem_list(path: str | Path) -> list[str]:
    """Image stems, one a line (like the reference ``TETRIS_val.txt``); blank lines skipped."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"{path}: validation image list not found")
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def prepare(
    image: np.ndarray,
    gt: np.ndarray,
    error: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    sigma: float,
    flip: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Network input and target of one click set: ``(image 3×416², coord 2×416², target
    1×416²)`` float32, letterboxed like the simulator; ``flip`` mirrors everything."""
    from rclicks.clickability.preprocess import coord_features, letterbox, normalise_image

    x = normalise_image(image)
    g = np.asarray(gt, dtype=np.float32)
    e = np.asarray(error, dtype=np.float32)
    t = click_map(xs, ys, error, sigma)
    if flip:
        x, g, e, t = x[:, ::-1], g[:, ::-1], e[:, ::-1], t[:, ::-1]
    x, g, e, t = (np.ascontiguousarray(a) for a in (x, g, e, t))
    boxed_t = letterbox(t)
    s = float(boxed_t.sum(dtype=np.float64))
    if s > 0:
        boxed_t /= np.float32(s)
    return letterbox(x).transpose(2, 0, 1).copy(), coord_features(g, e), boxed_t[None]


@dataclass
class _Item:
    index: int | None  # sample index in an indexable dataset
    clicks: ClickSet
    target: Any = None  # the ClickTarget itself for datasets that can only be iterated


class ClickMapData:
    """Click sets placed on a dataset; items are prepared on demand (one sample cached)."""

    def __init__(
        self,
        dataset: Any,
        sets: Sequence[ClickSet],
        prev_masks: Path | None,
        sigma: float,
    ) -> None:
        self.dataset = dataset
        self.prev_masks = prev_masks
        self.sigma = float(sigma)
        self.unmatched: list[str] = []
        self.items: list[_Item] = []
        if is_indexable(dataset):
            wanted = {s.image_stem for s in sets}
            ids = list(dataset.sample_ids())
            where = {sid: i for i, sid in enumerate(ids)}
            for s in sets:
                if s.image_stem not in where:
                    self.unmatched.append(f"{s.full_stem}: image {s.image_stem!r} not in dataset")
            picked = [i for i, sid in enumerate(ids) if sid in wanted]
            found = targets(
                (dataset[i] for i in picked),
                [s for s in sets if s.image_stem in where],
                prev_masks,
                unmatched=self.unmatched,
            )
            for t in found:
                self.items.append(_Item(where[t.sample.sample_id], t.clicks))
        else:
            for t in targets(dataset, sets, prev_masks, unmatched=self.unmatched):
                self.items.append(_Item(None, t.clicks, t))
        self._cache: tuple[int, Any] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def image_stems(self) -> list[str]:
        return [it.clicks.image_stem for it in self.items]

    def target(self, k: int):
        """The :class:`rclicks.realclicks.ClickTarget` of item ``k``."""
        it = self.items[k]
        if it.target is not None:
            return it.target
        if self._cache is not None and self._cache[0] == it.index:
            sample = self._cache[1]
        else:
            sample = self.dataset[it.index]
            self._cache = (it.index, sample)
        return next(targets([sample], [it.clicks], self.prev_masks))

    def get(self, k: int, flip: bool = False):
        t = self.target(k)
        return prepare(t.sample.image, t.gt, t.error, t.xs, t.ys, self.sigma, flip)

    def batch(self, ks: Sequence[int], flips: Sequence[bool] | None = None):
        import torch

        flips = flips if flips is not None else [False] * len(ks)
        parts = [self.get(k, bool(f)) for k, f in zip(ks, flips, strict=True)]
        return tuple(torch.from_numpy(np.stack([p[i] for p in parts])) for i in range(3))


# -- configuration ---------------------------------------------------------------------------


@dataclass
class TrainConfig:
    dataset: str
    clicks: str
    out: str
    epochs: int = 20
    batch_size: int = 16
    lr: float = 0.01
    sigma: float = DEFAULT_SIGMA
    seed: int = 0
    device: str = "auto"
    val_images: str | None = None
    val_fraction: float = 0.1
    prev_masks: str | None = None
    click_types: list[str] = field(default_factory=lambda: list(CLICK_TYPES))
    init: str | None = None
    net: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    clicks_dataset: str | None = None
    warmup: float = 0.1

    # what a resumed run must share with the run it continues
    RESUME_KEYS = (
        "dataset",
        "clicks",
        "epochs",
        "batch_size",
        "lr",
        "sigma",
        "seed",
        "val_images",
        "val_fraction",
        "prev_masks",
        "click_types",
        "init",
        "net",
        "data_options",
        "clicks_dataset",
        "warmup",
    )

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    def check(self) -> None:
        if self.epochs < 1:
            raise TrainError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise TrainError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise TrainError(f"--lr must be > 0, got {self.lr}")
        if not self.sigma > 0:
            raise TrainError(f"--sigma must be > 0, got {self.sigma}")
        if not 0 <= self.val_fraction < 1:
            raise TrainError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if not 0 <= self.warmup < 1:
            raise TrainError(f"warmup must be in [0, 1), got {self.warmup}")
        bad = [t for t in self.click_types if t not in CLICK_TYPES]
        if bad or not self.click_types:
            raise TrainError(
                f"--click-types must be among {', '.join(CLICK_TYPES)}; got {self.click_types}"
            )


@dataclass
class TrainResult:
    out: Path
    epochs_done: int
    best_epoch: int | None
    best_sim: float | None
    metrics: list[dict[str, Any]]
    train_sets: int
    val_sets: int
    stopped: bool = False  # ``stop_after`` ended the run before ``epochs``
    epochs: int = 0  # the epochs the run is set to train in all


# -- checkpoints -----------------------------------------------------------------------------


def _save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _cpu_state(net) -> dict:
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}


def read_last(out: Path) -> dict | None:
    """The ``last.ckpt`` of a run folder, or ``None``."""
    import torch

    path = Path(out) / LAST
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - reported with the file name
        raise TrainError(f"{path}: unreadable checkpoint ({exc})") from None


def _net_options(cfg: TrainConfig) -> dict[str, Any]:
    from rclicks.clickability.checkpoint import checkpoint_net_options, net_options
    from rclicks.clickability.net import DEFAULT_NET_OPTIONS

    try:
        given = net_options(dict(cfg.net)) or {}
    except ValueError as exc:
        raise TrainError(f"--net-opt: {exc}") from None
    if not given and cfg.init:
        # start from a reduced checkpoint: take its architecture unless told otherwise
        import torch

        path = Path(cfg.init)
        obj = torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None
        given = checkpoint_net_options(path, obj) or {}
    return {**DEFAULT_NET_OPTIONS, **given}


def _load_init(net, path: str) -> None:
    from rclicks.clickability.checkpoint import load_state_dict

    p = Path(path)
    if not p.is_file():
        raise TrainError(f"{p}: --init checkpoint not found")
    try:
        net.load_state_dict(load_state_dict(p), strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise TrainError(
            f"{p}: --init checkpoint does not fit the network ({first}); pass the --net-opt "
            "options it was trained with"
        ) from None


# -- the loop --------------------------------------------------------------------------------


def _validate(net, data: ClickMapData, ks: Sequence[int], batch_size: int, device) -> dict:
    import torch

    if not ks:
        return {}
    net.eval()
    kls: list[float] = []
    ccs: list[float] = []
    sims: list[float] = []
    with torch.no_grad():
        for start in range(0, len(ks), batch_size):
            chunk = list(ks[start : start + batch_size])
            img, coord, tgt = (t.to(device) for t in data.batch(chunk))
            pred = net(img, coord)
            t = tgt / (EPS + tgt.sum(dim=(1, 2, 3), keepdim=True))
            p = pred / (EPS + pred.sum(dim=(1, 2, 3), keepdim=True))
            per = torch.sum(t * torch.log(EPS + t / (EPS + p)), dim=(1, 2, 3))
            kls.extend(per.double().cpu().tolist())
            for pr, gt in zip(pred.cpu().numpy(), tgt.cpu().numpy(), strict=True):
                a, b = _minmax(pr[0].astype(np.float64)), _minmax(gt[0].astype(np.float64))
                if a is None or b is None:
                    continue  # an empty target (no click near the error region)
                ccs.append(correlation(a, b))
                sims.append(similarity(a, b))
    return {
        "val_kl": float(np.mean(kls)),
        "val_cc": float(np.mean(ccs)) if ccs else None,
        "val_sim": float(np.mean(sims)) if sims else None,
    }


def _rng_state(device) -> dict:
    import torch

    state = {"torch": torch.get_rng_state()}
    if str(device).startswith("cuda"):
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, device) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if str(device).startswith("cuda") and state.get("cuda"):
        torch.cuda.set_rng_state_all(state["cuda"])


def _differences(saved: dict, now: dict) -> list[str]:
    out = []
    for k in TrainConfig.RESUME_KEYS:
        if saved.get(k) != now.get(k):
            out.append(f"{k}: run has {saved.get(k)!r}, now {now.get(k)!r}")
    return out


def prepare_data(cfg: TrainConfig, dataset: Any):
    """Load clicks.csv, match it to the dataset and split it: ``(train, val, dataset)``.
    Raises :class:`TrainError` naming the file or what is missing."""
    clicks_path = Path(cfg.clicks)
    try:
        table = load_clicks(clicks_path)
    except ClicksFileError as exc:
        raise TrainError(str(exc)) from None
    ds_name = cfg.clicks_dataset or described_name(dataset, cfg.dataset)
    sets = table.sets(dataset=ds_name, click_types=cfg.click_types)
    if not sets:
        raise TrainError(
            f"{clicks_path}: no click sets for dataset {ds_name!r} with click types "
            f"{', '.join(cfg.click_types)} (the file has datasets: "
            f"{', '.join(table.datasets()) or 'none'}; use --clicks-dataset to pick one)"
        )
    prev = Path(cfg.prev_masks) if cfg.prev_masks else None
    if prev is not None and not prev.is_dir():
        raise TrainError(f"{prev}: --prev-masks folder not found")
    try:
        problems = check_prev_masks(sets, prev)
    except ClicksFileError as exc:
        raise TrainError(str(exc)) from None
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise TrainError(
            f"{len(problems)} previous mask(s) missing{more}:\n  " + "\n  ".join(problems[:20])
        )
    if cfg.val_images:
        val_stems = read_stem_list(cfg.val_images)
    else:
        val_stems = None
    train_stems, val_list = split_images((s.image_stem for s in sets), cfg.val_fraction, val_stems)
    val_set = set(val_list)
    try:
        data = ClickMapData(dataset, sets, prev, cfg.sigma)
    except ClicksFileError as exc:
        raise TrainError(str(exc)) from None
    if not len(data):
        shown = "\n  ".join(data.unmatched[:10])
        raise TrainError(
            f"{clicks_path}: none of the {len(sets)} click set(s) for {ds_name!r} match a "
            f"sample of dataset {cfg.dataset!r}:\n  {shown}"
        )
    stems = data.image_stems()
    train_ks = [k for k, s in enumerate(stems) if s not in val_set]
    val_ks = [k for k, s in enumerate(stems) if s in val_set]
    if not train_ks:
        raise TrainError(
            "no click sets left for training after holding out the validation images "
            f"({len(val_ks)} set(s) on {len(val_set)} image(s))"
        )
    del train_stems
    return data, train_ks, val_ks


def train(
    cfg: TrainConfig,
    resume: bool = False,
    progress: Progress | None = None,
    stop_after: int | None = None,
    dataset: Any = None,
) -> TrainResult:
    """Train (or, with ``resume``, continue training) on the samples of ``dataset`` (an
    ``rclicks.Dataset``; :func:`rclicks.train_clickability` resolves names) and write
    checkpoints into ``cfg.out``. ``stop_after``: return after this many epochs of this call
    (continue later with ``resume=True``).
    """
    if dataset is None:
        raise TrainError("train: no dataset given (rclicks.train_clickability resolves names)")
    import torch

    from rclicks.clickability.checkpoint import NET_JSON, build_net

    cfg.check()
    emit = progress or (lambda event, info: None)
    out = Path(cfg.out)
    saved = read_last(out) if out.is_dir() else None
    if saved is not None and not resume:
        raise TrainError(
            f"{out} already holds a training run ({LAST}); continue it with --resume or pick "
            "another --out"
        )
    if saved is not None:
        diffs = _differences(saved.get("config", {}), cfg.to_dict())
        if diffs:
            raise TrainError(
                f"{out / LAST}: --resume needs the same settings as the run it continues:\n  "
                + "\n  ".join(diffs)
            )
    try:
        device = resolve_device(cfg.device)
    except DeviceError as exc:
        raise TrainError(str(exc)) from None

    data, train_ks, val_ks = prepare_data(cfg, dataset)

    options = _net_options(cfg) if saved is None else dict(saved["net"])
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(cfg.seed))
            net = build_net(options)
    except (TypeError, ValueError) as exc:
        raise TrainError(f"--net-opt: {exc}") from None
    if saved is None and cfg.init:
        _load_init(net, cfg.init)
    net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    steps_per_epoch = math.ceil(len(train_ks) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs

    out.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, Any]] = []
    if saved is not None:
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        epoch, step = int(saved["epoch"]), int(saved["step"])
        best_sim, best_epoch = saved.get("best_sim"), saved.get("best_epoch")
        _set_rng_state(saved["rng"], device)
        history = _read_metrics(out / METRICS, epoch)
    else:
        torch.manual_seed(int(cfg.seed))
        if str(device).startswith("cuda"):
            torch.cuda.manual_seed_all(int(cfg.seed))
        epoch, step, best_sim, best_epoch = 0, 0, None, None
        (out / NET_JSON).write_text(json.dumps(options, indent=2) + "\n", encoding="utf-8")
        (out / METRICS).write_text("", encoding="utf-8")

    emit(
        "start",
        {
            "epochs": cfg.epochs,
            "first_epoch": epoch + 1,
            "steps_per_epoch": steps_per_epoch,
            "train_sets": len(train_ks),
            "val_sets": len(val_ks),
            "device": str(device),
            "unmatched": list(data.unmatched),
        },
    )
    if saved is None:
        t0 = time.perf_counter()
        initial = _validate(net, data, val_ks, cfg.batch_size, device)
        if initial:  # epoch 0: the network before training
            rec = {"epoch": 0, "step": 0, **initial, "seconds": time.perf_counter() - t0}
            _append(out / METRICS, rec)
            history.append(rec)
            emit("epoch", {"record": rec, "epochs": cfg.epochs})
    done_now = 0
    while epoch < cfg.epochs and (stop_after is None or done_now < stop_after):
        t0 = time.perf_counter()
        rng = np.random.default_rng([int(cfg.seed), epoch])
        order = rng.permutation(len(train_ks))
        flips = rng.random(len(train_ks)) < 0.5
        net.train()
        losses: list[float] = []
        for b in range(steps_per_epoch):
            sl = slice(b * cfg.batch_size, (b + 1) * cfg.batch_size)
            ks = [train_ks[i] for i in order[sl]]
            img, coord, tgt = (t.to(device) for t in data.batch(ks, flips[sl]))
            lr = lr_at(step, total, cfg.lr, cfg.warmup)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss = kld(net(img, coord), tgt)
            loss.backward()
            optimizer.step()
            step += 1
            losses.append(float(loss.item()))
            emit("step", {"epoch": epoch + 1, "step": step, "loss": losses[-1], "lr": lr})
        epoch += 1
        done_now += 1
        state = _cpu_state(net)
        _save(state, out / f"epoch_{epoch}.pth")
        metrics = _validate(net, data, val_ks, cfg.batch_size, device)
        rec = {
            "epoch": epoch,
            "step": step,
            "lr": lr_at(step - 1, total, cfg.lr, cfg.warmup),
            "train_loss": float(np.mean(losses)),
            **metrics,
        }
        sim = metrics.get("val_sim")
        rec["best"] = bool(sim is not None and (best_sim is None or sim > best_sim))
        if rec["best"]:
            best_sim, best_epoch = sim, epoch
            _save(state, out / BEST)
        rec["seconds"] = time.perf_counter() - t0
        _append(out / METRICS, rec)
        _save(
            {
                "model": state,
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "step": step,
                "best_sim": best_sim,
                "best_epoch": best_epoch,
                "rng": _rng_state(device),
                "config": cfg.to_dict(),
                "net": options,
            },
            out / LAST,
        )
        history.append(rec)
        emit("epoch", {"record": rec, "epochs": cfg.epochs})
    emit("end", {})
    return TrainResult(
        out=out,
        epochs_done=epoch,
        best_epoch=best_epoch,
        best_sim=best_sim,
        metrics=history,
        train_sets=len(train_ks),
        val_sets=len(val_ks),
        stopped=epoch < cfg.epochs,
        epochs=cfg.epochs,
    )


def _append(path: Path, rec: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec) + "\n")


def _read_metrics(path: Path, upto: int) -> list[dict]:
    """The metric records of epochs ``<= upto``; later ones (an epoch interrupted after its
    line was written but before ``last.ckpt``) are dropped from the file."""
    if not path.is_file():
        return []
    recs = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    keep = [r for r in recs if int(r.get("epoch", 0)) <= upto]
    if len(keep) != len(recs):
        path.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
    return keep
