"""``InferencePipeline``: strategy -> messages -> generate (single, batched, streamed) -> Response.

    pipeline = InferencePipeline(model, config)
    pipeline.add_few_shot_example("How do I change my password?", "Go to Settings > Security.")
    print(pipeline.generate_response("How do I reset my account?", strategy="few_shot"))

One pipeline serves the Python API, the CLI, the evaluator and the server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from supportkit.config import Config
from supportkit.errors import ConfigError, SupportKitError
from supportkit.generation import Generated, generate_ids
from supportkit.guardrails.guard import Assessment, Guard
from supportkit.guardrails.intent import IntentDetector
from supportkit.pipelines.response import Request, Response, UsedExample, UsedPassage
from supportkit.prompts import STRATEGIES, PromptContext, PromptPlan, PromptRequest
from supportkit.prompts.bank import ExampleBank
from supportkit.prompts.chain_of_thought import split_reasoning
from supportkit.prompts.prompt_sets import load_prompt_set
from supportkit.prompts.render import RenderedPrompt, render
from supportkit.prompts.roles import resolve_role
from supportkit.prompts.selection import make_selector
from supportkit.retrieval.knowledge import KnowledgeBase
from supportkit.store import Store
from supportkit.streaming import BatchStreamer

log = logging.getLogger(__name__)


class RequestError(SupportKitError, ValueError):
    """A request is malformed (empty query, unknown strategy, bad user context, ...)."""


@dataclass
class _Prepared:
    request: Request
    plan: PromptPlan
    rendered: RenderedPrompt
    adapter: str | None
    assessment: Assessment
    #: The user's profile and request context merged (for slots and the hand-off summary).
    context: dict[str, Any]


class StreamHandle:
    """Iterate to receive the answer text as it is generated; ``response`` is set at the end."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self.response: Response | None = None

    def __iter__(self) -> Iterator[str]:
        return self._chunks


class InferencePipeline:
    def __init__(
        self,
        model: Any,
        config: Config | None = None,
        *,
        bank: ExampleBank | None = None,
        store: Store | None = None,
        embedder: Any = None,
        knowledge: KnowledgeBase | None = None,
    ) -> None:
        self.model = model
        self.config = config if config is not None else getattr(model, "config", Config())
        self.config.validate()
        p = self.config.prompt
        self.prompt_set = load_prompt_set(p.prompt_set)
        self.bank = bank if bank is not None else ExampleBank(embedder=embedder)
        if p.few_shot_file:
            self.bank.load_file(p.few_shot_file, on_error=self.config.data.on_error)
        self.store = store if store is not None else (Store(p.store_path) if p.store_path else None)
        self._role = p.role
        resolve_role(self._role, self.prompt_set, p.custom_roles)
        k = self.config.knowledge
        self.knowledge = knowledge
        if self.knowledge is None and k.path:
            self.knowledge = KnowledgeBase(
                k.path,
                embedder=self.bank.embedder,
                index_dir=k.index_dir,
                chunk_chars=k.chunk_chars,
                overlap_chars=k.overlap_chars,
                hybrid=k.hybrid,
                bm25_weight=k.bm25_weight,
            )
        self._context = PromptContext(
            prompt_set=self.prompt_set,
            bank=self.bank,
            selector=make_selector(p.selector, mmr_lambda=p.mmr_lambda, seed=self.config.training.seed),
            num_examples=p.num_examples,
            custom_roles=p.custom_roles,
            knowledge=self.knowledge,
            knowledge_k=k.top_k,
            knowledge_min_similarity=k.min_similarity,
            combined_parts=tuple(p.combined_parts),
        )
        self.guard = self._build_guard()
        # One model, many callers (threads of a server): generation is serialised.
        self._generate_lock = threading.Lock()

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def _build_guard(self) -> Guard:
        g = self.config.guardrails
        detector = None
        if g.intent_file:
            labelled = ExampleBank(embedder=self.bank.embedder)
            labelled.load_file(g.intent_file, on_error=self.config.data.on_error)
            detector = IntentDetector(labelled, g.intent_k)
        ps = self.prompt_set
        system_texts = [ps.system, ps.cot_instruction, ps.knowledge_instruction, ps.few_shot_intro]
        system_texts += [role.render() for role in ps.roles.values()]
        system_texts += list(self.config.prompt.custom_roles.values())
        return Guard(
            g,
            self.config.knowledge,
            knowledge=self.knowledge,
            bank=self.bank,
            detector=detector,
            system_texts=system_texts,
        )

    # --- the overview's API ------------------------------------------------------------------------
    def add_few_shot_example(self, question: str, answer: str, intent: str | None = None) -> None:
        self.bank.add(question, answer, intent)

    def set_role(self, role: str) -> None:
        """Set the default role (each call may still pass its own)."""
        resolve_role(role, self.prompt_set, self.config.prompt.custom_roles)
        self._role = role

    def generate_response(
        self,
        query: str,
        strategy: str | None = None,
        user_context: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> str:
        """The answer text. Keyword arguments are those of :class:`Request`."""
        return self.respond(query, strategy, user_context, **kwargs).text

    def respond(
        self,
        query: str,
        strategy: str | None = None,
        user_context: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Response:
        """The answer with its metadata (strategy, role, prompt version, examples, tokens, ...)."""
        return self.generate_batch([Request(query, strategy, user_context=user_context, **kwargs)])[0]

    def prompt_for(
        self,
        query: str,
        strategy: str | None = None,
        user_context: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> RenderedPrompt:
        """The chat messages and token ids a request would be sent as (nothing is generated)."""
        return self._prepare(Request(query, strategy, user_context=user_context, **kwargs)).rendered

    # --- batches -------------------------------------------------------------------------------------
    def generate_batch(self, requests: Sequence[Request | Mapping[str, Any]]) -> list[Response]:
        """Answer many requests with real batched generation, grouped by adapter and prompt length."""
        prepared = [self._prepare(r) for r in requests]
        results: dict[int, Response] = {
            i: self._finish(p, None, 0.0) for i, p in enumerate(prepared) if p.assessment.escalation
        }
        order = sorted(
            (i for i in range(len(prepared)) if i not in results),
            key=lambda i: (prepared[i].adapter or "", len(prepared[i].rendered.input_ids)),
        )
        size = self.config.generation.batch_size
        start = 0
        while start < len(order):
            adapter = prepared[order[start]].adapter
            chunk = [i for i in order[start : start + size] if prepared[i].adapter == adapter]
            start += len(chunk)
            began = time.perf_counter()
            with self._generating(adapter):
                outputs = generate_ids(
                    self.model.model,
                    self.tokenizer,
                    [prepared[i].rendered.input_ids for i in chunk],
                    self.config.generation,
                )
            elapsed = time.perf_counter() - began
            for i, out in zip(chunk, outputs, strict=True):
                results[i] = self._finish(prepared[i], out, elapsed)
        return [results[i] for i in range(len(prepared))]

    # --- streaming -----------------------------------------------------------------------------------
    def stream(self, query: str, strategy: str | None = None, **kwargs: Any) -> StreamHandle:
        """Stream one answer: iterate the handle for text chunks; ``handle.response`` after."""
        return self.stream_batch([Request(query, strategy, **kwargs)])[0]

    def stream_batch(self, requests: Sequence[Request | Mapping[str, Any]]) -> list[StreamHandle]:
        """Stream several answers generated together; each handle yields its own row's text.

        For chain-of-thought requests only the final answer is streamed (the analysis is held back
        until the answer marker appears; without a marker the whole text is streamed at the end).
        Slots and redaction are applied sentence by sentence as the text streams; the whole-answer
        checks (leak, groundedness) decide ``handle.response``, which is what gets stored. An
        escalated request streams the hand-off message and generates nothing.
        """
        prepared = [self._prepare(r) for r in requests]
        live = [i for i, p in enumerate(prepared) if not p.assessment.escalation]
        if len({prepared[i].adapter for i in live}) > 1:
            raise RequestError("requests streamed together must use the same adapter")
        streamer = BatchStreamer(self.tokenizer, len(live))
        handles: list[StreamHandle] = []
        outputs: list[Generated] = []
        finished = threading.Event()
        timing: dict[str, float] = {}

        def run() -> None:
            began = time.perf_counter()
            try:
                with self._generating(prepared[live[0]].adapter):
                    outputs.extend(
                        generate_ids(
                            self.model.model,
                            self.tokenizer,
                            [prepared[i].rendered.input_ids for i in live],
                            self.config.generation,
                            streamer=streamer,
                        )
                    )
            except BaseException as exc:  # hand the failure to the readers
                streamer.fail(exc)
            finally:
                timing["elapsed"] = time.perf_counter() - began
                finished.set()

        def chunks(row: int, handle: StreamHandle) -> Iterator[str]:
            prep = prepared[row]
            if prep.assessment.escalation:
                handle.response = self._finish(prep, None, 0.0)
                yield handle.response.text
                return
            position = live.index(row)
            raw = streamer.iter_row(position)
            marker = prep.plan.answer_marker
            yield from self._guard_stream(_after_marker(raw, marker) if marker else raw, prep)
            finished.wait()
            handle.response = self._finish(prep, outputs[position], timing["elapsed"])

        for row in range(len(prepared)):
            handle = StreamHandle(iter(()))
            handle._chunks = chunks(row, handle)
            handles.append(handle)
        if live:
            threading.Thread(target=run, name="supportkit-generate", daemon=True).start()
        return handles

    def _guard_stream(self, chunks: Iterator[str], prep: _Prepared) -> Iterator[str]:
        """Release text a sentence at a time, with slots filled and personal data redacted."""
        buffer = ""

        def release(text: str) -> str:
            return self.guard.guard_output(text, prep.context, partial=True).text

        for chunk in chunks:
            buffer += chunk
            end = max(buffer.rfind(". "), buffer.rfind("! "), buffer.rfind("? "), buffer.rfind("\n"))
            if end >= 0 and "{{" not in buffer[end:]:
                head, buffer = buffer[: end + 1], buffer[end + 1 :]
                yield release(head) + (" " if buffer.startswith(" ") else "")
                buffer = buffer.lstrip(" ")
        if buffer.strip():
            yield release(buffer)

    # --- internals -----------------------------------------------------------------------------------
    def _prepare(self, raw: Request | Mapping[str, Any]) -> _Prepared:
        request = raw if isinstance(raw, Request) else Request(**dict(raw))
        if not isinstance(request.query, str) or not request.query.strip():
            raise RequestError("the query is empty; send the customer's question")
        if request.user_context is not None and not isinstance(request.user_context, Mapping):
            raise RequestError(
                f"user_context must be a mapping of field to value, got {type(request.user_context).__name__}"
            )
        strategy_name = request.strategy or self.config.prompt.strategy
        strategy = STRATEGIES.get(strategy_name)()
        role = request.role or self._role
        p = self.config.prompt
        context: dict[str, Any] = {}
        history: list[Mapping[str, str]] = list(request.history) if request.history is not None else []
        if request.user_id and self.store is not None:
            context.update(self.store.get_profile(request.user_id))
            if request.history is None and p.history_turns:
                history = list(self.store.history(request.user_id, limit=p.history_turns))
        context.update(request.user_context or {})
        query = request.query.strip()
        assessment = self.guard.assess(query, history=history, profile=context)
        prompt_request = PromptRequest(
            query=query,
            role=role,
            user_context=context,
            history=history,
            intent=request.intent,
            passages=assessment.hits,
        )
        plan = strategy.build(prompt_request, self._context)
        rendered = render(
            plan,
            self.tokenizer,
            max_prompt_tokens=p.max_prompt_tokens,
            max_new_tokens=self.config.generation.max_new_tokens,
        )
        adapter = request.adapter or p.role_adapters.get(role)
        return _Prepared(request, plan, rendered, adapter, assessment, context)

    @contextmanager
    def _generating(self, adapter: str | None) -> Iterator[None]:
        with self._generate_lock:
            if adapter is None:
                yield
                return
            if not hasattr(self.model, "set_adapter"):
                raise ConfigError(f"adapter {adapter!r} requested but the model has no named adapters")
            previous = self.model.active_adapter
            self.model.set_adapter(adapter)
            try:
                yield
            finally:
                self.model.set_adapter(previous)

    def _finish(self, prep: _Prepared, out: Generated | None, elapsed: float) -> Response:
        """The response for a generated answer, or (``out`` is ``None``) for an escalated request."""
        assessment = prep.assessment
        escalation = assessment.escalation
        text, reasoning, checked = self.config.guardrails.handoff_message, None, None
        if out is not None:
            text = out.text
            if prep.plan.answer_marker:
                parsed = split_reasoning(out.text, prep.plan.answer_marker)
                text, reasoning = parsed.answer, parsed.reasoning
            checked = self.guard.check(
                text,
                assessment,
                passages=prep.plan.passages,
                query=prep.plan.query,
                profile=prep.context,
                history=prep.plan.history,
                finished=out.finished,
            )
            text, escalation = checked.text, checked.escalation
        response = Response(
            text=text,
            strategy=prep.plan.strategy,
            role=prep.plan.role,
            prompt_version=self.prompt_set.label,
            examples=[
                UsedExample(s.example.question, s.example.answer, s.example.intent, s.score)
                for s in prep.plan.examples
            ],
            passages=[UsedPassage.from_hit(h) for h in prep.plan.passages],
            reasoning=reasoning,
            prompt_tokens=len(prep.rendered.input_ids),
            generated_tokens=out.generated_tokens if out else 0,
            latency_s=elapsed,
            cut=dict(prep.rendered.cut),
            finished=out.finished if out else True,
            adapter=prep.adapter,
            user_id=prep.request.user_id,
            intent=assessment.intent.intent if assessment.intent else None,
            intent_confidence=assessment.intent.confidence if assessment.intent else None,
            escalate=escalation is not None,
            escalation=escalation.to_dict() if escalation else None,
            groundedness=checked.groundedness.score if checked and checked.groundedness else None,
            citations=checked.citations if checked else [],
            guardrails=checked.changes if checked else {},
        )
        if prep.request.reference is not None:
            from supportkit.evaluation.metrics import score_one

            response.metrics = score_one(response.text, prep.request.reference)
        if prep.request.user_id and self.store is not None and self.config.prompt.remember_history:
            self.store.append_turns(
                prep.request.user_id,
                [
                    ("user", prep.request.query.strip(), None),
                    (
                        "assistant",
                        response.text,
                        {
                            "strategy": response.strategy,
                            "prompt": response.prompt_version,
                            **({"escalation": response.escalation["reason"]} if response.escalation else {}),
                        },
                    ),
                ],
            )
        return response


def _after_marker(chunks: Iterator[str], marker: str) -> Iterator[str]:
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
