"""API keys with scopes, and per-key rate limits.

Keys come from ``SUPPORTKIT_API_KEYS="key1:admin,key2:chat"`` or from ``serving.api_keys_file``: one key
a line, ``NAME SCOPE scrypt$N$r$p$SALT$HASH`` (salted scrypt, never the key in clear; ``#`` comments).
``supportkit keys new --scope chat --name web`` prints a fresh key and its line. Scopes: ``chat``
(chat completions, its own conversations, feedback) and ``admin`` (everything).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from supportkit.errors import ConfigError

SCOPES = ("chat", "admin")
ENV_VAR = "SUPPORTKIT_API_KEYS"
BROWSER_ENV_VAR = "SUPPORTKIT_BROWSER_KEY"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name (never the key itself) and its scope."""

    name: str
    scope: str

    @property
    def admin(self) -> bool:
        return self.scope == "admin"


def hash_key(key: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``key``: ``scrypt$N$r$p$SALT$HASH`` (base64)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(key.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def _verify(key: str, encoded: str) -> bool:
    _, n, r, p, salt, digest = encoded.split("$")
    b64d = base64.urlsafe_b64decode
    got = hashlib.scrypt(key.encode(), salt=b64d(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(got, b64d(digest))


def new_key() -> str:
    return "sk-sup-" + secrets.token_urlsafe(24)


class KeyRing:
    """The configured keys; ``check(key)`` returns the :class:`Principal` or ``None``."""

    def __init__(self, clear: dict[str, Principal], hashed: list[tuple[str, Principal]]) -> None:
        self._clear = clear
        self._hashed = hashed
        #: sha256(key) -> principal, for keys already verified (scrypt is slow on purpose).
        self._verified: dict[bytes, Principal] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._clear or self._hashed)

    @classmethod
    def load(cls, env: str | None = None, keys_file: str | Path | None = None) -> KeyRing:
        """Keys from ``env`` (``SUPPORTKIT_API_KEYS``'s format) and ``keys_file``.

        Raises:
            ConfigError: a malformed entry (the file and line are named) or an unknown scope.
        """
        clear: dict[str, Principal] = {}
        for number, item in enumerate(filter(None, (s.strip() for s in (env or "").split(","))), 1):
            key, sep, scope = item.rpartition(":")
            if not sep or not key or scope not in SCOPES:
                raise ConfigError(
                    f"{ENV_VAR} entry {number} must look like KEY:SCOPE with SCOPE one of {', '.join(SCOPES)}"
                )
            clear[key] = Principal(f"env-{number}", scope)
        hashed: list[tuple[str, Principal]] = []
        if keys_file:
            path = Path(keys_file)
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(f"cannot read serving.api_keys_file {path}: {exc.strerror}") from exc
            for number, line in enumerate(lines, 1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                parts = line.split()
                if len(parts) != 3 or parts[1] not in SCOPES or parts[2].count("$") != 5:
                    raise ConfigError(
                        f"{path}:{number}: expected 'NAME SCOPE scrypt$...' (make one with "
                        "'supportkit keys new --scope chat --name NAME')"
                    )
                hashed.append((parts[2], Principal(parts[0], parts[1])))
        return cls(clear, hashed)

    def known(self, key: str) -> Principal | None:
        """The principal of a key in clear or already verified (cheap: no scrypt), else ``None``."""
        for known, principal in self._clear.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                return principal
        return self._verified.get(hashlib.sha256(key.encode()).digest())

    def check(self, key: str) -> Principal | None:
        found = self.known(key)
        if found is not None:
            return found
        fingerprint = hashlib.sha256(key.encode()).digest()
        for encoded, principal in self._hashed:
            if _verify(key, encoded):
                self._verified[fingerprint] = principal
                return principal
        return None


def load_keyring(keys_file: str | None) -> KeyRing:
    return KeyRing.load(os.environ.get(ENV_VAR), keys_file)


class RateLimiter:
    """Per-caller limits in ``limits`` notation (``60/minute``); ``hit`` returns seconds to wait or 0."""

    def __init__(self, spec: str | None) -> None:
        from limits import parse_many
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._items = parse_many(spec) if spec else []
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def waiting(self, caller: str) -> int:
        """Seconds ``caller`` must wait before its next request (0: it may go on); counts nothing."""
        return self._wait(caller, self._limiter.test)

    def hit(self, caller: str) -> int:
        """Count one request of ``caller``; seconds it must wait when that went past a limit, else 0."""
        return self._wait(caller, self._limiter.hit)

    def _wait(self, caller: str, passes: Callable[..., bool]) -> int:
        for item in self._items:
            if not passes(item, caller):
                reset = self._limiter.get_window_stats(item, caller).reset_time
                return max(1, math.ceil(reset - time.time()))
        return 0


def browser_key(keys: KeyRing, value: str | None = None) -> str | None:
    """The public key the web pages use (``SUPPORTKIT_BROWSER_KEY``): a configured ``chat`` key, or ``None``.

    Raises:
        ConfigError: it is set but not a configured key, or has the ``admin`` scope (never public).
    """
    key = (os.environ.get(BROWSER_ENV_VAR) if value is None else value) or ""
    if not key.strip():
        return None
    principal = keys.check(key.strip())
    if principal is None:
        raise ConfigError(
            f"{BROWSER_ENV_VAR} is not one of the configured keys: add it as a chat key "
            f"({ENV_VAR} or serving.api_keys_file)"
        )
    if principal.scope != "chat":
        raise ConfigError(f"{BROWSER_ENV_VAR} must be a chat-scope key: the page shows it to every visitor")
    return key.strip()
