"""The ``ray`` backend: the samples of a run spread over actors of a Ray cluster.

Each actor builds the model, simulators and datasets once (from the same components the local
backend sends to its processes) and then computes one sample per call. It writes nothing: the
engine's journal calls are recorded (:class:`Recorder`) and handed back with the outcome, and the
driver alone applies them to the run folder, in the same files and by the same code as every
other run — so ``resume``, determinism, the merge and the summary are shared, not re-implemented.

Scheduling is dynamic: each actor has at most :data:`IN_FLIGHT` samples queued (one computing,
the next one being decoded by the actor's second thread), and the next sample goes to whichever
actor frees a slot first, so a slow image holds up one actor only.

Faults: actors restart when their process or node dies (``max_restarts=-1``). A sample whose
actor died is computed again from scratch on any actor — nothing of it was written, since the
driver writes a sample only once its result is back, so no click is lost or duplicated. A
sample that was *computing* when its actor died :data:`MAX_ATTEMPTS` times is recorded in
``errors.jsonl`` (stage ``worker``) and the run goes on. While Ray restarts an actor it gets no
work (it would refuse it) until a probe answers; an actor whose restart fails, or takes longer
than the start-up timeout, or whose calls fail :data:`MAX_ACTOR_FAILURES` times in a row, is
given up.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from rclicks.api.components import Component
from rclicks.datasets.prefetch import prefetch
from rclicks.engine.plan import ProtocolSettings
from rclicks.engine.samples import SampleOutcome, load_failed, process_sample, sample_failed
from rclicks.errors import OptionError, RunError
from rclicks.runs.folder import RunFolder, unit_digest

INSTALL = 'pip install "rclicks[ray]"'
#: samples queued on one actor at a time (one computing, one decoding)
IN_FLIGHT = 2
#: a sample is given up (recorded as an error) after its actor died this often while computing it
MAX_ATTEMPTS = 3
#: an actor is given up after this many failed calls in a row
MAX_ACTOR_FAILURES = 5
#: seconds to wait for a TCP connection when probing a cluster address
PROBE_SECONDS = 5.0


def import_ray() -> Any:
    """The ``ray`` module, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RunError(
            f"backend 'ray' needs Ray, which is not installed in this environment: {INSTALL}"
        ) from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """How a run uses Ray: ``address`` of an existing cluster (None: ``$RAY_ADDRESS``, else a
    local instance started for the run), GPUs and CPUs each actor reserves, and whether the
    driver ships the decoded samples through the object store (``ship_data``) instead of each
    actor reading them from the dataset itself."""

    address: str | None = None
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    ship_data: bool = False

    def __post_init__(self) -> None:
        for name in ("gpus_per_worker", "cpus_per_worker"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OptionError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise OptionError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.cpus_per_worker <= 0 and self.gpus_per_worker <= 0:
            raise OptionError("an actor must reserve some CPU or GPU (cpus_per_worker > 0)")


def ray_device(device: str | None, options: RayOptions) -> str:
    """The device the actors resolve on their nodes. Ray hides the GPUs from an actor that
    reserves none, so a CUDA device needs ``gpus_per_worker > 0``."""
    from rclicks.devices import device_name

    name = device_name(device)
    if name.startswith("cuda") and options.gpus_per_worker <= 0:
        raise OptionError(
            f"device={name} on Ray needs GPUs for the actors: give --gpus-per-worker (e.g. 1, or "
            "0.5 for two actors per GPU); Ray hides the GPUs from an actor that reserves none"
        )
    return name


def target_address(address: str | None) -> str | None:
    """The cluster to connect to: ``address``, else ``$RAY_ADDRESS``, else None (start a local
    instance)."""
    chosen = address if address else os.environ.get("RAY_ADDRESS", "").strip() or None
    return None if chosen in (None, "local") else chosen


def _probe(address: str) -> str | None:
    """Why ``address`` cannot be reached over TCP (None when it can, or cannot be probed)."""
    if address == "auto":
        return None
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    host, port = parsed.hostname, parsed.port
    if not host or not port:
        return f"{address!r} is not HOST:PORT (or ray://HOST:PORT)"
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS):
            return None
    except OSError as exc:
        return f"a TCP connection to {host}:{port} failed ({exc.strerror or exc})"


def forwarded_env() -> dict[str, str]:
    """The environment an actor needs from the driver: rclicks' own variables (data roots,
    checkpoints, threads) — actors on other nodes do not inherit the driver's environment."""
    return {k: v for k, v in os.environ.items() if k.startswith("RCLICKS_")}


def _unreachable(options: RayOptions, address: str, problem: str) -> RunError:
    origin = "--ray-address" if options.address else "$RAY_ADDRESS"
    return RunError(
        f"cannot reach the Ray cluster at {address} (from {origin}): {problem}. Start one with "
        "`ray start --head` (its output prints the address) or leave the address out to start a "
        "local Ray instance for the run"
    )


def check_reachable(options: RayOptions) -> None:
    """Fail now — before any work — when the cluster's address does not answer over TCP."""
    address = target_address(options.address)
    if address is not None:
        problem = _probe(address)
        if problem is not None:
            raise _unreachable(options, address, problem)


def connect(ray: Any, options: RayOptions) -> tuple[bool, str]:
    """Connect this process to Ray; ``(whether rclicks must disconnect afterwards, the address
    as reported)``. A process already connected (``ray.init`` in a notebook) is used as is."""
    import logging

    if ray.is_initialized():
        return False, "existing connection"
    address = target_address(options.address)
    runtime_env = {"env_vars": forwarded_env()}
    if address is None:
        ray.init(include_dashboard=False, logging_level=logging.WARNING, runtime_env=runtime_env)
        return True, "local"
    check_reachable(options)
    try:
        ray.init(address=address, logging_level=logging.WARNING, runtime_env=runtime_env)
    except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
        raise _unreachable(
            options, address, f"ray.init(address={address!r}) failed: {type(exc).__name__}: {exc}"
        ) from None
    return True, address


# -- the actor side ---------------------------------------------------------------------------


class Recorder:
    """A journal that keeps the engine's calls instead of writing files, for the driver to
    apply to the run folder (:func:`apply`). ``done``: digests of the instances the run folder
    already holds (a resumed run skips them, as with any other journal)."""

    def __init__(self, masks: bool, done: frozenset[str]) -> None:
        self.masks = masks
        self.done = done
        self.calls: list[tuple] = []

    def instance_done(self, dataset: str, sample_id: str, instance_id: str) -> bool:
        return unit_digest(dataset, sample_id, instance_id) in self.done

    def sample_done(self, dataset: str, sample_id: str) -> bool:
        return False  # the driver sends only samples the run folder has not finished

    def write_instance(self, key: tuple, rows: Mapping, masks: Mapping | None = None) -> None:
        self.calls.append(("write_instance", tuple(key), dict(rows), masks))

    def mark_sample(self, dataset: str, sample_id: str, instances: Sequence[str]) -> None:
        self.calls.append(("mark_sample", dataset, sample_id, list(instances)))

    def record_error(self, record: dict[str, Any]) -> None:
        self.calls.append(("record_error", record))


def apply(folder: RunFolder, calls: Iterable[tuple]) -> None:
    """Write what an actor's :class:`Recorder` kept, in the order the engine made the calls."""
    for name, *args in calls:
        if name == "write_instance":
            folder.write_instance(*args)
        elif name == "mark_sample":
            folder.mark_sample(*args)
        elif name == "record_error":
            folder.record_error(*args)
        else:  # pragma: no cover - only this module makes the calls
            raise RunError(f"unknown journal call {name!r} from a Ray actor")


class Evaluator:
    """One Ray actor: the components built once, then one sample per :meth:`run` call. Runs two
    calls at once (``max_concurrency=2``): one decodes its sample while the other computes."""

    def __init__(
        self,
        model: Component,
        simulators: list[Component],
        datasets: list[Component],
        settings: ProtocolSettings,
        device: str,
        masks: bool,
        done: frozenset[str],
        cwd: str,
        threads: int,
    ) -> None:
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self.failure: str | None = None
        self.device = device
        self.masks = masks
        self.done = done
        self.settings = settings
        self.lock = threading.Lock()
        try:
            if os.path.isdir(cwd):  # relative paths mean what they meant to the driver
                os.chdir(cwd)
            import rclicks.clicks  # noqa: F401 - sets OpenCV to one thread per process
            from rclicks.devices import resolve_device
            from rclicks.engine.threads import cpus, set_share

            set_share(max(1, cpus() // max(1, threads)))  # the step threads: this actor's CPUs
            self.device = resolve_device(device)
            self.model = model.build(self.device)
            self.simulators = {c.name: c.build(self.device) for c in simulators}
            self.datasets = {c.name: c.build() for c in datasets}
        except Exception as exc:  # noqa: BLE001 - reported by where(), the driver stops
            self.failure = "".join(traceback.format_exception_only(type(exc), exc)).strip()

    def where(self) -> dict[str, Any]:
        """Where this actor runs, and why it cannot work (``failure``) if it cannot."""
        import ray

        return {
            "node": self.node,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "device": self.device,
            "gpus": [str(g) for g in ray.get_gpu_ids()],
            "failure": self.failure,
        }

    def run(self, item: tuple[str, str, int], sample: Any = None) -> tuple[Any, list, str]:
        """Compute one sample — ``item`` is (dataset name, label, index); ``sample`` the decoded
        sample when the driver shipped it — and return (outcome, journal calls, node id)."""
        if self.failure is not None:
            raise RunError(self.failure)
        name, label, index = item
        journal = Recorder(self.masks, self.done)
        if sample is None:
            try:
                sample = self.datasets[name][index]
            except Exception as exc:  # noqa: BLE001 - journaled, the run goes on
                return (
                    load_failed(journal, label, self.datasets[name], index, exc),
                    journal.calls,
                    self.node,
                )
        with self.lock:
            outcome = process_sample(
                self.model, self.simulators, self.settings, journal, label, sample
            )
        return outcome, journal.calls, self.node


# -- the driver side --------------------------------------------------------------------------


@dataclass
class _Task:
    item: tuple[str, str, int]
    sample: Any = None  # an ObjectRef of the decoded sample when shipped
    attempts: int = 0


@dataclass
class _Actor:
    handle: Any
    info: dict[str, Any]
    queued: deque = field(default_factory=deque)  # ObjectRefs in submission order
    failures: int = 0  # calls failed in a row (not counting those while it is down)
    alive: bool = True
    samples: int = 0
    down_since: float | None = None  # its process died: waiting for Ray to restart it
    probe: Any = None  # an ObjectRef of where(), asking whether it is back
    next_probe: float = 0.0


def cluster_info(ray: Any) -> dict[str, Any]:
    """The cluster as run.json records it: its live nodes with their CPUs and GPUs."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "nodes": [
            {
                "id": n["NodeID"],
                "address": n.get("NodeManagerAddress"),
                "cpus": n.get("Resources", {}).get("CPU", 0),
                "gpus": n.get("Resources", {}).get("GPU", 0),
            }
            for n in nodes
        ],
        "cpus": sum(n.get("Resources", {}).get("CPU", 0) for n in nodes),
        "gpus": sum(n.get("Resources", {}).get("GPU", 0) for n in nodes),
    }


def run_ray(
    options: RayOptions,
    workers: int,
    model: Component,
    simulators: list[Component],
    datasets: list[Component],
    settings: ProtocolSettings,
    device: str,
    folder: RunFolder,
    work: Iterable[tuple[str, str, int, Any]],
    done: Callable[[SampleOutcome], None],
    built: Mapping[str, Any],
    ship: set[str],
    prefetch_depth: int,
    started: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``work`` — (dataset name, label, index, sample or None) — on ``workers`` actors;
    ``done`` gets each sample's outcome once the driver has written it. Datasets named in
    ``ship`` are decoded here (``built``) and sent through the object store. ``started`` gets the
    cluster's description once the actors are up. Returns what run.json records of the run."""
    ray = import_ray()  # the components were checked to pickle by evaluate, before any work
    disconnect, address = connect(ray, options)
    try:
        info = {
            "version": ray.__version__,
            "address": address,
            **cluster_info(ray),
            "gpus_per_worker": options.gpus_per_worker,
            "cpus_per_worker": options.cpus_per_worker,
            "ship_data": sorted(ship),
        }
        actors = _start_actors(
            ray, options, workers, model, simulators,
            [c for c in datasets if c.name not in ship],
            settings, device, folder,
        )  # fmt: skip
        info["actors"] = [{k: a.info[k] for k in ("node", "host", "pid", "device")} for a in actors]
        if started is not None:
            started(info)
        counts = _schedule(ray, actors, folder, work, done, built, ship, prefetch_depth)
        for entry, actor in zip(info["actors"], actors, strict=True):
            entry["samples"] = actor.samples
        info["samples_by_node"] = counts["nodes"]
        info["retried_samples"] = counts["retried"]
        info["actor_deaths"] = counts["deaths"]
        return info
    finally:
        if disconnect:
            ray.shutdown()


def _start_actors(
    ray: Any,
    options: RayOptions,
    workers: int,
    model: Component,
    simulators: list[Component],
    datasets: list[Component],
    settings: ProtocolSettings,
    device: str,
    folder: RunFolder,
) -> list[_Actor]:
    cls = ray.remote(Evaluator).options(
        num_cpus=options.cpus_per_worker,
        num_gpus=options.gpus_per_worker,
        max_restarts=-1,
        max_task_retries=0,
        max_concurrency=IN_FLIGHT,
    )
    done = folder.finished_instances()
    threads = max(1, math.ceil(options.cpus_per_worker))
    handles = [
        cls.remote(
            model,
            simulators,
            datasets,
            settings,
            device,
            folder.masks,
            done,
            os.getcwd(),
            threads,
        )  # fmt: skip
        for _ in range(workers)
    ]
    wheres = [h.where.remote() for h in handles]
    ready, waiting = ray.wait(wheres, num_returns=len(wheres), timeout=_start_timeout())
    if waiting:
        raise RunError(
            f"only {len(ready)} of {workers} Ray actors started within {_start_timeout():.0f} s: "
            f"the cluster lacks the resources ({options.cpus_per_worker:g} CPU, "
            f"{options.gpus_per_worker:g} GPU per actor; it has "
            f"{ray.cluster_resources().get('CPU', 0):g} CPU, "
            f"{ray.cluster_resources().get('GPU', 0):g} GPU). Ask for fewer --workers or a "
            "smaller --gpus-per-worker (set $RCLICKS_RAY_START_TIMEOUT to wait longer)"
        )
    infos = ray.get(wheres)
    for where in infos:
        if where["failure"]:
            raise RunError(
                f"a Ray actor on {where['host']} (node {where['node'][:12]}) could not build the "
                f"run's components: {where['failure']}. Every node needs the same rclicks, "
                "plugins, checkpoints and data paths as this machine"
            )
    return [_Actor(h, w) for h, w in zip(handles, infos, strict=True)]


def _start_timeout() -> float:
    raw = os.environ.get("RCLICKS_RAY_START_TIMEOUT", "").strip()
    try:
        return float(raw) if raw else 300.0
    except ValueError:
        raise OptionError(f"$RCLICKS_RAY_START_TIMEOUT must be seconds, got {raw!r}") from None


def _schedule(
    ray: Any,
    actors: list[_Actor],
    folder: RunFolder,
    work: Iterable[tuple[str, str, int, Any]],
    done: Callable[[SampleOutcome], None],
    built: Mapping[str, Any],
    ship: set[str],
    depth: int,
) -> dict[str, Any]:
    """Hand samples to free actor slots until every one is written.

    An actor whose call fails with a ``RayActorError`` is *down*: its queued samples go back
    to the queue (only the one it was computing counts an attempt) and nothing more is sent to
    it until a probe (``where()``, with a growing pause) answers — Ray refuses calls while it
    restarts the process. An actor that stays down longer than the start-up timeout, or whose
    restart fails in its constructor, is given up."""
    from ray.exceptions import RayActorError

    def load(entry: tuple[str, str, int, Any]) -> Any:
        name, _label, index, sample = entry
        if name not in ship:
            return None
        return ray.put(sample if sample is not None else built[name][index])

    source = prefetch(load, work, depth)  # shipped samples are decoded ahead, here
    retry: deque[_Task] = deque()
    flight: dict[Any, tuple[_Actor, _Task]] = {}
    probes: dict[Any, _Actor] = {}
    counts: dict[str, Any] = {"nodes": {}, "retried": 0, "deaths": 0}
    patience = _start_timeout()

    def next_task() -> _Task | None:
        if retry:
            return retry.popleft()
        for (name, label, index, _), ref, exc in source:  # an ended generator yields nothing
            if exc is not None:  # a shipped sample that cannot be read: journaled here
                done(load_failed(folder, label, built[name], index, exc))
                continue
            return _Task((name, label, index), ref)
        return None

    def went_down(actor: _Actor) -> None:
        """Its process died: requeue what it held (the oldest call was computing)."""
        actor.down_since = time.monotonic()
        actor.next_probe = actor.down_since + 0.5
        counts["deaths"] += 1
        for k, ref in enumerate(list(actor.queued)):
            _, task = flight.pop(ref)
            task.attempts += int(k == 0)
            if task.attempts >= MAX_ATTEMPTS:
                _give_up(folder, built, task, "its Ray actor died while computing it", done)
            else:
                counts["retried"] += 1
                retry.append(task)
        actor.queued.clear()

    while True:
        now = time.monotonic()
        for actor in actors:
            if not actor.alive:
                continue
            if actor.down_since is not None:
                if actor.probe is None and now >= actor.next_probe:
                    actor.probe = actor.handle.where.remote()
                    probes[actor.probe] = actor
                continue
            while len(actor.queued) < IN_FLIGHT:
                task = next_task()
                if task is None:
                    break
                ref = actor.handle.run.remote(task.item, task.sample)
                actor.queued.append(ref)
                flight[ref] = (actor, task)
        if not flight:
            task = next_task()
            if task is None:
                break
            retry.appendleft(task)  # work is left, but no actor can take it now
            if not any(a.alive for a in actors):
                raise RunError(
                    "every Ray actor of the run was given up (see the messages above); the "
                    f"samples finished so far are kept in {folder.journal} (resume the run to "
                    "continue)"
                )
        waiting = [*flight, *probes]
        if not waiting:  # every actor is down, its next probe not yet due
            time.sleep(0.1)
            continue
        ready, _ = ray.wait(waiting, num_returns=1, timeout=0.5)
        for ref in ready:
            if ref in probes:
                actor = probes.pop(ref)
                actor.probe = None
                try:
                    ray.get(ref)
                except RayActorError as exc:
                    waited = time.monotonic() - (actor.down_since or 0.0)
                    if "creation task" in str(exc) or waited > patience:
                        actor.alive = False  # its restart failed, or takes too long
                    else:
                        actor.next_probe = time.monotonic() + min(5.0, 0.5 + waited / 4)
                else:
                    actor.down_since = None
                    actor.failures = 0
                continue
            if ref not in flight:  # requeued when its actor went down
                continue
            actor, task = flight[ref]
            try:
                outcome, calls, node = ray.get(ref)
            except RayActorError:  # its process or node died: compute it again
                went_down(actor)
                continue
            except Exception as exc:  # noqa: BLE001 - the call itself raised: journaled
                outcome = None
                actor.failures += 1
                task.attempts += 1
                _give_up(folder, built, task, exc, done)
            del flight[ref]
            actor.queued.remove(ref)
            if outcome is not None:
                actor.failures = 0
                actor.samples += 1
                apply(folder, calls)
                counts["nodes"][node] = counts["nodes"].get(node, 0) + 1
                done(outcome)
            if actor.failures >= MAX_ACTOR_FAILURES:
                actor.alive = False
    return counts


def _give_up(
    folder: RunFolder,
    built: Mapping[str, Any],
    task: _Task,
    exc: BaseException | str,
    done: Callable[[SampleOutcome], None],
) -> None:
    """Record a sample that could not be computed (the run goes on; a resume retries it)."""
    name, label, index = task.item
    if isinstance(exc, str):
        message = f"{exc} ({task.attempts} times)"
    else:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        message = f"{type(exc).__name__} after {task.attempts} attempt(s): {first}"
    done(sample_failed(folder, label, built[name], index, "worker", message))
