"""The secrets policy: which profile fields never reach a prompt, a slot, a hand-off summary or a log.

A field is **withheld** when

* its *name* matches the deny list (:data:`DEFAULT_SECRET_FIELDS` plus ``guardrails.secret_fields``).
  Names are normalised before matching: case, spaces, dashes, underscores and camelCase do not
  matter, nor a plural ``s`` (``"API Key"``, ``api-key``, ``apiKey``, ``API_KEYS`` all match
  ``api key``). An entry matches when its words appear in the name as consecutive words
  (``card number`` matches ``primary_card_number``) or run together (``apikey``); a few
  unambiguous stems also match inside one word (``userPassword``, ``accesstoken``); or
* its *value* is a card number (Luhn), an IBAN, or a key/token (JWT, ``sk-...``, ``Bearer ...``, a
  long high-entropy string): see :func:`supportkit.privacy.patterns.is_secret_value`.

Withholding recurses into nested mappings and lists; a withheld mapping (``credentials``) is
dropped whole. Text values that merely *contain* a card number, IBAN or token keep their other
words, the secret replaced by ``[withheld]``.

The hand-off summary uses an **allow list** instead (:data:`DEFAULT_HANDOFF_FIELDS`, setting
``guardrails.handoff_fields``): only fields an agent needs, and of those only what the deny list
and the value check let through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from supportkit.config import GuardrailsConfig
from supportkit.privacy.patterns import is_secret_value
from supportkit.privacy.pii import SECRET_KINDS, find_pii

#: Field names that are withheld, by family. Matching is normalised (see the module docstring).
DEFAULT_SECRET_FIELDS: tuple[str, ...] = (
    # passwords, passcodes, PINs
    *("password", "passwd", "pwd", "pass", "passphrase", "passcode", "pin", "pin code"),
    # keys, tokens, secrets, auth headers, cookies, sessions
    *("key", "api key", "private key", "secret", "token", "credential", "auth", "authorization"),
    *("bearer", "cookie", "session", "signature", "salt"),
    # one-time codes, 2FA
    *("otp", "totp", "hotp", "one time code", "one time password", "verification code", "2fa", "mfa"),
    *("security code", "recovery code", "backup code", "reset code", "sms code"),
    # security questions
    *("security question", "security answer", "secret question", "secret answer", "maiden name"),
    *("memorable word", "memorable information"),
    # full card numbers, CVV, expiry
    *("card number", "card no", "cc number", "credit card", "debit card", "pan", "cvv", "cvc", "cvn", "csc"),
    *("card expiry", "card expiration", "card exp", "expiry month", "expiry year", "exp month", "exp year"),
    *("card verification",),
    # bank accounts
    *("account number", "bank account", "routing number", "sort code", "iban", "aba", "bsb", "bank details"),
    # national IDs
    *("ssn", "social security", "sin", "social insurance", "national id", "national insurance", "nino"),
    *("passport", "tax id", "taxpayer id", "tin", "ein", "itin", "driver license", "drivers license"),
    *("driving licence", "license number", "licence number", "id number", "id card", "aadhaar", "cpf"),
    *("cnpj", "nif", "nie", "dni", "nir", "steuer id", "idnr", "bsn", "personnummer", "codice fiscale"),
)

#: Stems that mark a secret even inside one run-together word (``userpassword``, ``accesstoken``).
_STEMS = (
    *("password", "passwd", "passcode", "passphrase", "secret", "token", "apikey", "privatekey"),
    *("accesskey", "credential", "cvv", "iban", "authorization", "sessionid", "cookie"),
)

#: Profile fields the human agent is handed (``guardrails.handoff_fields``), secrets still withheld.
DEFAULT_HANDOFF_FIELDS: tuple[str, ...] = (
    *("name", "first name", "last name", "customer name", "email", "customer id", "account id"),
    *("account type", "account", "plan", "membership", "tier", "order id", "order number", "orders"),
    *("language", "country", "previous issues"),
)

WITHHELD = "[withheld]"


def key_words(name: object) -> tuple[str, ...]:
    """``"API-Key"``, ``apiKey``, ``API_KEYS`` -> ``("api", "key")``: lower-case words, camelCase
    split, separators dropped, a plural ``s`` removed."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name).replace("'", ""))
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    words = re.findall(r"[a-z]+|[0-9]+", text.lower())
    return tuple(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words)


def _runs(words: tuple[str, ...]) -> set[str]:
    return {"".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}


@dataclass(frozen=True)
class SecretsPolicy:
    """The deny list (normalised) and the checks built on it.

    ``extra`` adds names to :data:`DEFAULT_SECRET_FIELDS` (``guardrails.secret_fields``).
    """

    extra: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = (*DEFAULT_SECRET_FIELDS, *self.extra)
        object.__setattr__(self, "_deny", {"".join(key_words(n)) for n in names if key_words(n)})

    @classmethod
    def from_settings(cls, guardrails: GuardrailsConfig) -> SecretsPolicy:
        """The default deny list plus ``guardrails.secret_fields``."""
        return cls(tuple(guardrails.secret_fields))

    def is_secret_name(self, name: object) -> bool:
        """True when the field name matches the deny list (any spelling)."""
        words = key_words(name)
        deny: set[str] = self._deny  # type: ignore[attr-defined]
        if _runs(words) & deny:
            return True
        compact = "".join(words)
        return any(stem in compact for stem in _STEMS)

    def is_secret(self, name: object, value: Any) -> bool:
        """Withheld by its name, or (a scalar) by its value."""
        if self.is_secret_name(name):
            return True
        return isinstance(value, str | int) and not isinstance(value, bool) and is_secret_value(str(value))

    def withhold(self, data: Mapping[Any, Any]) -> dict[Any, Any]:
        """A copy of ``data`` without withheld fields, recursively (mappings and lists); empty
        values are dropped too. Text values keep their words, embedded secrets ``[withheld]``."""
        out = {}
        for key, value in data.items():
            if self.is_secret(key, value):
                continue
            clean = self._clean(value)
            if clean not in (None, "", [], {}):
                out[key] = clean
        return out

    def _clean(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return self.withhold(value)
        if isinstance(value, list | tuple | set):
            items = [self._clean(v) for v in value if not self.is_secret("", v)]
            return [v for v in items if v not in (None, "", [], {})]
        if isinstance(value, str):
            return scrub_text(value)
        return value

    def select(self, data: Mapping[Any, Any], allow: Iterable[str]) -> dict[Any, Any]:
        """Only the top-level fields named in ``allow`` (normalised), then :meth:`withhold`."""
        allowed = {"".join(key_words(a)) for a in allow}
        return self.withhold({k: v for k, v in data.items() if "".join(key_words(k)) in allowed})


def scrub_text(text: str, placeholder: str = WITHHELD) -> str:
    """Replace keys/tokens, IBANs, card numbers and national IDs (``SECRET_KINDS``) in free text."""
    out, pos = [], 0
    for span in find_pii(text, kinds=SECRET_KINDS):
        out += [text[pos : span.start], placeholder]
        pos = span.end
    return "".join([*out, text[pos:]])


def render_user_context(
    context: Mapping[str, Any],
    policy: SecretsPolicy | None = None,
    *,
    allow: Iterable[str] | None = None,
) -> list[str]:
    """One line per field (``"- account type: premium"``), secrets withheld by ``policy`` (the
    default deny list when ``None``); with ``allow``, only those fields (the hand-off summary)."""
    policy = policy or SecretsPolicy()
    data = policy.select(context, allow) if allow is not None else policy.withhold(context)
    return [f"- {_label(k)}: {_flat(v)}" for k, v in data.items()]


def _label(key: object) -> str:
    return str(key).replace("_", " ")


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{_label(k)}: {_flat(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_flat(v) for v in value)
    return str(value)
