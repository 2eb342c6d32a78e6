"""One sample at a time: encode the image once, run every pending instance, journal each.

The engine writes nothing itself: it hands rows and errors to a :class:`Journal` (the run
folder, :class:`rclicks.runs.RunFolder`, is one), so a crash loses at most the instance in
flight and a resume continues where the journal stops.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rclicks.engine.plan import ProtocolSettings
from rclicks.engine.trajectories import run_instance
from rclicks.protocols import ClickSimulator, Dataset, ISModel, is_indexable
from rclicks.runs.masks import empty_masks
from rclicks.types import Sample, validate_sample


class Journal(Protocol):
    """Where finished work goes (see :class:`rclicks.runs.RunFolder`). ``masks``: whether it
    keeps the predicted mask after every click (handed to ``write_instance``)."""

    masks: bool

    def instance_done(self, dataset: str, sample_id: str, instance_id: str) -> bool: ...

    def sample_done(self, dataset: str, sample_id: str) -> bool: ...

    def write_instance(
        self,
        key: tuple[str, str, str],
        rows: Mapping[str, list],
        masks: Mapping[str, list] | None = None,
    ) -> None: ...

    def mark_sample(self, dataset: str, sample_id: str, instances: Sequence[str]) -> None: ...

    def record_error(self, record: dict[str, Any]) -> None: ...


@dataclass
class SampleOutcome:
    dataset: str
    sample_id: str
    instances_done: int = 0
    instances_skipped: int = 0
    clicks: int = 0
    errors: int = 0
    seconds: float = 0.0


def record_error(
    journal: Journal,
    out: SampleOutcome,
    instance_id: str,
    stage: str,
    exc: BaseException | str,
) -> None:
    """Count and journal one failed unit of work (``instance_id`` "" = the whole sample)."""
    out.errors += 1
    if isinstance(exc, BaseException):
        message = f"{type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=8))
    else:
        message, tb = str(exc), None
    journal.record_error(
        {
            "dataset": out.dataset,
            "sample_id": out.sample_id,
            "instance_id": instance_id,
            "stage": stage,
            "error": message,
            "traceback": tb,
            "time": time.time(),
        }
    )


def sample_failed(
    journal: Journal,
    label: str,
    dataset: Dataset,
    index: int,
    stage: str,
    exc: BaseException | str,
) -> SampleOutcome:
    """Journal an error of the whole sample ``index`` (instance ""), named by its id when the
    dataset can say it; a resume tries the sample again."""
    try:
        sample_id = str(dataset.sample_ids()[index])  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - only for the message
        sample_id = f"#{index}"
    out = SampleOutcome(label, sample_id)
    record_error(journal, out, "", stage, exc)
    return out


def load_failed(
    journal: Journal, label: str, dataset: Dataset, index: int, exc: BaseException
) -> SampleOutcome:
    """A sample that passed the check but cannot be read now (a file changed or vanished):
    journaled as a ``dataset`` error of the whole sample; a resume tries it again."""
    return sample_failed(journal, label, dataset, index, "dataset", exc)


def process_sample(
    model: ISModel,
    simulators: Mapping[str, ClickSimulator],
    settings: ProtocolSettings,
    journal: Journal,
    dataset: str,
    sample: Sample,
    on_instance: Callable[[SampleOutcome], None] | None = None,
) -> SampleOutcome:
    """Encode the image once and run every instance the journal does not hold yet; a plugin
    failing on one instance is journaled and the others go on."""
    out = SampleOutcome(dataset, sample.sample_id)
    t_start = time.perf_counter()
    todo = [
        iid for iid in sample.instances if not journal.instance_done(dataset, sample.sample_id, iid)
    ]
    out.instances_skipped = len(sample.instances) - len(todo)
    if not todo:
        journal.mark_sample(dataset, sample.sample_id, list(sample.instances))
        return out
    problems = validate_sample(sample)
    if problems:
        for iid in todo:
            record_error(journal, out, iid, "dataset", "; ".join(problems))
        return out
    try:
        embedding = model.encode(sample.image)
    except Exception as exc:  # noqa: BLE001 - journaled, the run goes on
        for iid in todo:
            record_error(journal, out, iid, "encode", exc)
        return out
    for iid in todo:
        key = (dataset, sample.sample_id, iid)
        masks = empty_masks() if getattr(journal, "masks", False) else None
        try:
            rows = run_instance(
                model,
                embedding,
                sample.image,
                sample.instances[iid],
                sample.ignore,
                simulators,
                settings,
                key,
                list(sample.instances),
                masks,
            )
        except Exception as exc:  # noqa: BLE001 - journaled, the run goes on
            record_error(journal, out, iid, "predict", exc)
            continue
        journal.write_instance(key, rows, masks)
        out.instances_done += 1
        out.clicks += len(rows["click"])
        if on_instance is not None:
            on_instance(out)
    if out.errors == 0:
        journal.mark_sample(dataset, sample.sample_id, list(sample.instances))
    out.seconds = time.perf_counter() - t_start
    return out


def pending_samples(
    dataset: Dataset, journal: Journal, label: str, limit: int | None
) -> Iterator[tuple[int, Sample | None]]:
    """``(index, sample)`` for the samples the journal has not finished. An indexable dataset
    is listed by index without loading anything (``sample`` is None: load it with
    ``dataset[index]``); any other is iterated (``sample`` is the loaded sample)."""
    n = len(dataset)
    if limit is not None:
        n = min(n, limit)
    if is_indexable(dataset):
        ids = dataset.sample_ids()  # type: ignore[attr-defined]
        for i in range(n):
            if not journal.sample_done(label, str(ids[i])):
                yield i, None
        return
    for i, sample in enumerate(dataset):
        if i >= n:
            break
        if not journal.sample_done(label, sample.sample_id):
            yield i, sample
