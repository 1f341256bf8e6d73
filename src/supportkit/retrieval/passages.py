"""Knowledge-base articles and the passages they are split into.

A knowledge base is a folder of Markdown/text articles (``*.md``, ``*.markdown``, ``*.txt``; the
first ``# heading`` is the title, the file's path relative to the folder its id and citation) or a
JSONL file of ``{"title", "text", "url"}`` rows (``id`` optional). Articles are split by heading,
then sections longer than ``chunk_chars`` by paragraph/sentence into windows that overlap by about
``overlap_chars``, so a fact on a window edge is whole in at least one passage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supportkit.errors import DataError
from supportkit.utils.textfiles import BOM, physical_lines, read_text

ARTICLE_SUFFIXES = (".md", ".markdown", ".txt")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_LINE_END = re.compile(r"\r\n|\r|\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str
    url: str


@dataclass(frozen=True)
class Passage:
    #: ``<article id>#<n>``.
    id: str
    article_id: str
    title: str
    #: The section heading the passage comes from ("" for text before the first subheading).
    heading: str
    text: str
    url: str

    def embedding_text(self) -> str:
        """What is embedded and searched: title and heading give a short passage its topic."""
        return " — ".join(p for p in (self.title, self.heading, self.text) if p)


def load_articles(source: str | Path) -> list[Article]:
    """Read every article of a folder or a JSONL file (bad rows named with their line)."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in ARTICLE_SUFFIXES)
        if not files:
            raise DataError(f"{path}: no articles found (expected {', '.join(ARTICLE_SUFFIXES)} files)")
        return [_read_article(p, p.relative_to(path)) for p in files]
    if path.is_file() and path.suffix.lower() in (".jsonl", ".json"):
        return _read_jsonl(path)
    if path.is_file() and path.suffix.lower() in ARTICLE_SUFFIXES:
        return [_read_article(path, Path(path.name))]
    raise DataError(f"knowledge base {path} not found: give a folder of .md/.txt articles or a JSONL file")


def _read_article(path: Path, relative: Path) -> Article:
    text = read_text(path)  # BOM stripped; every non-UTF-8 line named
    title = relative.stem.replace("-", " ").replace("_", " ").capitalize()
    lines = _LINE_END.split(text)
    for i, line in enumerate(lines):
        match = _HEADING.match(line)
        if match and len(match.group(1)) == 1:
            title = match.group(2)
            del lines[i]
            break
    article_id = relative.with_suffix("").as_posix()
    return Article(id=article_id, title=title, text="\n".join(lines).strip(), url=relative.as_posix())


def _read_jsonl(path: Path) -> list[Article]:
    text = read_text(path)  # BOM stripped; every non-UTF-8 line named
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}: bad JSON ({exc.msg})") from exc
        return _articles(path, enumerate(rows, start=1), "row")
    return _articles(path, _json_lines(path, text), "line")


def _json_lines(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    for number, line in physical_lines(text):  # \n / \r\n / \r only: U+2028 inside a string is text
        line = line.removeprefix(BOM)
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not a valid JSON line ({exc})") from exc


def _articles(path: Path, rows: Iterable[tuple[int, Any]], unit: str) -> list[Article]:
    articles: list[Article] = []
    for number, row in rows:
        where = f"{path}:{number}" if unit == "line" else f"{path}: row {number}"
        if not isinstance(row, dict) or not str(row.get("text") or "").strip():
            raise DataError(f"{where}: an article needs a non-empty 'text' (and a 'title')")
        title = str(row.get("title") or f"Article {number}").strip()
        url = str(row.get("url") or "")
        article_id = str(row.get("id") or url or f"{path.stem}-{number}")
        articles.append(Article(id=article_id, title=title, text=str(row["text"]).strip(), url=url))
    if not articles:
        raise DataError(f"{path}: no articles in the file")
    return articles


def split_passages(article: Article, *, chunk_chars: int = 700, overlap_chars: int = 120) -> list[Passage]:
    """Split one article into passages: by heading, then by length with overlap."""
    passages: list[Passage] = []
    for heading, body in _sections(article.text):
        for chunk in _windows(body, chunk_chars, overlap_chars):
            passages.append(
                Passage(
                    id=f"{article.id}#{len(passages)}",
                    article_id=article.id,
                    title=article.title,
                    heading=heading,
                    text=chunk,
                    url=article.url,
                )
            )
    return passages


def _sections(text: str) -> list[tuple[str, str]]:
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in _LINE_END.split(text):
        match = _HEADING.match(line)
        if match:
            sections.append((match.group(2), []))
        else:
            sections[-1][1].append(line)
    out = [(heading, "\n".join(lines).strip()) for heading, lines in sections]
    return [(h, b) for h, b in out if b]


def _windows(text: str, chunk_chars: int, overlap_chars: int) -> list[str]:
    if len(text) <= chunk_chars:
        return [text]
    units = [u.strip() for u in _SENTENCE_END.split(text) if u.strip()]
    windows: list[str] = []
    current: list[str] = []
    for unit in units:
        while len(unit) > chunk_chars:  # one enormous sentence: hard split
            head, unit = unit[:chunk_chars], unit[chunk_chars - overlap_chars :]
            if current:
                windows.append(" ".join(current))
                current = []
            windows.append(head)
        if current and len(" ".join([*current, unit])) > chunk_chars:
            windows.append(" ".join(current))
            # carry the tail sentences (up to overlap_chars) into the next window
            carry: list[str] = []
            for previous in reversed(current):
                if len(" ".join([previous, *carry])) > overlap_chars:
                    break
                carry.insert(0, previous)
            current = carry
        current.append(unit)
    if current:
        windows.append(" ".join(current))
    return windows
