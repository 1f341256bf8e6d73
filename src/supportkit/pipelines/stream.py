"""Streaming an answer with every check ``respond()`` applies.

Text is released in whole sentences, and only once the checks can decide about it:

* leak: the text so far is checked on every chunk; once it repeats ``leak_min_words`` words of a
  system text nothing more is released and the stream ends with the leak message (what was
  released before holds fewer than ``leak_min_words`` of those words);
* stop sequences: text that could still become one is held back; the answer ends before it;
* ``max_chars``: a sentence that would cross the limit ends the stream (as ``respond`` cuts at the
  last sentence end within the limit);
* slots and redaction: applied to each released piece; a piece whose end could label a secret on
  the next line ("password:", "Bearer") waits for that line and is redacted with it;
* groundedness (when passages apply): a sentence is released only once it is itself supported;
  after an unsupported one everything is held until the whole answer is checked. When the final
  check replaces the answer (extractive quote, hand-off) the stream ends with the replacement;
* an answer cut by ``max_new_tokens`` loses its unfinished last sentence.

``handle.response.text`` is exactly the concatenated chunks: what the customer saw is what is stored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from supportkit.generation import Generated
from supportkit.generation.streaming import _held_back, cut_at_stop
from supportkit.guardrails.guard import Guard
from supportkit.guardrails.output import mark_unfinished, unit_ends
from supportkit.pipelines.response import Response
from supportkit.prompts.chain_of_thought import split_reasoning

if TYPE_CHECKING:
    from supportkit.pipelines.inference import Prepared


#: A value that is a secret only after a label (``_open``): short, with digits, not a known key shape.
_PROBE = "q7w7e7r7"


class StreamHandle:
    """Iterate for the answer's text chunks; ``response`` is set once the stream has ended.

    ``cancel()`` stops this answer's decoding at the next step (other rows of its batch go on);
    the stream then ends with what was released so far (``finish_reason`` ``cancelled``).
    """

    def __init__(self, chunks: Iterator[str], cancel: threading.Event | None = None) -> None:
        self._chunks = chunks
        self._cancel = cancel
        self.response: Response | None = None

    def __iter__(self) -> Iterator[str]:
        return self._chunks

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()


class StreamGuard:
    """Applies the output checks to one streamed answer (see the module docstring).

    Feed raw chunks with :meth:`feed`, then call :meth:`end` with the final response computed by
    the pipeline's ``finish`` stage on the whole generated text; both yield the chunks to send.
    """

    def __init__(self, guard: Guard, prep: Prepared) -> None:
        self.guard, self.prep = guard, prep
        s = guard.settings
        self.stops = tuple(x for x in s.stop_sequences if x)
        self.max_chars = s.max_chars
        self.passages = prep.check_passages
        self.context = guard.grounding_context(prep.plan.query, prep.context, prep.plan.history)
        self.raw = ""
        self.pending = ""
        self.sent = ""
        self.gap = ""
        self.held: list[tuple[str, str]] = []
        self.stopped: str | None = None  # "leak", "stop" or "length"

    # --- while generating -------------------------------------------------------------------------
    def feed(self, chunk: str) -> Iterator[str]:
        if self.stopped in ("leak", "length", "stop"):
            return
        self.raw += chunk
        self.pending += chunk
        if self.guard.leaks(self.raw):
            self.stopped = "leak"
            return
        cut, found = cut_at_stop(self.pending, self.stops)
        if found:
            self.pending, self.stopped = cut, "stop"
            return
        while True:
            end = self._sentence_end()
            if end is None:
                return
            head, rest = self.pending[:end], self.pending[end:]
            self.pending = rest.lstrip()
            gap = head[len(head.rstrip()) :] + rest[: len(rest) - len(self.pending)]
            yield from self._offer(head, gap)
            if self.stopped == "length":
                return

    # --- at the end ---------------------------------------------------------------------------------
    def end(self, generated: Generated, response: Response) -> tuple[list[str], Response]:
        """The last chunks and the response carrying exactly the streamed text."""
        out: list[str] = []
        changes = dict(response.guardrails)
        replaced = response.escalate or "leak_replaced" in changes or "extractive_answer" in changes
        if self.stopped == "leak" or replaced:
            replacement = self.guard.settings.leak_message if self.stopped == "leak" else response.text
            if self.stopped == "leak":
                changes["leak_replaced"] = 1
            out.append(("\n\n" if self.sent else "") + replacement)
            self.sent += out[-1]
            return out, replace(response, text=self.sent, guardrails=changes)
        if self.stopped != "length":
            for piece, gap in self.held:
                out.append(self._send(piece, gap))
            self.held = []
            tail = self.pending.strip()
            unfinished = not generated.finished and self.stopped != "stop"
            if tail and unfinished and not self.sent:
                tail = mark_unfinished(tail)  # no sentence ended: end on a whole word, as respond() does
            if tail and not (unfinished and self.sent):
                if self.max_chars is not None and len(self.sent) + len(self.gap) + len(tail) > self.max_chars:
                    changes["truncated"] = 1
                else:
                    tail = self.guard.guard_output(tail, self.prep.context, partial=True).text
                    out.append(self._send(tail, ""))
        else:
            changes["truncated"] = 1
        if self.guard.knowledge_settings.cite and response.citations:
            title = response.citations[0]
            if title.lower() not in self.sent.lower():
                self.gap = ""
                out.append(self._send(f"\n\nSource: {title}", ""))
        return [c for c in out if c], replace(response, text=self.sent, guardrails=changes)

    # --- internals ----------------------------------------------------------------------------------
    def _sentence_end(self) -> int | None:
        """Where the last complete sentence or line of the pending text ends (a "." at the very
        end may still be a decimal point; a list number such as "3." ends nothing)."""
        p = self.pending
        ends = [e for e in unit_ends(p) if (e < len(p) or p[e - 1] == "\n") and p[:e].strip()]
        if not ends or "{{" in p[ends[-1] - 1 :]:
            return None
        end = ends[-1]
        if len(p) - _held_back(p, self.stops) < end:
            return None  # a stop sequence may start inside the sentence
        if self._open(p[:end]):
            return None  # the next line may hold its value: redacted together, as respond() does
        return end

    def _open(self, head: str) -> bool:
        """Whether text that follows ``head`` on the next line would be redacted with ``head``'s
        end ("password:", "Bearer", "PIN is"): then ``head`` waits for it."""
        probe = self.guard.guard_output(f"{head.strip()}\n{_PROBE}", self.prep.context, partial=True).text
        return not probe.endswith(_PROBE)

    def _offer(self, head: str, gap: str) -> Iterator[str]:
        piece = self.guard.guard_output(head.strip(), self.prep.context, partial=True).text
        if not piece:
            return
        if self.held or not self.guard.supported(piece, self.passages, self.context):
            self.held.append((piece, gap))
            return
        if self.max_chars is not None and len(self.sent) + len(self.gap) + len(piece) > self.max_chars:
            if not self.sent:
                from supportkit.guardrails.output import enforce_length

                yield self._send(enforce_length(piece, self.max_chars)[0], "")
            self.stopped = "length"
            return
        yield self._send(piece, gap)

    def _send(self, piece: str, gap: str) -> str:
        """Send ``piece`` (after the whitespace that preceded it); ``gap`` follows it if more comes."""
        if not piece:
            return ""
        chunk = (self.gap if self.sent else "") + piece
        self.sent += chunk
        self.gap = gap
        return chunk


def after_marker(chunks: Iterator[str], marker: str) -> Iterator[str]:
    """Hold text back until the CoT answer marker, then stream the answer that follows it.

    Without a marker the whole text is the answer, sent once generation ends (never empty).
    """
    buffer = ""
    emitted: str | None = None
    for chunk in chunks:
        buffer += chunk
        parsed = split_reasoning(buffer, marker)
        if not parsed.found:
            continue
        emitted = emitted or ""
        if parsed.answer.startswith(emitted) and len(parsed.answer) > len(emitted):
            yield parsed.answer[len(emitted) :]
            emitted = parsed.answer
    if emitted is None and buffer.strip():
        yield buffer.strip()
