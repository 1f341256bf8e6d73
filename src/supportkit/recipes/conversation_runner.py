"""Running conversation tests through the assistant pipeline: results, a pass/fail table and
JUnit XML for CI (``supportkit test``)."""

from __future__ import annotations

import shutil
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supportkit.recipes.conversation_tests import ConversationTest, check_turn


@dataclass
class TurnResult:
    conversation: str
    turn: int
    user: str
    reply: str
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: ``file:line`` of the turn in the test file.
    where: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures


def run_conversation_tests(
    pipeline: Any, tests: Sequence[ConversationTest], *, source: str = ""
) -> list[TurnResult]:
    """Answer every turn of every conversation with ``pipeline`` (an ``InferencePipeline``), the
    earlier turns of the same conversation given as history, and check its expectations."""
    results = []
    for test in tests:
        history: list[dict[str, str]] = []
        for number, turn in enumerate(test.turns, start=1):
            started = time.perf_counter()
            kwargs: dict[str, Any] = {"history": list(history)}
            if test.user_id is not None:
                kwargs["user_id"] = test.user_id
            response = pipeline.respond(
                turn.user, test.strategy, user_context=test.user_context or None, **kwargs
            )
            results.append(
                TurnResult(
                    test.name,
                    number,
                    turn.user,
                    response.text,
                    check_turn(response, turn.expect),
                    time.perf_counter() - started,
                    f"{source}:{turn.line}" if source else "",
                )
            )
            history += [
                {"role": "user", "content": turn.user},
                {"role": "assistant", "content": response.text},
            ]
    return results


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def format_results(results: Sequence[TurnResult], width: int | None = None) -> str:
    """A pass/fail table that fits ``width`` columns (default: the terminal's), failures spelled out
    under it with the reply, and a summary line."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    name_w = min(28, max([len("conversation"), *(len(r.conversation) for r in results)]))
    user_w = max(20, width - name_w - 16)
    lines = [f"{'conversation':<{name_w}}  turn  result  message", "-" * min(width, name_w + user_w + 16)]
    for r in results:
        status = "pass" if r.passed else "FAIL"
        lines.append(
            f"{_cut(r.conversation, name_w):<{name_w}}  {r.turn:>4}  {status:<6}  {_cut(r.user, user_w)}"
        )
    failed = [r for r in results if not r.passed]
    for r in failed:  # details wrap rather than cut: every failure is read whole
        lines.append("")
        head = f"FAIL {r.conversation} turn {r.turn} ({r.where or 'test file'}): {r.user}"
        lines += textwrap.wrap(head, width, subsequent_indent="    ")
        for failure in r.failures:
            lines += textwrap.wrap(failure, width, initial_indent="  - ", subsequent_indent="    ")
        lines.append(f"  reply: {_cut(r.reply, max(40, width - 9))}")
    conversations = {r.conversation for r in results}
    bad = {r.conversation for r in failed}
    lines.append("")
    lines.append(
        f"{len(results) - len(failed)} of {len(results)} turns passed; "
        f"{len(conversations) - len(bad)} of {len(conversations)} conversations passed"
    )
    return "\n".join(lines)


def write_junit(results: Sequence[TurnResult], path: str | Path, *, suite: str = "conversations") -> Path:
    """JUnit XML (one ``testcase`` per turn, classname = the conversation) for CI test reports."""
    path = Path(path)
    failures = sum(not r.passed for r in results)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            root,
            "testcase",
            classname=r.conversation,
            name=f"turn {r.turn}: {_cut(r.user, 80)}",
            time=f"{r.seconds:.3f}",
        )
        if r.where:
            case.set("file", r.where.rsplit(":", 1)[0])
            case.set("line", r.where.rsplit(":", 1)[1])
        if not r.passed:
            failure = ET.SubElement(case, "failure", message="; ".join(r.failures))
            failure.text = f"{r.where}\nuser: {r.user}\nreply: {r.reply}\n" + "\n".join(r.failures)
        ET.SubElement(case, "system-out").text = r.reply
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
