"""``metrics.jsonl``: one JSON record per optimizer step, never repeated after a resume."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from supportkit.pipelines.checkpoints import writing


class MetricsLog:
    """Appends step records to ``path``; :meth:`start_at` drops records past a resumed step."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def start_at(self, step: int) -> int:
        """Keep only the records of steps ``<= step`` (all of them gone for a fresh run, ``step=0``);
        a half-written last line is dropped too. Returns how many records were removed."""
        if not self.path.is_file():
            return 0
        kept: list[str] = []
        removed = 0
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record_step = int(json.loads(line)["step"])
            except (ValueError, KeyError, TypeError):
                removed += 1
                continue
            if record_step <= step:
                kept.append(line)
            else:
                removed += 1
        if removed:
            tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
            with writing(self.path):
                tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
                os.replace(tmp, self.path)
        return removed

    def append(self, record: dict[str, Any]) -> None:
        with writing(self.path), self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
