"""``InferencePipeline``: prepare (validate, guard, plan, render) -> decode -> finish (checks).

    pipeline = InferencePipeline(model, config)
    pipeline.add_few_shot_example("How do I change my password?", "Go to Settings > Security.")
    print(pipeline.generate_response("How do I reset my account?", strategy="few_shot"))

One pipeline serves the Python API, the CLI, the evaluator and the server. Stages are public so a
server can batch across requests: ``prepare`` (CPU, any thread), the decoder (one decode worker
thread per pipeline), ``finish`` (pure), then :class:`ConversationRecorder` records the turn.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from supportkit.config import Config
from supportkit.errors import RequestError
from supportkit.generation import (
    DecodeItem,
    Decoder,
    Generated,
    QueueSink,
    TimingSink,
    make_decoder,
)
from supportkit.guardrails.language import LanguageDetector
from supportkit.pipelines.components import build_components
from supportkit.pipelines.intake import sampling_for, take_in
from supportkit.pipelines.prepared import Prepared
from supportkit.pipelines.recorder import ConversationRecorder
from supportkit.pipelines.response import Request, Response, UsedExample, UsedPassage
from supportkit.pipelines.settings import PipelineSettings
from supportkit.pipelines.stream import StreamGuard, StreamHandle, after_marker
from supportkit.prompts import STRATEGIES, PromptRequest, choose_strategy
from supportkit.prompts.chain_of_thought import split_reasoning
from supportkit.prompts.render import RenderedPrompt, render, system_prefix_tokens
from supportkit.prompts.roles import resolve_role
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.knowledge import KnowledgeBase
from supportkit.store import Store

__all__ = ["InferencePipeline", "Prepared", "RequestError", "StreamHandle", "after_marker"]


class InferencePipeline:
    """Answers support requests: strategy -> prompt -> decode -> guarded, checked response.

    Args:
        model: a loaded supportkit model (``.model``, ``.tokenizer``; named adapters optional).
        config: settings, unpacked once here (default: the model's config). Later changes to the
            object do not affect this pipeline; build another one.
        bank: the few-shot example bank (default: an empty one, plus ``prompt.few_shot_file``).
        store: the conversation store (default: ``prompt.store_path`` when set).
        embedder: the sentence embedder for a default bank (default: MiniLM).
        knowledge: a knowledge base (default: ``knowledge.path`` when set).
        decoder: a decode engine (default: ``generation.engine`` from ``DECODERS``).

    Raises: ConfigError / UnknownNameError for invalid settings, unknown strategies, roles or
    engines; DataError for bad few-shot/intent files; RequestError for malformed requests.

    Thread safety: ``prepare``/``finish``/``respond``/``stream`` may be called from many threads.
    Decoding runs on one worker thread per pipeline (the model is never entered twice at once);
    the bank and the query cache are safe for concurrent readers and writers.

    Example::

        pipeline = InferencePipeline(PEFTModel(config), config)
        r = pipeline.respond("Where is my order?", strategy="few_shot", user_id="u1", max_new_tokens=64)
        print(r.text, r.finish_reason, r.prompt_tokens, r.generated_tokens)
        for chunk in (handle := pipeline.stream("Can I return shoes?")):
            print(chunk, end="")
    """

    def __init__(
        self,
        model: Any,
        config: Config | None = None,
        *,
        bank: ExampleBank | None = None,
        store: Store | None = None,
        embedder: Any = None,
        knowledge: KnowledgeBase | None = None,
        decoder: Decoder | None = None,
    ) -> None:
        self.model = model
        #: A private copy of the config the pipeline was built from (for reading only).
        self.config = copy.deepcopy(config if config is not None else getattr(model, "config", Config()))
        self.config.validate()
        self.settings = PipelineSettings.from_config(self.config)
        parts = build_components(self.config, bank=bank, store=store, embedder=embedder, knowledge=knowledge)
        self.prompt_set, self.bank, self.store = parts.prompt_set, parts.bank, parts.store
        self.knowledge, self._context, self.guard = parts.knowledge, parts.context, parts.guard
        choose_strategy(self.settings.strategy, knowledge=self.knowledge, examples=0)  # a known name
        self.recorder = ConversationRecorder(self.store, enabled=self.settings.remember_history)
        self.language = LanguageDetector(self.settings.languages)
        self.decoder = decoder or make_decoder(
            self.settings.engine,
            model,
            batch_size=self.settings.batch_size,
            prefix_cache_mb=self.config.generation.prefix_cache_mb,
        )
        # one decode worker: requests from any thread are decoded one call at a time, in order
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="supportkit-decode")
        self._role = self.settings.role

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    # --- the overview's API ------------------------------------------------------------------------
    def add_few_shot_example(self, question: str, answer: str, intent: str | None = None) -> None:
        self.bank.add(question, answer, intent)

    def set_role(self, role: str) -> None:
        """Set the default role (each call may still pass its own). Raises UnknownNameError."""
        resolve_role(role, self.prompt_set, self.settings.custom_roles)
        self._role = role

    def generate_response(
        self,
        query: str,
        strategy: str | None = None,
        user_context: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> str:
        """The answer text. Keyword arguments are those of :class:`Request`."""
        return self.respond(query, strategy, user_context, **kw).text

    def respond(
        self,
        query: str,
        strategy: str | None = None,
        user_context: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> Response:
        """The answer with its metadata (strategy, role, prompt version, examples, usage, ...)."""
        return self.respond_batch([Request(query, strategy, user_context=user_context, **kw)])[0]

    def prompt_for(
        self,
        query: str,
        strategy: str | None = None,
        user_context: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> RenderedPrompt:
        """The chat messages and token ids a request would be sent as (nothing is generated)."""
        return self.prepare(Request(query, strategy, user_context=user_context, **kw)).rendered

    # --- batches -------------------------------------------------------------------------------------
    def respond_batch(
        self,
        requests: Sequence[Request | Mapping[str, Any]],
        *,
        on_answered: Callable[[int], None] | None = None,
    ) -> list[Response]:
        """Answer requests in batched decodes (by adapter and settings), each turn recorded when a store
        is configured; ``latency_s``/``ttft_s`` are each request's own; ``on_answered(i)`` as ``i`` ends."""
        notify = on_answered or (lambda _: None)
        prepared = [self.prepare(r) for r in requests]
        live = [i for i, p in enumerate(prepared) if not p.escalated]
        for i in sorted(set(range(len(prepared))) - set(live)):
            notify(i)
        timing = TimingSink(len(live), lambda row: notify(live[row]))
        began = time.perf_counter()
        outputs = self.decode([prepared[i].item() for i in live], timing).result() if live else []
        generated = {i: (row, outputs[row]) for row, i in enumerate(live)}
        responses = []
        for i, prep in enumerate(prepared):
            row, out = generated.get(i, (None, None))
            ttft, total = timing.seconds(row, began) if row is not None else (None, 0.0)
            response = self._noticed(prep, replace(self.finish(prep, out, total), ttft_s=ttft))
            response.stored = self.recorder.record(prep.recorded, response)
            responses.append(response)
        return responses

    #: Deprecated name of :meth:`respond_batch`.
    generate_batch = respond_batch

    def decode(self, items: Sequence[DecodeItem], streamer: Any = None) -> Future[list[Generated]]:
        """Queue ``items`` on the decode worker; the future holds one Generated per item.

        A failure is raised by the future and, when streaming, handed to every waiting reader."""
        return self._worker.submit(self._decode_now, list(items), streamer)

    def _decode_now(self, items: list[DecodeItem], streamer: Any) -> list[Generated]:
        try:
            return self.decoder.generate(items, streamer)
        except BaseException as exc:
            if streamer is not None:
                streamer.fail(exc)
            raise

    # --- streaming -----------------------------------------------------------------------------------
    def stream(self, query: str, strategy: str | None = None, **kw: Any) -> StreamHandle:
        """Stream one answer: iterate the handle for text chunks; ``handle.response`` after."""
        return self.stream_batch([Request(query, strategy, **kw)])[0]

    def stream_batch(
        self,
        requests: Sequence[Request | Mapping[str, Any]],
        *,
        decode: Callable[[list[DecodeItem], Any], Future[list[Generated]]] | None = None,
    ) -> list[StreamHandle]:
        """Stream several answers decoded together; each handle yields its own row's text and
        can be cancelled alone. Every check of :meth:`respond` holds for the streamed text (see
        :mod:`supportkit.pipelines.stream`); for chain-of-thought only the final answer is
        streamed. An escalated request streams the hand-off message and decodes nothing.

        ``decode(items, sink)`` replaces the pipeline's own decode worker (:meth:`decode`): a
        server's engine thread passes one that adds the rows to its running batch (continuous
        batching); it returns a future of one Generated per item and streams row ``i`` to
        ``sink.push(i, ...)``."""
        import threading

        prepared = [self.prepare(r) for r in requests]
        live = [i for i, p in enumerate(prepared) if not p.escalated]
        cancels = {i: threading.Event() for i in live}
        sink = QueueSink(len(live))
        began = time.perf_counter()
        items = [prepared[i].item(cancels[i]) for i in live]
        future = (decode or self.decode)(items, sink) if live else None
        handles: list[StreamHandle] = []
        for row, prep in enumerate(prepared):
            handle = StreamHandle(iter(()), cancels.get(row))
            position = live.index(row) if row in cancels else -1
            handle._chunks = self._stream_row(prep, handle, sink, position, future, began)
            handles.append(handle)
        return handles

    def _stream_row(
        self,
        prep: Prepared,
        handle: StreamHandle,
        sink: QueueSink,
        position: int,
        future: Future[list[Generated]] | None,
        began: float,
    ) -> Iterator[str]:
        if future is None or position < 0:
            response = self.finish(prep, None, 0.0)
            response.stored = self.recorder.record(prep.recorded, response)
            handle.response = response
            yield response.text
            return
        guard = StreamGuard(self.guard, prep)
        notice = self._notice(prep)
        if notice:
            yield notice
        raw = sink.iter_row(position)
        marker = prep.plan.answer_marker
        for chunk in after_marker(raw, marker) if marker else raw:
            yield from guard.feed(chunk)
        generated = future.result()[position]
        tail, response = guard.end(generated, self.finish(prep, generated, time.perf_counter() - began))
        yield from tail
        response.text = (notice or "") + response.text
        response.stored = self.recorder.record(prep.recorded, response)
        handle.response = response

    # --- stages --------------------------------------------------------------------------------------
    def prepare(self, raw: Request | Mapping[str, Any]) -> Prepared:
        """Validate, assess (retrieval, intent, escalation), plan and render one request (CPU only).

        Raises: RequestError (malformed request), UnknownNameError (strategy or role)."""
        request = raw if isinstance(raw, Request) else Request(**dict(raw))
        s = self.settings
        intake = take_in(request, s, self.language)
        sampling = sampling_for(request, s.sampling)
        name = choose_strategy(
            request.strategy or s.strategy, knowledge=self.knowledge, examples=len(self.bank)
        )
        strategy = STRATEGIES.get(name)()
        role = request.role or self._role
        context: dict[str, Any] = {}
        history: list[Mapping[str, str]] = intake.history if intake.history is not None else []
        if request.user_id and self.store is not None:
            context.update(self.store.get_profile(request.user_id))
            if request.history is None and s.history_turns:
                history = list(self.store.history(request.user_id, limit=s.history_turns))
        context.update(request.user_context or {})
        query = intake.query.text
        assessment = self.guard.assess(query, history=history, profile=context, language=intake.language)
        plan = strategy.build(
            PromptRequest(
                query=query,
                role=role,
                user_context=context,
                history=history,
                intent=request.intent,
                passages=assessment.hits,
            ),
            self._context,
        )
        instruction = intake.reply_instruction(s)
        if instruction:
            plan.system.append(instruction)
        rendered = render(
            plan,
            self.tokenizer,
            max_prompt_tokens=s.max_prompt_tokens,
            max_new_tokens=sampling.max_new_tokens,
        )
        adapter = request.adapter or s.role_adapters.get(role or "")
        check = list(plan.passages) or list(assessment.hits)
        # only the system message is shared through the prefix cache, and never with a customer's data
        shared = 0 if context or history else system_prefix_tokens(self.tokenizer, rendered)
        return Prepared(
            request, plan, rendered, adapter, assessment, context, sampling, check, intake, shared
        )

    def _notice(self, prep: Prepared) -> str:
        """The language notice (and the blank line after it) an answer starts with, or ``""``."""
        notice = prep.intake.notice(self.settings) if prep.intake and not prep.escalated else None
        return f"{notice}\n\n" if notice else ""

    def _noticed(self, prep: Prepared, response: Response) -> Response:
        """``response`` after the notice (as streamed: also before a hand-off decided after generation)."""
        notice = self._notice(prep)
        return replace(response, text=notice + response.text) if notice else response

    def finish(self, prep: Prepared, out: Generated | None, elapsed: float = 0.0) -> Response:
        """The response for a generated answer, or (``out`` is ``None``) for an escalated request.

        Pure: splits chain-of-thought, runs the output checks; writes nothing, scores nothing."""
        assessment = prep.assessment
        escalation = assessment.escalation
        text, reasoning, checked = self.settings.handoff_message, None, None
        if out is not None:
            text = out.text
            if prep.plan.answer_marker:
                parsed = split_reasoning(out.text, prep.plan.answer_marker)
                text, reasoning = parsed.answer, parsed.reasoning
            checked = self.guard.check(
                text,
                assessment,
                passages=prep.check_passages,
                query=prep.plan.query,
                profile=prep.context,
                history=prep.plan.history,
                finished=out.finished,
            )
            text, escalation = checked.text, checked.escalation
        return Response(
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
            id=prep.request.id or "",
            finish_reason=out.finish_reason if out else "stop",
            intent=assessment.intent.intent if assessment.intent else None,
            intent_confidence=assessment.intent.confidence if assessment.intent else None,
            escalate=escalation is not None,
            escalation=escalation.to_dict() if escalation else None,
            withheld=checked.withheld if checked else None,
            groundedness=checked.groundedness.score if checked and checked.groundedness else None,
            citations=checked.citations if checked else [],
            guardrails=checked.changes if checked else {},
            input_truncated=prep.intake.query.truncated if prep.intake else None,
            language=prep.intake.language_meta(self.settings) if prep.intake else None,
        )

    def close(self) -> None:
        """Stop the decode worker (after the calls already queued)."""
        self._worker.shutdown(wait=True)
