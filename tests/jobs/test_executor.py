"""The one executor: ordered results whatever the backend, clear errors for bad settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from setibl.errors import ConfigError
from setibl.jobs.executor import Executor, start_method


def square_and_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


@dataclass(frozen=True)
class RecordLoad:
    """An initializer (as a model load) that appends its worker's pid to ``log``."""

    log: str

    def __call__(self) -> None:
        with open(self.log, "a") as handle:
            handle.write(f"{os.getpid()}\n")


@pytest.mark.parametrize("backend,workers", [("serial", 1), ("processes", 1), ("processes", 2)])
def test_results_come_back_in_order(backend, workers):
    results = list(Executor(backend, workers).map(square_and_pid, range(23)))
    assert [value for value, _ in results] == [i * i for i in range(23)]
    pids = {pid for _, pid in results}
    if backend == "processes" and workers == 2:
        assert os.getpid() not in pids  # the work really ran in worker processes
    else:
        assert pids == {os.getpid()}


def test_spawned_workers_work_too():
    results = list(Executor("processes", 2, start="spawn").map(square_and_pid, range(5)))
    assert [value for value, _ in results] == [0, 1, 4, 9, 16]


def test_bad_settings_name_what_is_wrong():
    with pytest.raises(ConfigError, match="backend 'threads'"):
        Executor("threads")
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        Executor("processes", 0)
    with pytest.raises(ConfigError, match="start method 'clone'"):
        start_method("clone")


def test_fork_only_before_tensorflow(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert start_method("auto") == "fork"
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert start_method("auto") == "forkserver"
    assert start_method("spawn") == "spawn"


def test_ray_results_in_order_and_the_embedded_instance_is_stopped():
    ray = pytest.importorskip("ray")
    results = list(Executor("ray", 2).map(square_and_pid, range(9)))
    assert [value for value, _ in results] == [i * i for i in range(9)]
    assert os.getpid() not in {pid for _, pid in results}
    assert not ray.is_initialized()  # started for this map, stopped after it


def test_ray_tasks_ask_for_gpus_only_when_told_and_keep_their_workers():
    assert Executor("ray", 2).ray_options() == {"num_cpus": 1}
    options = Executor("ray", 2, gpus_per_item=0.5).ray_options()
    # max_calls 0: Ray's default for GPU tasks (1) would end the worker, and reload its model,
    # after every unit
    assert options == {"num_cpus": 1, "num_gpus": 0.5, "max_calls": 0}


@pytest.mark.parametrize("backend", ["serial", "processes"])
def test_gpus_outside_ray_are_a_config_error(backend):
    with pytest.raises(ConfigError, match="GPU.*Ray.*" + backend):
        Executor(backend, 2, gpus_per_item=1.0)
    with pytest.raises(ConfigError, match=">= 0"):
        Executor("ray", 2, gpus_per_item=-1.0)


def test_gpus_a_ray_cluster_lacks_are_an_error_not_a_wait():
    ray = pytest.importorskip("ray")
    executor = Executor("ray", 1, gpus_per_item=64.0)  # more than the embedded Ray here has
    with pytest.raises(ConfigError, match="scan.gpus_per_unit.*offers"):
        list(executor.map(square_and_pid, range(2)))
    assert not ray.is_initialized()


def test_ray_workers_run_the_initializer_once_each(tmp_path):
    pytest.importorskip("ray")
    log = tmp_path / "loads.txt"
    results = list(
        Executor("ray", 2, initializer=RecordLoad(str(log))).map(square_and_pid, range(8))
    )
    loads = log.read_text().split()
    assert len(loads) == len(set(loads))  # no worker loaded twice
    assert {str(pid) for _, pid in results} == set(loads)  # every worker that ran a unit loaded
