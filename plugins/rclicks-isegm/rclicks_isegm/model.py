"""An rclicks ``ISModel`` around a RITM or SimpleClick network and the reference predictor.

``encode`` does the per-image work that trajectories share: the image as a 1×3×H×W float32
tensor in [0, 1] on the model's device (``uint8 / 255``, as the reference's ``ToTensor``). The
network itself cannot be shared between clicks: these are early-fusion networks, whose first
layer already sees the click maps and the previous mask, so every click is a whole forward.
``predict_batch`` runs the trajectories of a click step as one network batch (their zoomed
inputs of equal size stacked, two items each with the flip).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rclicks_isegm.predictor import (
    Click,
    TrajectoryState,
    ZoomIn,
    differentiable_step,
    new_state,
    predict_steps,
)

#: the prediction threshold of the RClicks evaluation of these models (``--thresh=0.49``)
THRESHOLD = 0.49


@dataclass(frozen=True)
class Embedding:
    image: torch.Tensor  # 1×3×H×W float32 in [0, 1]
    height: int
    width: int


class IsegmModel:
    """``net``: a module whose ``forward(image B×4×h×w, points B×2N×3)`` returns a dict with
    ``"instances"`` logits (the networks of this package); ``zoom``: the predictor's zoom-in
    (None: off); ``threshold``: foreground is ``prob > threshold``; ``dtype``: the network's
    floating-point type (float64 removes float32 rounding, for exact comparisons);
    ``cascade``: CFR-ICL's cascade-forward — a trajectory with at most ``cascade_clicks``
    clicks is predicted ``cascade`` times in a row, each pass taking the previous pass's map
    as its previous mask (``inference/predictors/cfr.py``: ``cascade_step = cf_n + 1``)."""

    def __init__(
        self,
        net: torch.nn.Module,
        zoom: ZoomIn | None,
        device: str = "cpu",
        threshold: float = THRESHOLD,
        name: str = "isegm",
        dtype: torch.dtype = torch.float32,
        cascade: int = 1,
        cascade_clicks: int = 1,
        per_call: int | None = None,
    ) -> None:
        if cascade < 1:
            raise ValueError(f"cascade must be >= 1, got {cascade}")
        self.per_call = per_call
        self.cascade = int(cascade)
        self.cascade_clicks = int(cascade_clicks)
        self.dtype = dtype
        self.net = net.eval().to(device=device, dtype=dtype)
        self.zoom = zoom
        self.device = torch.device(device)
        self.threshold = float(threshold)
        self.name = name

    def _own_state(self, embedding: Embedding, state: TrajectoryState | None) -> TrajectoryState:
        """A fresh state, or a copy: a state handed to a predict method is never changed (a
        caller may branch from it)."""
        if state is None:
            return new_state(embedding.height, embedding.width, self.device)
        return dataclasses.replace(state)

    def _passes(self, clicks: int) -> int:
        """How often a click step runs: ``cascade`` times while the trajectory has at most
        ``cascade_clicks`` clicks, else once."""
        return self.cascade if clicks <= self.cascade_clicks else 1

    def _logits(self, x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        # the network in its dtype; everything around it (maps, zoom, flip) in float32
        return self.net(x.to(self.dtype), points)["instances"].float()

    def encode(self, image: np.ndarray) -> Embedding:
        h, w = image.shape[:2]
        t = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None]  # a copy
        return Embedding(t.to(self.device).float().div(255), h, w)

    def predict(
        self, embedding: Embedding, clicks: Sequence[Any], state: TrajectoryState | None
    ) -> tuple[np.ndarray, TrajectoryState]:
        probs, states = self.predict_batch(embedding, [clicks], [state])
        return probs[0], states[0]

    def predict_batch(
        self,
        embedding: Embedding,
        clicks: Sequence[Sequence[Any]],
        states: Sequence[TrajectoryState | None],
    ) -> tuple[list[np.ndarray], list[TrajectoryState]]:
        steps = [
            (
                self._own_state(embedding, state),
                [Click(c.y, c.x, bool(c.positive), i) for i, c in enumerate(trajectory)],
            )
            for trajectory, state in zip(clicks, states)
        ]
        with torch.no_grad():
            probs = predict_steps(self._logits, embedding.image, steps, self.zoom, self.per_call)
            again = [i for i, (_, c) in enumerate(steps) if self._passes(len(c)) > 1]
            for _ in range(self.cascade - 1 if again else 0):
                more = predict_steps(
                    self._logits,
                    embedding.image,
                    [steps[i] for i in again],
                    self.zoom,
                    self.per_call,
                )
                for i, p in zip(again, more):
                    probs[i] = p
        return (
            [p[0, 0].float().cpu().numpy() for p in probs],
            [st for st, _ in steps],
        )

    def predict_differentiable(
        self,
        embedding: Embedding,
        points: torch.Tensor,
        labels: Sequence[bool],
        state: TrajectoryState | None,
    ) -> torch.Tensor:
        """H×W logits for the clicks ``points`` (N×2 float ``(x, y)``, all clicks of the
        trajectory in order) with the gradient reaching them, through the soft disk encoding
        (:func:`rclicks_isegm.maps.soft_disk_maps`): the values of :meth:`predict` for the
        same clicks (the CFR-ICL cascade included). ``state`` is not changed."""
        st = self._own_state(embedding, state)

        def net_maps(x: torch.Tensor, coord: torch.Tensor) -> torch.Tensor:
            out = self.net.forward_maps(x.to(self.dtype), coord.to(self.dtype))
            return out["instances"].float()

        passes = self._passes(len(points))
        for k in range(passes):
            prob = differentiable_step(net_maps, embedding.image, st, points, labels, self.zoom)
            if k + 1 < passes:  # the next pass takes this map as its previous mask
                st.prev, st.predicted = prob[None, None], True
        return torch.logit(prob, eps=1e-6)
