"""A command shows our output only; TensorFlow's log lines need --verbose or SETIBL_LOG."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from setibl.cli.logs import NATIVE_LOG_LINE, _forward

SOURCES = str(Path(__file__).resolve().parents[2] / "src")
LOG_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+ |WARNING: All log messages)", re.M)


def _setibl(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "SETIBL_LOG")
    }
    environment["PYTHONPATH"] = os.pathsep.join(
        [SOURCES, *filter(None, [environment.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, "-m", "setibl", *args],
        capture_output=True,
        text=True,
        env={**environment, **env},
        timeout=300,
    )


def test_commands_print_no_tensorflow_log_lines():
    quiet = _setibl("backbones")
    assert quiet.returncode == 0 and "small_cnn" in quiet.stdout
    assert not LOG_LINE.search(quiet.stderr), quiet.stderr
    loud = _setibl("--verbose", "backbones")  # the same command shows them when asked
    assert loud.returncode == 0 and LOG_LINE.search(loud.stderr), loud.stderr
    assert LOG_LINE.search(_setibl("backbones", SETIBL_LOG="1").stderr)


def test_errors_still_reach_the_terminal(tmp_path):
    result = _setibl("predict", str(tmp_path / "nothing"), str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")


@pytest.mark.parametrize(
    ("line", "native"),
    [
        (b"I0000 00:00:1795965072.290675   16734 port.cc:153] oneDNN custom operations", True),
        (b"E0000 00:00:1795965275.700832   20856 cuda_platform.cc:52] failed call to cuInit", True),
        (b"W0000 00:00:1758131045.228 3722035 computation_placer.cc:177] computation", True),
        (b"WARNING: All log messages before absl::InitializeLog() is called are written", True),
        (b"2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32]", True),
        (b"F0000 00:00:1795965072.290675   16734 check.cc:1] a fatal error", False),
        (b"fold 0: AUC 0.9123, with TTA 0.9201 (best epoch 4)", False),
        (b"Error: config key 'train.epochs': must be > 0, got -1", False),
    ],
)
def test_native_log_line_pattern(line, native):
    assert bool(NATIVE_LOG_LINE.match(line)) == native


def test_filter_drops_native_lines_and_keeps_the_rest():
    source, sink = os.pipe()
    out_read, out_write = os.pipe()
    os.write(sink, b"I0000 00:00:1.5   1 port.cc:1] chatter\nresult 1\nE0000 00:00:2.5   1 x.cc:2]")
    os.write(sink, b" more chatter\nresult 2 without newline")
    os.close(sink)
    _forward(source, out_write)
    os.close(out_write)
    assert os.read(out_read, 1 << 16) == b"result 1\nresult 2 without newline"
