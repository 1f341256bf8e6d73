"""Language detection: py3langid (the pipeline's) vs lingua-language-detector on support questions.

Labelled set: ``data/eval/languages.jsonl`` (82 English support questions with emoji, typos, slang,
order and tracking numbers, product names and foreign words; 6 wordless ones; 71 German, French,
Spanish, Italian, Portuguese and Dutch ones). Both detectors go through the same rule as the
pipeline (:class:`~supportkit.guardrails.language.LanguageDetector`: fewer than 3 words of letters,
or a best guess below 0.5, is ``und`` and counts as supported), with ``model.languages: [en]``.
"False unsupported" is an English or wordless question called unsupported (the costly error: a
customer handed off for writing English); "found" is an other-language question called
unsupported. Time per question is the median of interleaved repeats (lingua: all 75 languages,
high accuracy mode, models preloaded).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.harness import fmt_ratio, machine_info, parse_args, round_robin, write_result

NAME = "language"
COMMAND = "python -m benchmarks.bench_language"
DATA = Path(__file__).resolve().parents[1] / "data" / "eval" / "languages.jsonl"
#: English questions written before the detector (escalation and retrieval sets): out of sample.
OTHER_ENGLISH = [
    (Path(__file__).resolve().parents[1] / "data" / "eval" / name, key)
    for name, key in (("escalation.jsonl", "query"), ("retrieval.jsonl", "question"))
]


def _lingua() -> Callable[[str], tuple[str, float]]:
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

    def classify(text: str) -> tuple[str, float]:
        values = detector.compute_language_confidence_values(text)
        if not values:
            return "zxx", 0.0
        return values[0].language.iso_code_639_1.name.lower(), float(values[0].value)

    return classify


def score(rows: list[dict[str, Any]], classify: Callable[[str], tuple[str, float]]) -> dict[str, Any]:
    from supportkit.guardrails.language import LanguageDetector

    class Rule(LanguageDetector):  # the pipeline's rule around another classifier
        def _load(self) -> Any:
            return type("C", (), {"classify": staticmethod(classify)})

    detector = Rule(["en"])
    guesses = [(r, detector.detect(r["text"])) for r in rows]
    english = [(r, g) for r, g in guesses if r["language"] in ("en", "und")]
    foreign = [(r, g) for r, g in guesses if r["language"] not in ("en", "und")]
    false_unsupported = [r["text"] for r, g in english if not g.supported]
    missed = [r["text"] for r, g in foreign if g.supported]
    right = sum(g.code == r["language"] for r, g in foreign)
    return {
        "english_or_wordless": len(english),
        "false unsupported": len(false_unsupported),
        "other_language": len(foreign),
        "found unsupported": len(foreign) - len(missed),
        "language right": right,
        "errors": false_unsupported + missed,
    }


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    from supportkit.guardrails.language import LanguageDetector

    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["text"] for r in rows]
    started = time.perf_counter()
    py3 = LanguageDetector._load().classify
    py3_load = time.perf_counter() - started
    started = time.perf_counter()
    lingua = _lingua()
    lingua_load = time.perf_counter() - started
    classifiers = {"py3langid 0.4": py3, "lingua 2.1 (high accuracy)": lingua}
    scores = {name: score(rows, fn) for name, fn in classifiers.items()}
    unseen = [
        {"text": json.loads(line)[key], "language": "en"}
        for path, key in OTHER_ENGLISH
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    unseen_scores = {name: score(unseen, fn) for name, fn in classifiers.items()}

    def per_text(fn: Callable[[str], Any]) -> Callable[[], float]:
        def go() -> float:
            start = time.perf_counter()
            for text in texts:
                fn(text)
            return (time.perf_counter() - start) / len(texts)

        return go

    stats = round_robin(
        {name: per_text(fn) for name, fn in classifiers.items()},
        baseline="py3langid 0.4",
        repeats=repeats or (1 if quick else 5),
        measure=lambda f: f(),
    )
    loads = {"py3langid 0.4": py3_load, "lingua 2.1 (high accuracy)": lingua_load}
    sizes = {"py3langid 0.4": "4.5 MB", "lingua 2.1 (high accuracy)": "96 MB"}
    table = [
        {
            "detector": name,
            "false unsupported (English/wordless)": f"{s['false unsupported']} / {s['english_or_wordless']}",
            "false unsupported (English, unseen)": (
                f"{unseen_scores[name]['false unsupported']} / {unseen_scores[name]['english_or_wordless']}"
            ),
            "found unsupported (other languages)": f"{s['found unsupported']} / {s['other_language']}",
            "language right": f"{s['language right']} / {s['other_language']}",
            "ms per question": f"{1000 * stats[name]['value']['median']:.3f}",
            "time vs py3langid": fmt_ratio(stats[name]["ratio"]),
            "load s": f"{loads[name]:.1f}",
            "installed": sizes[name],
        }
        for name, s in scores.items()
    ]
    py3_errors = "; ".join(scores["py3langid 0.4"]["errors"]) or "none"
    lingua_errors = "; ".join(scores["lingua 2.1 (high accuracy)"]["errors"]) or "none"
    notes = [
        f"{len(rows)} questions. Errors of py3langid: {py3_errors}. Errors of lingua: {lingua_errors}.",
        "The pipeline uses py3langid: as accurate here (more so on short Spanish and French), ~23x "
        "faster, a twentieth of the install. The confidence threshold 0.5 (guardrails/language.py "
        "MIN_CONFIDENCE) was chosen on this set: 0.3 finds every other-language question but calls "
        "'gimme my money back' unsupported; 0.6 misses 7. The figures are in-sample (the threshold and "
        "the 3-word minimum were chosen on this set); the last 25 questions were added after the first "
        "choice to probe short English. 'English, unseen': the questions of data/eval/escalation.jsonl "
        "and retrieval.jsonl, written before the detector existed.",
    ]
    return {
        "title": "Language detection: unsupported-language decisions on support questions",
        "command": COMMAND + (" --quick" if quick else ""),
        "machine": machine_info(),
        "rows": table,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__ or NAME, argv)
    print(write_result(NAME, run(quick=args.quick, repeats=args.repeats), quick=args.quick))


if __name__ == "__main__":
    main()
