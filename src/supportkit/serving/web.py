"""The web pages (files under ``static/``, no build step, no CDN) and what they need from the server.

* ``GET /`` the customer chat page, ``GET /console`` the agent console, ``GET /widget.js`` the
  embeddable widget, ``/static/*`` their scripts and styles: public files holding no data
  (``serving.web_pages=false`` serves none of them). Every API call they make needs a key when keys
  are configured.
* ``GET /chat-config.json`` (public): the ``model`` the page asks for, whether keys are needed, and
  the browser key (``SUPPORTKIT_BROWSER_KEY``: a ``chat``-scope key meant to be public, accepted
  only from the server's own pages and ``serving.cors_origins``; see :mod:`supportkit.serving.auth`).
* ``GET /v1/articles/{article}`` (chat): a cited help article (title, url, text as written).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from supportkit.errors import SupportKitError
from supportkit.retrieval.passages import load_articles
from supportkit.serving.errors import APIError
from supportkit.serving.schemas import Article, ChatPageConfig, ErrorBody
from supportkit.serving.state import ServerState, authorize, log, state_of

router = APIRouter()
pages = APIRouter()
#: The pages' paths (public: no data; exact paths, or prefixes written ``/static/*``).
PAGE_PATHS = frozenset({"/", "/console", "/widget.js", "/static/*"})
STATIC = Path(str(resources.files("supportkit.serving") / "static"))
_NO_CACHE = {"Cache-Control": "no-cache"}
#: The pages load only their own files and talk only to this server; other sites cannot frame them.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)


def _page(name: str, media_type: str = "text/html") -> FileResponse:
    headers = {**_NO_CACHE, "Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"}
    return FileResponse(STATIC / name, media_type=media_type, headers=headers)


@pages.get("/", include_in_schema=False)
def chat_page() -> FileResponse:
    return _page("index.html")


@pages.get("/console", include_in_schema=False)
def console_page() -> FileResponse:
    return _page("console.html")


@pages.get("/widget.js", include_in_schema=False)
def widget() -> FileResponse:
    return FileResponse(STATIC / "widget.js", media_type="text/javascript", headers=_NO_CACHE)


@router.get("/chat-config.json", response_model=ChatPageConfig)
def chat_config(request: Request) -> dict[str, Any]:
    """What the chat page needs to start (public: the browser key is meant to be seen)."""
    state = state_of(request)
    return {"model": state.base_id, "keys_required": state.keys.enabled, "browser_key": state.browser_key}


def install_pages(app: FastAPI) -> None:
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


# --- cited articles --------------------------------------------------------------------------------
def sources(state: ServerState, titles: list[str]) -> list[dict[str, str]]:
    """``[{"title", "article", "url"}]`` for cited article titles (unknown titles are left out)."""
    knowledge = state.knowledge
    if knowledge is None or not titles:
        return []
    found: dict[str, dict[str, str]] = {}
    for passage in list(knowledge.passages):
        if passage.title in titles and passage.title not in found:
            found[passage.title] = {"title": passage.title, "article": passage.article_id, "url": passage.url}
    return [found[t] for t in titles if t in found]


@router.get(
    "/v1/articles/{article_id:path}",
    response_model=Article,
    responses={s: {"model": ErrorBody} for s in (401, 404, 429, 503)},
)
def article(request: Request, article_id: str) -> dict[str, Any]:
    """A help article of the knowledge base, as written in its source (``knowledge.path``)."""
    state = state_of(request)
    authorize(request, "chat")
    source = getattr(state.knowledge, "source", None)
    try:
        found = [a for a in load_articles(source) if a.id == article_id] if source is not None else []
    except (SupportKitError, OSError) as exc:  # the details name the server's files: the log has them
        log.warning("the help articles cannot be read: %s", exc)
        raise APIError(503, "the help articles cannot be read now", headers={"Retry-After": "5"}) from exc
    if not found:
        raise APIError(404, f"no help article {article_id!r}", param="article_id")
    return {"id": article_id, "title": found[0].title, "url": found[0].url, "text": found[0].text}
