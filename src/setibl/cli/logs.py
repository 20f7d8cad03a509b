"""What a command prints: our progress bars and results. TensorFlow's own start-up and runtime
chatter (oneDNN, CUDA probing, XLA service lines written by its C++ logger, absl and Python
warnings) is shown only with ``setibl --verbose`` or the environment variable ``SETIBL_LOG``.

TensorFlow's C++ lines are written straight to file descriptor 2 before any setting of ours can
reach them (``TF_CPP_MIN_LOG_LEVEL`` no longer silences them), so the console entry point sends
that descriptor through a filter that drops lines in the C++ loggers' formats; Python's
``sys.stderr`` (messages, progress bars) is kept on the terminal directly.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import re
import sys
import threading
import warnings

# "I0000 00:00:1795965072.290675   16734 port.cc:153] ...", "2025-09-17 14:44:05.157: I ...",
# and absl's notice before its first line; fatal (F) lines always pass.
NATIVE_LOG_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)"
    rb"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\]"
    rb"|To enable the following instructions: .*rebuild TensorFlow"
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] )"
)


def _forward(source: int, target: int) -> None:
    """Copy lines from ``source`` to ``target``, dropping native log lines, until EOF."""
    pending = b""
    while chunk := os.read(source, 1 << 16):
        *lines, pending = (pending + chunk).split(b"\n")
        kept = [line + b"\n" for line in lines if not NATIVE_LOG_LINE.match(line)]
        if kept:
            os.write(target, b"".join(kept))
    if pending and not NATIVE_LOG_LINE.match(pending):
        os.write(target, pending)
    os.close(source)


def _filter_native_stderr() -> None:
    try:
        if sys.stderr.fileno() != 2:
            return
    except (AttributeError, OSError, ValueError):  # not a real file (captured, embedded)
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    source, sink = os.pipe()
    os.dup2(sink, 2)
    os.close(sink)
    sys.stderr = io.TextIOWrapper(
        open(terminal, "wb", buffering=0, closefd=False),  # noqa: SIM115 (lives on)
        encoding=sys.stderr.encoding,
        errors="backslashreplace",
        write_through=True,
    )
    thread = threading.Thread(target=_forward, args=(source, terminal), daemon=True)
    thread.start()

    def restore() -> None:
        os.dup2(terminal, 2)  # closes the pipe's last writer here: the filter drains and ends
        thread.join(timeout=2.0)

    atexit.register(restore)


def quiet_tensorflow() -> None:
    """Hide TensorFlow's logs and library warnings for the rest of this process; call before
    TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # older TensorFlow honours it
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # blimpy imports pkg_resources, which warns on every start
    for module in ("keras", "tensorflow", "absl", "tf_keras", "h5py", "blimpy", "pkg_resources"):
        warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")
    _filter_native_stderr()
