"""Recording a conversation turn (the question and the answer given) in the store.

    recorder = ConversationRecorder(store)
    response.stored = recorder.record(request, response)

Kept apart from answering: the pipeline's ``finish`` stage is pure, and ``respond``/``stream`` call
the recorder afterwards. A store failure never costs the caller the answer: it is logged (request
id and error class only, never the text or the user) and reported as ``stored=False``.
"""

from __future__ import annotations

import logging
from typing import Any

from supportkit.pipelines.response import Request, Response

log = logging.getLogger(__name__)


class ConversationRecorder:
    """Appends (user question, assistant answer) to a :class:`~supportkit.store.Store`.

    Args:
        store: the conversation store (``None``: nothing is recorded).
        enabled: ``prompt.remember_history``.
    """

    def __init__(self, store: Any, *, enabled: bool = True) -> None:
        self.store, self.enabled = store, enabled

    def record(self, request: Request, response: Response) -> bool | None:
        """Record one answered request. Returns True (stored), False (the store failed; logged)
        or None (nothing to record: no user, no store, or recording off). Never raises for a
        store failure."""
        if not (self.enabled and request.user_id and self.store is not None):
            return None
        meta: dict[str, Any] = {"strategy": response.strategy, "prompt": response.prompt_version}
        if response.escalation:
            meta["escalation"] = response.escalation["reason"]
        try:
            self.store.append_turns(
                request.user_id,
                [("user", request.query.strip(), None), ("assistant", response.text, meta)],
            )
        except Exception as exc:  # the answer was generated: the caller gets it anyway
            log.error(
                "could not record request %s in the conversation store (%s); the answer was returned",
                request.id,
                type(exc).__name__,
            )
            return False
        return True
