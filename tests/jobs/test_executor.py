"""The one executor: ordered results whatever the backend, clear errors for bad settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from setibl.errors import ConfigError
from setibl.jobs import executor as executor_module
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


def test_ray_workers_ask_for_gpus_only_when_told():
    assert Executor("ray", 2).ray_options() == {"num_cpus": 1}
    assert Executor("ray", 2, gpus_per_item=0.5).ray_options() == {"num_cpus": 1, "num_gpus": 0.5}


@pytest.mark.parametrize("backend", ["serial", "processes"])
def test_gpus_outside_ray_are_a_config_error(backend):
    with pytest.raises(ConfigError, match="GPU.*Ray.*" + backend):
        Executor(backend, 2, gpus_per_item=1.0)
    with pytest.raises(ConfigError, match=">= 0"):
        Executor("ray", 2, gpus_per_item=-1.0)


@pytest.mark.parametrize("gpus", [float("inf"), float("nan"), -1.0, 1.5])
def test_a_gpu_count_ray_cannot_ask_for_is_a_config_error(gpus):
    with pytest.raises(ConfigError, match="GPUs per item: must be a finite number >= 0"):
        Executor("ray", 2, gpus_per_item=gpus)


def test_gpus_a_ray_cluster_lacks_are_an_error_not_a_wait():
    ray = pytest.importorskip("ray")
    executor = Executor("ray", 1, gpus_per_item=64.0)  # more than the embedded Ray here has
    with pytest.raises(ConfigError, match="GPUs per item: 64 GPU.*largest live node"):
        list(executor.map(square_and_pid, range(2)))
    assert not ray.is_initialized()


class TwoOneGpuNodes:
    """A joined Ray cluster (nothing to stop) of two live 1-GPU nodes and a dead 4-GPU one:
    three GPUs in all, but no node where a 2-GPU task could run."""

    @staticmethod
    def cluster_resources() -> dict[str, float]:
        return {"CPU": 8.0, "GPU": 2.0}  # Ray's totals count live nodes only

    @staticmethod
    def nodes() -> list[dict]:
        return [
            {"Alive": True, "Resources": {"CPU": 4.0, "GPU": 1.0}},
            {"Alive": True, "Resources": {"CPU": 4.0, "GPU": 1.0}},
            {"Alive": False, "Resources": {"CPU": 4.0, "GPU": 4.0}},
        ]


def test_gpus_no_single_live_node_has_are_an_error_whatever_the_cluster_total(monkeypatch):
    monkeypatch.setattr(executor_module, "_start_ray", lambda *_: (TwoOneGpuNodes, None))
    executor = Executor("ray", 2, gpus_per_item=2.0, gpus_name="config key 'scan.gpus_per_unit'")
    with pytest.raises(ConfigError) as raised:
        list(executor.map(square_and_pid, range(2)))
    message = str(raised.value)
    assert message.startswith("config key 'scan.gpus_per_unit': 2 GPU(s) per task")
    assert "largest live node of the Ray cluster has 1;" in message and "\n" not in message


def test_ray_workers_run_the_initializer_once_each(tmp_path):
    pytest.importorskip("ray")
    log = tmp_path / "loads.txt"
    results = list(
        Executor("ray", 2, initializer=RecordLoad(str(log))).map(square_and_pid, range(8))
    )
    loads = log.read_text().split()
    assert len(loads) == len(set(loads))  # no worker loaded twice
    assert {str(pid) for _, pid in results} == set(loads)  # every worker that ran a unit loaded
