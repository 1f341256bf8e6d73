"""The wire format: OpenAI-compatible chat completion requests/responses, and supportkit's own routes.

Field names and shapes follow OpenAI's (and vLLM's) chat completions API so the official clients work
unchanged; supportkit's own request fields arrive at the top level (the clients' ``extra_body``) and its
metadata travels in a ``supportkit`` object next to the standard fields.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: The deepest nesting a JSON object of a request may have (a profile, ``user_context``): deeper
#: values could be stored but not sent back (serialisation has a recursion limit).
MAX_JSON_DEPTH = 20


def shallow(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` when its objects and arrays nest at most :data:`MAX_JSON_DEPTH` deep.

    Raises:
        ValueError: nested deeper (a 400 naming the field).
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        if children and depth >= MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels; flatten it")
        stack.extend((child, depth + 1) for child in children)
    return value


#: A JSON object of a request, at most :data:`MAX_JSON_DEPTH` levels deep.
JsonObject = Annotated[dict[str, Any], AfterValidator(shallow)]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | int | None = None


class ErrorBody(BaseModel):
    """Every error: ``{"error": {"message", "type", "param", "code"}}`` (what the openai client parses)."""

    error: ErrorDetail


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    #: Text, or OpenAI content parts of which only ``{"type": "text", "text": ...}`` are accepted.
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``. Unknown fields are kept so that unsupported ones get a clear 400."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    #: The customer's id: their profile fills the prompt's slots and their conversations are theirs.
    user: str | None = Field(default=None, max_length=200)
    n: int | None = Field(default=None, ge=1)
    # --- supportkit's own fields (``extra_body``) ---
    strategy: str | None = None
    role: str | None = None
    conversation_id: str | None = Field(default=None, max_length=200)
    user_context: JsonObject | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] | None


class SupportkitMeta(BaseModel):
    """What supportkit adds to a completion (also on the finishing chunk of a stream)."""

    response_id: str
    conversation_id: str | None = None
    strategy: str | None = None
    role: str | None = None
    adapter: str | None = None
    prompt_version: str | None = None
    intent: str | None = None
    citations: list[str] = Field(default_factory=list)
    escalation: dict[str, Any] | None = None
    groundedness: float | None = None
    guardrails: dict[str, int] = Field(default_factory=dict)
    #: How the request's ``system`` messages were used (see README "Serving").
    client_system: str | None = None
    #: The cited help articles with their links: ``[{"title", "article", "url"}]``
    #: (``GET /v1/articles/{article}`` gives the text).
    sources: list[dict[str, str]] = Field(default_factory=list)
    #: "agent" when a person has taken the conversation over: the message was stored for them and
    #: the assistant did not answer (the content is ``serving.agent_notice``).
    handled_by: str | None = None
    #: ``{"from_chars", "to_chars"}`` when the question was cut at ``guardrails.max_query_chars``.
    input_truncated: dict[str, int] | None = None
    #: The question's language: code, confidence, supported, action (see ``Response.language``).
    language: dict[str, Any] | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    supportkit: SupportkitMeta


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    supportkit: SupportkitMeta | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "supportkit"
    root: str
    parent: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class LoadAdapter(BaseModel):
    lora_name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)
    lora_path: str = Field(min_length=1, max_length=4096)


class UnloadAdapter(BaseModel):
    lora_name: str = Field(max_length=100)


class Feedback(BaseModel):
    response_id: str = Field(min_length=1, max_length=200)
    rating: Literal["up", "down"]
    correction: str | None = Field(default=None, max_length=8000)
    comment: str | None = Field(default=None, max_length=4000)


class FeedbackAck(BaseModel):
    id: int | str
    response_id: str
    rating: Literal["up", "down"]


class StoredMessage(BaseModel):
    role: str
    content: str
    response_id: str | None = None
    meta: dict[str, Any] | None = None
    #: The message's row id (increasing; ``/events?after=`` takes it) and when it was stored (unix s).
    id: int | None = None
    created_at: float | None = None


class Conversation(BaseModel):
    id: str
    user: str | None = None
    messages: list[StoredMessage]
    #: 'assistant', 'agent' (a person took over: they answer) or 'closed'.
    status: str = "assistant"
    escalated: bool = False


class AgentReply(BaseModel):
    content: str = Field(min_length=1, max_length=8000)


class Article(BaseModel):
    id: str
    title: str
    url: str
    text: str


class ChatPageConfig(BaseModel):
    #: The ``model`` the page asks for, whether the API needs a key, and the browser key (or null).
    model: str
    keys_required: bool
    browser_key: str | None = None


class Deleted(BaseModel):
    id: str
    deleted: bool


class Profile(BaseModel):
    user: str
    profile: dict[str, Any]


class Health(BaseModel):
    status: str
    detail: dict[str, Any] = Field(default_factory=dict)


class ConversationSummary(BaseModel):
    id: str
    user: str | None = None
    status: str
    escalated: bool
    created_at: float
    updated_at: float
    message_count: int
    #: Who took it over (while status is 'agent'); the latest escalation's reason and hand-off summary.
    agent: str | None = None
    reason: str | None = None
    handoff: str | None = None


class ConversationList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ConversationSummary]


class FeedbackItem(BaseModel):
    id: int
    response_id: str
    rating: str
    correction: str | None = None
    comment: str | None = None
    created_at: float
    question: str | None = None
    answer: str
    conversation_id: str | None = None
    user: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class FeedbackList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FeedbackItem]


# --- building the wire format (the only place that knows OpenAI's shapes) ---------------------------
def usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )


def completion(
    id: str, created: int, model: str, text: str, finish: str, used: Usage, meta: SupportkitMeta
) -> dict[str, Any]:
    """A whole ``chat.completion`` as JSON-ready data."""
    choice = Choice(index=0, message=AssistantMessage(content=text), finish_reason=finish)  # type: ignore[arg-type]
    body = ChatCompletion(id=id, created=created, model=model, choices=[choice], usage=used, supportkit=meta)
    return body.model_dump(mode="json")


def sse(data: dict[str, Any] | str) -> str:
    """One server-sent event: ``data: JSON`` (or ``data: [DONE]``) and a blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n"


def chunk(
    id: str,
    created: int,
    model: str,
    delta: Delta | None,
    finish: str | None = None,
    *,
    used: Usage | None = None,
    meta: SupportkitMeta | None = None,
) -> str:
    """A ``chat.completion.chunk`` event; ``delta`` ``None`` gives the usage chunk (``choices: []``)."""
    choices = [] if delta is None else [ChunkChoice(index=0, delta=delta, finish_reason=finish)]  # type: ignore[arg-type]
    body = ChatCompletionChunk(
        id=id, created=created, model=model, choices=choices, usage=used, supportkit=meta
    )
    data = body.model_dump(mode="json", exclude_none=True)
    for dumped in data["choices"]:
        dumped["finish_reason"] = finish  # always present, null until the finishing chunk
    return sse(data)
