"""One family of errors. Each message is one line that names the file, key or argument, the rule
it breaks and the value received; the CLI prints it as it is (no traceback) and exits non-zero.
"""

from __future__ import annotations


class SetiblError(Exception):
    """Base of every error setibl raises on bad input or a bad state of a folder."""


class ConfigError(SetiblError, ValueError):
    """A config file, key or value breaks a rule (the message names the key)."""


class DataError(SetiblError, ValueError):
    """A data folder or observation file is missing, malformed or inconsistent."""


class RecordsError(SetiblError, ValueError):
    """A shard folder does not match its manifest or the config that reads it."""


class RunError(SetiblError, RuntimeError):
    """A run folder cannot be trained, resumed or predicted from as asked."""


class SubmissionError(SetiblError, ValueError):
    """Predictions do not cover the expected ids exactly once, or hold bad values."""


class BlendError(SetiblError, ValueError):
    """Blend members do not line up (ids, targets) or cannot be read."""


class OutputExistsError(SetiblError, FileExistsError):
    """The output folder already holds data and overwrite was not asked for."""
