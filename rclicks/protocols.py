"""What rclicks asks of models, click simulators and datasets: the three protocols a plugin
implements, and every optional member the engine looks for, each declared here as its own
small runtime-checkable Protocol. Imports nothing of the project but the data types.

Shapes and conventions (CONTRACT §2): images are H×W×3 ``uint8`` RGB; masks H×W ``bool``;
probability and density maps H×W ``float32``; a :class:`~rclicks.types.Click` has ``x`` =
column and ``y`` = row, 0-based, in original image pixels.

The small helpers at the end (:func:`threshold_of`, :func:`is_baseline`, ...) are how the rest
of rclicks reads the optional members, so a missing member always means the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from rclicks.types import Click, Sample

if TYPE_CHECKING:  # annotations only: protocols import no project code at run time
    from rclicks.clicks import DistanceMap

__all__ = [
    "AdversarialSimulator",
    "BaselineMarker",
    "BatchDensity",
    "BatchPredictor",
    "CheckableDataset",
    "ClickSimulator",
    "Dataset",
    "DifferentiablePredictor",
    "Fingerprinted",
    "ISModel",
    "IndexableDataset",
    "PrefetchSafe",
    "RegionDensity",
    "ReplaySimulator",
    "described_name",
    "is_adversarial",
    "is_baseline",
    "is_indexable",
    "is_prefetch_safe",
    "is_replay",
    "point_labels",
    "threshold_of",
]

DEFAULT_THRESHOLD = 0.5

# -- the three protocols -----------------------------------------------------------------------


@runtime_checkable
class ISModel(Protocol):
    """A click-based interactive segmentation model.

    ``encode(image)`` runs once per image (H×W×3 uint8 RGB); its result is shared by every
    trajectory and every instance of that image and must not be modified by ``predict``.
    ``predict(embedding, clicks, state)`` gets all clicks of the trajectory so far, oldest
    first, and returns an H×W float32 probability map (1×H×W is accepted) and the model's own
    per-trajectory state (``None`` on the first click). A pixel is foreground when
    ``prob > threshold`` (0.5 when the attribute is missing, see :func:`threshold_of`).

    Optional members: :class:`BatchPredictor` (``predict_batch``) and
    :class:`DifferentiablePredictor` (``predict_differentiable``).
    """

    threshold: float

    def encode(self, image: np.ndarray) -> Any: ...

    def predict(
        self, embedding: Any, clicks: Sequence[Click], state: Any | None
    ) -> tuple[np.ndarray, Any]: ...


@runtime_checkable
class ClickSimulator(Protocol):
    """Where people click: a non-negative H×W density, of which only the values inside the
    error mask matter. ``deterministic=True`` means "click the maximum"; ``False`` means
    "sample from the density" (with clicking groups). The engine owns the side rule, the
    groups, the sampling and the randomness.

    Optional members: :class:`RegionDensity` (``region_density``), :class:`BatchDensity`
    (``density_batch``), :class:`BaselineMarker` (``is_baseline``),
    :class:`ReplaySimulator` (``replay`` + ``user_clicks``) and
    :class:`AdversarialSimulator` (``adversarial``: TETRIS).
    """

    deterministic: bool

    def density(
        self, image: np.ndarray, gt_mask: np.ndarray, error_mask: np.ndarray
    ) -> np.ndarray: ...


@runtime_checkable
class Dataset(Protocol):
    """A named, sized iterable of :class:`~rclicks.types.Sample`.

    Optional members: :class:`IndexableDataset` (``__getitem__`` + ``sample_ids``),
    :class:`CheckableDataset` (``check``), :class:`PrefetchSafe` (``prefetch_safe``) and
    :class:`Fingerprinted` (``fingerprint``).
    """

    name: str

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Sample]: ...


# -- optional members of a model ---------------------------------------------------------------


@runtime_checkable
class BatchPredictor(Protocol):
    """``predict_batch(embedding, clicks, states)`` decodes several trajectories of one image
    at once: ``clicks`` is one click list per trajectory (oldest first), ``states`` one state
    per trajectory (``None`` before the first click). Returns two sequences as long as
    ``clicks``: H×W float32 probability maps and the new states. The engine calls it, when
    present, with every live trajectory of an instance at each click step; it must give what
    ``predict`` gives for each trajectory on its own."""

    def predict_batch(
        self, embedding: Any, clicks: Sequence[Sequence[Click]], states: Sequence[Any]
    ) -> tuple[Sequence[np.ndarray], Sequence[Any]]: ...


@runtime_checkable
class DifferentiablePredictor(Protocol):
    """``predict_differentiable(embedding, points, labels, state)`` returns the H×W torch
    tensor of logits for clicks at continuous positions: ``points`` is an N×2 float tensor of
    (x, y) in image pixels with ``requires_grad``, ``labels`` N bools (True = positive),
    ``state`` as in ``predict``. The gradient of the logits with respect to ``points`` must be
    meaningful: the TETRIS white-box search (CONTRACT §9) follows it."""

    def predict_differentiable(
        self, embedding: Any, points: Any, labels: Sequence[bool], state: Any | None
    ) -> Any: ...


# -- optional members of a simulator -----------------------------------------------------------


@runtime_checkable
class RegionDensity(Protocol):
    """``region_density(image, gt_mask, region)`` returns the density's values at the pixels
    of ``region`` only: a float32 array of shape ``(region.size,)`` in the order of
    ``region.idx`` (flat indices ``y * W + x``, row-major). ``region`` is a
    :class:`rclicks.clicks.DistanceMap`, which also holds each pixel's distance to the region's
    border. When present, the engine calls it instead of ``density``; the two must agree."""

    def region_density(
        self, image: np.ndarray, gt_mask: np.ndarray, region: DistanceMap
    ) -> np.ndarray: ...


@runtime_checkable
class BatchDensity(Protocol):
    """``density_batch(images, gt_masks, error_masks)`` takes three equally long lists and
    returns one H×W density per entry, each equal to ``density`` of that entry. The engine
    calls it once per click step with every distinct error region of an instance (unless the
    simulator has ``region_density``)."""

    def density_batch(
        self,
        images: Sequence[np.ndarray],
        gt_masks: Sequence[np.ndarray],
        error_masks: Sequence[np.ndarray],
    ) -> Sequence[np.ndarray]: ...


@runtime_checkable
class BaselineMarker(Protocol):
    """``is_baseline = True`` marks a simulator whose clicks are exactly the baseline robot's:
    the engine then runs the one baseline trajectory (named ``baseline``, group 0) for it and
    asks it for no density (the built-in ``baseline`` simulator sets it)."""

    is_baseline: bool


@runtime_checkable
class ReplaySimulator(Protocol):
    """``replay = True`` marks a simulator that hands the engine recorded clicks instead of a
    density: ``user_clicks(dataset, sample_id, instance_id, shape, instance_ids)`` returns the
    recorded clicks of one instance (``shape`` = (H, W) of the image, ``instance_ids`` every
    instance of the sample); the engine runs one single-click trajectory per recorded click
    (group 0, repeat = its 1-based index) and summarises them as IoU@1 and User NSR (the
    built-in ``users`` simulator sets it)."""

    replay: bool

    def user_clicks(
        self,
        dataset: str,
        sample_id: str,
        instance_id: str,
        shape: tuple[int, int],
        instance_ids: Sequence[str],
    ) -> Sequence[Click]: ...


@runtime_checkable
class AdversarialSimulator(Protocol):
    """``adversarial = True`` marks a TETRIS simulator (CONTRACT §9): instead of a density it
    has the engine search each click of two trajectories, ``<name>-min`` and ``<name>-max``,
    for the position of the allowed error region that gives the lowest / highest IoU.
    ``strategy_for(model)`` says how (``"gradient"``: Adam on the click position through the
    model's ``predict_differentiable``; ``"search"``: the candidate and ``candidates`` random
    positions in one ``predict_batch``) and raises :class:`rclicks.errors.OptionError` when
    the model cannot do what was asked; ``steps`` and ``radius`` (px, of the soft disk of the
    location penalty) set the gradient search. The built-in ``tetris`` simulator is one."""

    adversarial: bool
    candidates: int
    steps: int
    radius: float

    def strategy_for(self, model: Any) -> str: ...


# -- optional members of a dataset -------------------------------------------------------------


@runtime_checkable
class IndexableDataset(Protocol):
    """``__getitem__(i) -> Sample`` together with ``sample_ids() -> list[str]`` (the ids in
    index order, without loading anything): samples are then loaded one at a time as work
    reaches them, ``resume`` skips finished ones without loading them, and worker processes
    fetch their sample by index. Without both, the dataset is iterated in the main process."""

    def __getitem__(self, index: int) -> Sample: ...

    def sample_ids(self) -> Sequence[str]: ...


@runtime_checkable
class CheckableDataset(Protocol):
    """``check(limit=None) -> list[str]``: one message per bad file among the first ``limit``
    samples (all when ``None``), run before any model work. The samples are still loaded once
    and validated afterwards, for the manifest (see :func:`rclicks.datasets.check_dataset`)."""

    def check(self, limit: int | None = None) -> list[str]: ...


@runtime_checkable
class PrefetchSafe(Protocol):
    """``prefetch_safe = True`` declares that ``dataset[i]`` may run in several threads at
    once, so samples are decoded ahead of the model in background threads."""

    prefetch_safe: bool


@runtime_checkable
class Fingerprinted(Protocol):
    """``fingerprint``: a digest of the dataset's files, set by its ``check``; ``run.json``
    records it and ``resume`` refuses a dataset whose fingerprint changed."""

    fingerprint: str | None


# -- how the rest of rclicks reads them --------------------------------------------------------


def threshold_of(model: Any) -> float:
    """The model's foreground threshold (:data:`DEFAULT_THRESHOLD` when it declares none)."""
    return float(getattr(model, "threshold", DEFAULT_THRESHOLD))


def point_labels(points: Any, labels: Sequence[bool]) -> list[bool]:
    """The arguments of :meth:`DifferentiablePredictor.predict_differentiable` checked:
    ``points`` N×2 with N = ``len(labels)`` ≥ 1; returns the labels as a list of bools
    (:class:`ValueError` otherwise)."""
    out = [bool(v) for v in labels]
    shape = tuple(points.shape)
    if len(shape) != 2 or shape[1] != 2 or shape[0] != len(out):
        raise ValueError(f"points must be N×2 with N = len(labels) = {len(out)}, got {shape}")
    if not out:
        raise ValueError("predict_differentiable needs at least one click")
    return out


def is_baseline(simulator: Any) -> bool:
    """Does the simulator click exactly like the baseline robot (:class:`BaselineMarker`)?"""
    return isinstance(simulator, BaselineMarker) and bool(simulator.is_baseline)


def is_replay(simulator: Any) -> bool:
    """Does the simulator replay recorded clicks (:class:`ReplaySimulator`)?"""
    return bool(getattr(simulator, "replay", False)) and callable(
        getattr(simulator, "user_clicks", None)
    )


def is_adversarial(simulator: Any) -> bool:
    """Does the simulator search adversarial trajectories (:class:`AdversarialSimulator`)?"""
    return isinstance(simulator, AdversarialSimulator) and bool(simulator.adversarial)


def is_indexable(dataset: Any) -> bool:
    """Can samples be fetched by index (:class:`IndexableDataset`)?"""
    return isinstance(dataset, IndexableDataset)


def is_prefetch_safe(dataset: Any) -> bool:
    """May samples be decoded in background threads (:class:`PrefetchSafe`)?"""
    return is_indexable(dataset) and isinstance(dataset, PrefetchSafe) and dataset.prefetch_safe


def described_name(dataset: Any, default: str) -> str:
    """The dataset's ``name``, or ``default`` when it has none."""
    return str(getattr(dataset, "name", None) or default)
