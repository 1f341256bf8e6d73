"""What never leaves the process (secrets) and what is replaced before anything is shown or stored (PII).

* :mod:`supportkit.privacy.secrets`: the secrets policy. Profile fields whose *name* is on the
  deny list (passwords, PINs, keys, tokens, one-time codes, security answers, card numbers,
  bank accounts, national IDs, ...) or whose *value* looks like a card number, an IBAN or a
  key/token are withheld from prompts, slots, hand-off summaries and logs.
* :mod:`supportkit.privacy.pii`: redaction of personal data in free text (emails, phone numbers
  by real numbering plans, IBANs, card numbers, national IDs) plus secrets that appear in text;
  ``redact_secrets`` (every kind but contact data) is applied to what customers type before it
  reaches a prompt and to everything the store writes.
* :mod:`supportkit.privacy.logfilter`: a :class:`logging.Filter` applying both to log records.

This is a low layer: prompts, guardrails, data, store and serving import it; it imports only
``config``-level modules.
"""

from __future__ import annotations

from supportkit.privacy.pii import (
    DEFAULT_REGIONS,
    SECRET_KINDS,
    PIISpan,
    Redactor,
    find_pii,
    redact,
    redact_secrets,
)
from supportkit.privacy.secrets import (
    DEFAULT_HANDOFF_FIELDS,
    DEFAULT_SECRET_FIELDS,
    SecretsPolicy,
    render_user_context,
)

__all__ = [
    "DEFAULT_HANDOFF_FIELDS",
    "DEFAULT_REGIONS",
    "DEFAULT_SECRET_FIELDS",
    "SECRET_KINDS",
    "PIISpan",
    "Redactor",
    "SecretsPolicy",
    "find_pii",
    "redact",
    "redact_secrets",
    "render_user_context",
]
