"""The one place the server's own log lines redact personal data and secrets (emails, phone numbers,
IBANs, card numbers, national IDs, keys): :func:`supportkit.privacy.redact`. The CLI also installs
:class:`supportkit.privacy.logfilter.RedactingFilter` on the root handlers for every other log line.
"""

from __future__ import annotations

from supportkit.privacy import redact

_MAX = 200


def redact_for_log(text: str) -> str:
    """``text`` with personal data replaced by placeholders, cut to 200 characters, quoted."""
    cleaned = redact(text)
    return repr(cleaned if len(cleaned) <= _MAX else cleaned[:_MAX] + "…")
