"""The ``serving`` section: ``supportkit serve`` (adapters by name, batching, limits, keys, CORS)."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field

from supportkit.config.base import Section
from supportkit.config.model import DTYPES
from supportkit.utils.validation import check_positive, fail

#: ``limits`` notation, e.g. ``60/minute`` or ``10 per 2 seconds;100/hour`` (parsed by the server).
_RATE_ITEM = r"\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day|month|year)s?\s*"
_RATE_LIMIT = re.compile(rf"{_RATE_ITEM}([;,]{_RATE_ITEM})*")


@dataclass
class ServingConfig(Section):
    """``supportkit serve``: adapters by name, batching, limits, keys, CORS (see README "Serving")."""

    section: typing.ClassVar[str] = "serving"
    #: Named adapters clients select with ``model`` (``{name: directory}``), validated at start.
    adapters: dict[str, str] = field(default_factory=dict)
    #: Requests generated together at most (waiting requests with the same adapter and settings).
    max_batch_size: int = 8
    #: The decode engine the server runs (a ``generation.engine`` name; it replaces that setting in the
    #: server). ``static`` decodes with continuous batching: a request joins the running batch at the
    #: next token instead of waiting for it to end (BENCHMARKS.md, "Serving").
    engine: str = "static"
    #: Weights dtype of the server (and ``chat``/``ask``), replacing ``model.dtype`` there while that is
    #: the default float32; ``null`` keeps ``model.dtype``. ``auto``: bf16 on a CPU with native bf16
    #: whose quality gate passed for the model (shipped for the bundled model), else float32:
    #: 1.6-1.8x the tokens/s at 4-16 requests (BENCHMARKS.md).
    dtype: str | None = "auto"
    #: Requests waiting for the engine at most; past it the server answers 503 with Retry-After.
    max_queue: int = 64
    #: Seconds a request may take from arrival to its last token before it ends with an error.
    request_timeout_s: float = 120.0
    #: File of salted key hashes (``supportkit keys new``); keys also come from SUPPORTKIT_API_KEYS.
    api_keys_file: str | None = None
    #: Requests per key (per client address without keys), ``limits`` notation; ``None``: unlimited.
    rate_limit: str | None = "60/minute"
    #: Requests with a wrong key per client address (``limits`` notation), then 429 before the key is
    #: checked: each check of a wrong key costs a salted hash per configured key. ``None``: unlimited.
    auth_failure_limit: str | None = "20/minute"
    #: Browser origins allowed by CORS (empty: none).
    cors_origins: list[str] = field(default_factory=list)
    #: Largest request body in bytes (413 past it).
    max_body_bytes: int = 1_000_000
    #: Most messages in one chat request, and most characters in one message (400 past them).
    max_messages: int = 64
    max_message_chars: int = 8000
    #: Largest ``max_tokens`` a client may ask for (400 past it).
    max_tokens_cap: int = 512
    #: Allow admin keys to load/unload adapters at run time (``/v1/load_lora_adapter``).
    allow_adapter_loading: bool = False
    #: Serve the customer chat page (``/``), the agent console (``/console``) and ``/widget.js``.
    web_pages: bool = True
    #: What a customer's message gets instead of an answer while a person has taken the conversation over.
    agent_notice: str = (
        "Your message was passed to the person handling this conversation; they will answer here."
    )

    def validate(self) -> None:
        check_positive(
            "serving",
            self,
            "max_batch_size",
            "max_queue",
            "request_timeout_s",
            "max_body_bytes",
            "max_messages",
            "max_message_chars",
            "max_tokens_cap",
        )
        if not isinstance(self.engine, str) or not self.engine.strip():
            fail("serving", "engine", self.engine, "the name of a registered decode engine, e.g. 'static'")
        if self.dtype is not None and self.dtype not in DTYPES:
            fail("serving", "dtype", self.dtype, f"one of {', '.join(DTYPES)}, or null for model.dtype")
        if not isinstance(self.adapters, dict) or not all(
            isinstance(k, str) and k.isidentifier() and isinstance(v, str) and v
            for k, v in self.adapters.items()
        ):
            fail("serving", "adapters", self.adapters, "a mapping of identifier names to adapter directories")
        if self.rate_limit is not None and not _RATE_LIMIT.fullmatch(str(self.rate_limit)):
            fail(
                "serving", "rate_limit", self.rate_limit, "limits notation such as '60/minute' or '5/second'"
            )
        if self.auth_failure_limit is not None and not _RATE_LIMIT.fullmatch(str(self.auth_failure_limit)):
            fail(
                "serving",
                "auth_failure_limit",
                self.auth_failure_limit,
                "limits notation such as '20/minute'",
            )
        if not isinstance(self.cors_origins, list) or not all(
            isinstance(o, str) and o for o in self.cors_origins
        ):
            fail(
                "serving", "cors_origins", self.cors_origins, "a list of origins such as https://shop.example"
            )
        if not isinstance(self.agent_notice, str) or not self.agent_notice.strip():
            fail("serving", "agent_notice", self.agent_notice, "a non-empty message for the customer")
