"""The language of a question, and whether the model and embedder support it (``model.languages``).

Detection is py3langid (a naive Bayes model over byte n-grams, 97 languages, ~0.1 ms a question,
numpy arrays shipped in the package, no pickle). Short and wordless text is never called
unsupported: fewer than :data:`MIN_WORDS` words of letters (order numbers, e-mails and links do not
count), or a best guess below :data:`MIN_CONFIDENCE`, give ``und`` (undetermined), which counts as
supported. Measured on ``data/eval/languages.jsonl`` (BENCHMARKS.md, "Language detection").

    detector = LanguageDetector(["en"])
    detector.detect("Wo ist meine Bestellung?")   # LanguageGuess(code='de', confidence=1.0, supported=False)
    detector.detect("ok 👍")                      # LanguageGuess(code='und', confidence=0.0, supported=True)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Fewer words of letters than this: too little to tell a language apart ("ok thanks", "hallo").
MIN_WORDS = 3
#: A best guess less likely than this (normalised over 97 languages) is not trusted. 0.5 calls none
#: of the 88 English/wordless questions of the labelled set unsupported (0.3 calls one) and
#: finds 69 of its 71 other-language ones.
MIN_CONFIDENCE = 0.5
#: The code for "undetermined" (ISO 639-2); py3langid's ``zxx`` (no linguistic content) maps to it.
UNDETERMINED = "und"

#: English names of common codes, for notices and hand-off details (others show their code).
NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "cs": "Czech",
    "tr": "Turkish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "ar": "Arabic",
    "he": "Hebrew",
    "hi": "Hindi",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
}

_WORD = re.compile(r"[^\W\d_]{2,}")


def language_name(code: str) -> str:
    """``de`` -> ``German``; unknown codes are returned as they are."""
    return NAMES.get(code, code)


@dataclass(frozen=True)
class LanguageGuess:
    #: ISO 639-1 code, or ``und`` when the text is too short or wordless to tell.
    code: str
    confidence: float
    #: Whether ``code`` is one of ``model.languages`` (always true for ``und``).
    supported: bool

    @property
    def name(self) -> str:
        return language_name(self.code)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "confidence": round(self.confidence, 3), "supported": self.supported}


class LanguageDetector:
    """Detects a question's language and checks it against ``supported`` (ISO 639-1 codes).

    The py3langid model (a 4 MB compressed array file) is read once per process, on first use.
    Thread safety: ``detect`` may be called from many threads.
    """

    _lock = threading.Lock()
    _identifier: Any = None

    def __init__(
        self,
        supported: Sequence[str],
        *,
        min_words: int = MIN_WORDS,
        min_confidence: float = MIN_CONFIDENCE,
    ) -> None:
        self.supported = tuple(code.lower() for code in supported)
        self.min_words, self.min_confidence = min_words, min_confidence

    @classmethod
    def _load(cls) -> Any:
        with cls._lock:
            if cls._identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                cls._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            return cls._identifier

    def detect(self, text: str) -> LanguageGuess:
        """The language of ``text``: ``und`` (supported) when it has too few words to tell."""
        words = [w for w in text.split() if not any(c.isdigit() for c in w) and "@" not in w and "/" not in w]
        if len(_WORD.findall(" ".join(words))) < self.min_words:
            return LanguageGuess(UNDETERMINED, 0.0, True)
        code, confidence = self._load().classify(" ".join(words))
        confidence = float(confidence)
        if code == "zxx" or confidence < self.min_confidence:
            return LanguageGuess(UNDETERMINED, confidence, True)
        return LanguageGuess(code, confidence, code in self.supported)
