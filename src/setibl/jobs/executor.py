"""One way to map work over serial, local processes or Ray, used by every parallel job.

Library functions below ``jobs`` never start workers: they expose a picklable per-unit function
and accept a ``mapper`` (``(function, items) -> results in order``); the jobs pass
:meth:`Executor.map`. Results always come back in the order of ``items``, so outputs do not
depend on the worker count or the backend.

Processes start with ``fork`` only while TensorFlow has not been imported in this process (a
fork after TensorFlow's thread pools exist can deadlock); otherwise ``forkserver`` (POSIX) or
``spawn``. Ray (``pip install 'setibl[ray]'``) starts an embedded local instance sized to
``workers`` unless ``ray_address`` joins an existing cluster. With an initializer or GPUs the
items go to ``workers`` Ray actors in turn (the initializer runs once per actor); otherwise to
plain tasks. ``gpus_per_item`` > 0 makes every actor ask Ray for that many GPUs (a fraction:
several share one), and a cluster none of whose live nodes offers that many is an error rather
than actors that wait forever.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from setibl.config_rules import valid_gpu_count
from setibl.errors import ConfigError

Item = TypeVar("Item")
Result = TypeVar("Result")
BACKENDS = ("serial", "processes", "ray")
START_METHODS = ("auto", "fork", "forkserver", "spawn")


def start_method(requested: str = "auto") -> str:
    """``fork`` while TensorFlow is not loaded here (fast, inherits compiled kernels), else
    ``forkserver`` on POSIX and ``spawn`` elsewhere; an explicit choice is kept."""
    if requested not in START_METHODS:
        raise ConfigError(f"start method {requested!r}: expected one of {START_METHODS}")
    if requested != "auto":
        return requested
    if os.name != "posix":
        return "spawn"
    return "forkserver" if "tensorflow" in sys.modules else "fork"


@dataclass(frozen=True)
class Executor:
    """Where work runs: ``backend`` serial | processes | ray, with ``workers`` workers.

    ``initializer`` runs once in every process worker (e.g. to load a model); Ray workers run it
    before their first unit. ``gpus_per_item``: GPUs each Ray task asks for (Ray only; 0: none);
    ``gpus_name``: what the caller calls that setting, used in the messages about it.
    """

    backend: str = "processes"
    workers: int = 2
    start: str = "auto"
    initializer: Callable[[], None] | None = None
    ray_address: str | None = None
    in_flight_per_worker: int = 2
    gpus_per_item: float = 0.0
    gpus_name: str = "GPUs per item"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"executor backend {self.backend!r}: expected one of {BACKENDS}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        start_method(self.start)
        if not valid_gpu_count(self.gpus_per_item):
            raise ConfigError(
                f"{self.gpus_name}: must be a finite number >= 0, a fraction below 1 or a whole "
                f"number (Ray's rule), got {self.gpus_per_item}"
            )
        if self.gpus_per_item and self.backend != "ray":
            raise ConfigError(
                f"{self.gpus_name}: {self.gpus_per_item:g} GPU(s) per task are asked of Ray, but "
                f"the backend is {self.backend!r}"
            )

    def ray_options(self) -> dict[str, Any]:
        """Resources of every Ray worker: one CPU, and ``gpus_per_item`` GPUs when asked."""
        options: dict[str, Any] = {"num_cpus": 1}
        if self.gpus_per_item:
            options["num_gpus"] = self.gpus_per_item
        return options

    def map(self, function: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        """``function`` over ``items``; results in the order of ``items``, as they are ready."""
        if self.backend == "serial" or (self.backend == "processes" and self.workers == 1):
            if self.initializer is not None:
                self.initializer()
            yield from map(function, items)
        elif self.backend == "processes":
            yield from self._processes(function, items)
        else:
            yield from self._ray(function, items)

    def _processes(self, function: Callable, items: Iterable) -> Iterator:
        context = mp.get_context(start_method(self.start))
        with ProcessPoolExecutor(self.workers, context, self.initializer) as pool:
            pending: deque = deque()
            limit = self.workers * self.in_flight_per_worker
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()

    def _ray_submitter(self, ray: Any, function: Callable) -> Callable[[int, Any], Any]:
        """(item index, item) -> Ray object ref of ``function(item)``. Plain tasks when there is
        nothing to keep; otherwise ``workers`` actors taking items in turn: the initializer (a
        model) loads once per actor, and a GPU Ray gives an actor stays its own for its life (a
        reused task worker would keep the device of its first task, whatever Ray gives the
        next)."""
        if self.initializer is None and not self.gpus_per_item:
            task = ray.remote(**self.ray_options())(_ray_unit)
            return lambda index, item: task.remote(function, item)
        worker = ray.remote(**self.ray_options())(_RayWorker)
        actors = [worker.remote(self.initializer) for _ in range(self.workers)]
        return lambda index, item: actors[index % len(actors)].run.remote(function, item)

    def _ray(self, function: Callable, items: Iterable) -> Iterator:
        ray, temp_dir = _start_ray(self.workers, self.ray_address)
        try:
            # a task runs on one node: the cluster's total over nodes is no promise
            largest = max(
                (node["Resources"].get("GPU", 0.0) for node in ray.nodes() if node["Alive"]),
                default=0.0,
            )
            if self.gpus_per_item > largest:
                raise ConfigError(
                    f"{self.gpus_name}: {self.gpus_per_item:g} GPU(s) per task, but the largest "
                    f"live node of the Ray cluster has {largest:g}; tasks would wait forever"
                )
            submit = self._ray_submitter(ray, function)
            pending: deque = deque()
            limit = self.workers * self.in_flight_per_worker
            for index, item in enumerate(items):
                pending.append(submit(index, item))
                if len(pending) >= limit:
                    yield ray.get(pending.popleft())
            while pending:
                yield ray.get(pending.popleft())
        finally:
            if temp_dir is not None:  # an embedded Ray this map started: stop it, drop its logs
                ray.shutdown()
                shutil.rmtree(temp_dir, ignore_errors=True)


def _ray_unit(function: Callable, item: Any) -> Any:
    """One unit as a Ray task (no initializer, no GPU)."""
    return function(item)


class _RayWorker:
    """A Ray actor: runs ``initializer`` once when it starts, then unit after unit."""

    def __init__(self, initializer: Callable[[], None] | None) -> None:
        if initializer is not None:
            initializer()

    def run(self, function: Callable, item: Any) -> Any:
        return function(item)


def _start_ray(workers: int, address: str | None) -> tuple[Any, str | None]:
    """The ``ray`` module, initialised quietly: embedded local with ``workers`` CPUs, or joined
    to ``address``; and the temp folder of an embedded instance started here (None when Ray was
    running already or joined a cluster)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("executor backend 'ray' needs Ray: pip install 'setibl[ray]'") from None
    temp_dir = None
    if not ray.is_initialized():
        options: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": "ERROR",
            "log_to_driver": False,
        }
        if address:
            options["address"] = address
        else:
            temp_dir = tempfile.mkdtemp(prefix="setibl-ray-")
            options.update(num_cpus=workers, object_store_memory=256 * 1024**2, _temp_dir=temp_dir)
        ray.init(**options)
    return ray, temp_dir
