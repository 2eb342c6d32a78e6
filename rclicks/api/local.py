"""The ``local`` backend: samples spread over ``workers`` processes on this machine.

Workers are *spawned* (never forked: torch and CUDA do not survive a fork). Each one builds
the components once — by name from their resolved factories, or unpickled when they were
objects — and then works on samples by index, journaling into the run folder as the main
process would. A spawned child normally imports the caller's main script again; when no
component needs anything from ``__main__``, rclicks tells the child not to, so a plain
script without an ``if __name__ == "__main__":`` guard runs with ``workers > 1`` too.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.spawn
import pickle
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from rclicks.api.components import Component
from rclicks.datasets.prefetch import prefetch
from rclicks.engine.plan import ProtocolSettings
from rclicks.engine.samples import SampleOutcome, load_failed, process_sample
from rclicks.errors import RunError
from rclicks.runs.folder import RunFolder

T = TypeVar("T")

_WORKER: dict[str, Any] = {}

MAIN_GUARD = (
    'put the code that calls rclicks under `if __name__ == "__main__":` (a worker process '
    "imports your script again to find the objects defined in it)"
)


def refuse_reentry() -> None:
    """Called by the API: a worker process that is importing the caller's script must not
    start a run of its own (the script has no ``__main__`` guard)."""
    # a spawned child imports the parent's script as __mp_main__ and only makes it __main__
    # once the import is over
    importing = sys.modules.get("__mp_main__")
    if importing is not None and sys.modules.get("__main__") is not importing:
        raise RunError(
            "rclicks was called while a worker process imported the main script: " + MAIN_GUARD
        )


def _needs_main(components: Sequence[Component]) -> bool:
    return any(b"__main__" in pickle.dumps(c) for c in components)


@contextlib.contextmanager
def _children_skip_main(skip: bool) -> Iterator[None]:
    """While active, spawned children do not re-import the main script (when ``skip``)."""
    if not skip:
        yield
        return
    real = multiprocessing.spawn.get_preparation_data

    def preparation(name: str) -> dict[str, Any]:
        data = real(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    multiprocessing.spawn.get_preparation_data = preparation
    try:
        yield
    finally:
        multiprocessing.spawn.get_preparation_data = real


def _worker_init(
    model: Component,
    simulators: list[Component],
    datasets: list[Component],
    settings: ProtocolSettings,
    device: str,
    out: str,
    masks: bool = False,
    workers: int = 1,
) -> None:
    import rclicks.clicks  # noqa: F401 - sets OpenCV to one thread per worker
    from rclicks.engine.threads import set_share

    set_share(workers)  # the workers share this machine's CPUs for their step threads

    _WORKER.update(
        model=model.build(device),
        simulators={c.name: c.build(device) for c in simulators},
        datasets={c.name: c.build() for c in datasets},
        settings=settings,
        folder=RunFolder(out, masks),
    )


def _worker_run(items: list[tuple[str, str, int]], depth: int) -> list[SampleOutcome]:
    """A few consecutive samples, the next ones decoded while one is computed (``depth``)."""
    folder = _WORKER["folder"]
    out = []

    def load(item: tuple[str, str, int]) -> Any:
        return _WORKER["datasets"][item[0]][item[2]]

    for (name, label, index), sample, exc in prefetch(load, items, min(depth, len(items))):
        if exc is not None:  # journaled, the run goes on
            out.append(load_failed(folder, label, _WORKER["datasets"][name], index, exc))
            continue
        out.append(
            process_sample(
                _WORKER["model"],
                _WORKER["simulators"],
                _WORKER["settings"],
                folder,
                label,
                sample,
            )  # fmt: skip
        )
        del sample
    return out


def chunks(work: Sequence[T], workers: int, depth: int) -> list[list[T]]:
    """``work`` in consecutive pieces for the workers: ``depth`` samples each (what a worker
    decodes ahead), fewer when that would leave some worker fewer than four pieces."""
    size = max(1, min(depth, len(work) // (4 * max(1, workers))))
    return [list(work[i : i + size]) for i in range(0, len(work), size)]


def run_workers(
    workers: int,
    model: Component,
    simulators: list[Component],
    datasets: list[Component],
    settings: ProtocolSettings,
    device: str,
    folder: RunFolder,
    work: Sequence[tuple[str, str, int]],
    done: Callable[[SampleOutcome], None],
    prefetch_depth: int = 0,
) -> None:
    """Run ``work`` — (dataset name, dataset label, sample index) — on ``workers`` spawned
    processes; ``done`` gets each sample's outcome as it finishes. Each worker gets a few
    consecutive samples at a time and decodes up to ``prefetch_depth`` of them ahead."""
    components = [model, *simulators, *datasets]
    for c in components:
        c.check_portable()
    with _children_skip_main(not _needs_main(components)):
        try:
            with ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(
                    model,
                    simulators,
                    datasets,
                    settings,
                    device,
                    str(folder.path),
                    folder.masks,
                    workers,
                ),
            ) as pool:
                futures = [
                    pool.submit(_worker_run, piece, prefetch_depth)
                    for piece in chunks(work, workers, prefetch_depth)
                ]
                for f in as_completed(futures):
                    for outcome in f.result():
                        done(outcome)
        except BrokenProcessPool:
            raise RunError(
                f"a worker process stopped unexpectedly; every instance it finished is kept in "
                f"{folder.journal} (resume the run to continue). If your script calls rclicks "
                f"at its top level with objects defined in it, {MAIN_GUARD}; otherwise its "
                "output above says why it stopped"
            ) from None
