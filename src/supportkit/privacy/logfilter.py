"""A :class:`logging.Filter` that redacts personal data and secrets from every log record.

    handler.addFilter(RedactingFilter())      # or install_log_redaction() for the root handlers

The record's message is formatted with its arguments first (``%s`` of a profile dict, say), then
redacted by a :class:`~supportkit.privacy.pii.Redactor`; so are an exception's text (its message
often quotes the input that failed) and the stack. Records are never dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from supportkit.privacy.pii import Redactor


class RedactingFilter(logging.Filter):
    """Replaces ``record.msg`` by the redacted, formatted message (``record.args`` cleared), and
    the exception text and stack by redacted ones."""

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.redact = redact or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep the parts, still redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:  # what formatters print instead of formatting exc_info again
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter()


def install_log_redaction(
    redact: Callable[[str], str] | None = None, logger: logging.Logger | None = None
) -> RedactingFilter:
    """Add one :class:`RedactingFilter` to every handler of ``logger`` (default: the root logger)
    that does not have one yet; returns the filter. Call after ``logging.basicConfig``."""
    logger = logger or logging.getLogger()
    log_filter = RedactingFilter(redact)
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(log_filter)
    return log_filter
