"""One exception hierarchy for the whole library.

Every message says what went wrong *and* what to do about it. The CLI turns these into one
readable line and a non-zero exit code; the server turns them into HTTP statuses.
"""

from __future__ import annotations

from collections.abc import Iterable


class SupportKitError(Exception):
    """Base class of every error the library raises on purpose."""

    #: The exit status the CLI returns for this error.
    exit_code: int = 2


class ConfigError(SupportKitError, ValueError):
    """A configuration value is missing, unknown or out of range."""


class UnknownNameError(ConfigError, KeyError):
    """A name looked up in a registry (method, strategy, metric, ...) is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class ModelLoadError(SupportKitError, RuntimeError):
    """A model, tokenizer or adapter could not be found or loaded."""


class AdapterMismatchError(ModelLoadError):
    """A saved adapter was trained on a different base model than the one it is loaded onto."""


class RequestError(SupportKitError, ValueError):
    """A request is malformed (empty question, unknown strategy, bad user context, ...); the server
    answers it with a 400."""


class DataError(SupportKitError, ValueError):
    """Input data is malformed; the message names the file and line."""


class WriteError(SupportKitError, OSError):
    """Writing a file failed (disk full, read-only file system, ...); the message names the path."""


class ExportError(SupportKitError, ValueError):
    """A model or adapter cannot be exported in the requested format, or its export does not
    reproduce it; the message says which runtime refuses what, and what to do instead."""


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """``"; did you mean 'few_shot'?"`` for the known name closest to ``name`` (difflib), else ``""``.

    For error messages about unknown names: strategies, methods, roles, prompt sets, fields.
    """
    import difflib

    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
