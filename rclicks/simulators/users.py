"""The ``users`` simulator: replay of real people's first clicks from an RClicks ``clicks.csv``.

It has no density: for every instance it hands the engine the recorded first clicks (one
single-click trajectory each), so ``rclicks eval --simulator users`` measures IoU@1 per real
click and the User NSR (how unequal the first click leaves people) per instance and dataset.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rclicks.errors import ClicksFileError, OptionError
from rclicks.realclicks.clicks_csv import ClickSet, canonical_dataset, load_clicks
from rclicks.types import Click

ENV_CLICKS = "RCLICKS_CLICKS"


class UsersSimulator:
    """Recorded first clicks of real users, optionally only those made on an
    ``input_device`` (``pc`` / ``mobile``). ``dataset`` names the clicks.csv dataset to take
    clicks from (default: the evaluated dataset's own name; ``COCO`` is ``COCO_MVal``)."""

    deterministic = True
    replay = True

    def __init__(
        self,
        clicks: str | os.PathLike | None = None,
        input_device: str = "all",
        dataset: str | None = None,
    ) -> None:
        if clicks in (None, ""):
            clicks = os.environ.get(ENV_CLICKS)
        if not clicks:
            raise ClicksFileError(
                "users simulator: no clicks file; pass --sim-opt clicks=PATH/clicks.csv or set "
                f"${ENV_CLICKS} (the RClicks clicks.csv, published with the RClicks dataset)"
            )
        if input_device not in ("all", "pc", "mobile"):
            raise OptionError(
                f"users simulator: input_device must be all, pc or mobile; got {input_device!r}"
            )
        self.path = Path(clicks)
        self.input_device = input_device
        self.dataset = None if dataset in (None, "") else canonical_dataset(str(dataset))
        table = load_clicks(self.path)
        self._index: dict[tuple[str, str, str], ClickSet] = {}
        for s in table.sets(click_types=["first"]):
            self._index[(s.dataset, s.image_stem, s.object_stem)] = s
        self.sets = len(self._index)

    def _lookup(self, dataset: str, sample_id: str, instance_id: str, instance_ids):
        ds = self.dataset or canonical_dataset(dataset)
        s = self._index.get((ds, sample_id, instance_id))
        if s is None and len(instance_ids) == 1:  # empty object_stem: the image's only object
            s = self._index.get((ds, sample_id, ""))
        return s

    def user_clicks(
        self,
        dataset: str,
        sample_id: str,
        instance_id: str,
        shape: tuple[int, int],
        instance_ids: Sequence[str] = (),
    ) -> list[Click]:
        s = self._lookup(dataset, sample_id, instance_id, list(instance_ids) or [instance_id])
        if s is None:
            return []
        xs, ys = s.in_image(shape, self.input_device)
        return [Click(int(x), int(y), True) for x, y in zip(xs, ys)]

    def density(self, image, gt_mask, error_mask):
        raise TypeError(
            "the users simulator replays recorded clicks and has no density; use it with "
            "`rclicks eval --simulator users` (scoring it against itself is meaningless)"
        )
