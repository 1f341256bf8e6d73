"""The one place the server's logs redact personal data (e-mail, phone, card numbers).

Uses ``supportkit.privacy``'s redaction when that package is present, else ``supportkit.data.pii``.
"""

from __future__ import annotations

from collections.abc import Callable

_redact: Callable[[str], str]
try:  # the privacy package (replacing data/pii.py) where it exists
    from supportkit.privacy import redact as _privacy_redact  # type: ignore[attr-defined, unused-ignore]

    _redact = _privacy_redact
except ImportError:  # pragma: no cover - depends on the installed version
    from supportkit.data.pii import redact as _pii_redact

    _redact = _pii_redact

_MAX = 200


def redact_for_log(text: str) -> str:
    """``text`` with personal data replaced by placeholders, cut to 200 characters, quoted."""
    cleaned = _redact(text)
    return repr(cleaned if len(cleaned) <= _MAX else cleaned[:_MAX] + "…")
