"""The llama.cpp peer benchmark where the peer is not built (CI): the last measured row is kept, dated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks import bench_llamacpp
from benchmarks.peers import llamacpp as peer


def test_without_the_peer_the_last_measured_result_is_kept_with_its_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTKIT_PEERS_DIR", str(tmp_path / "no-peers"))
    monkeypatch.setattr("benchmarks.harness.RESULTS_DIR", tmp_path)
    assert not peer.available()
    with pytest.raises(RuntimeError, match="make bench-peers"):
        peer.load()
    first = bench_llamacpp.run()
    assert first["rows"] == [
        {"llama.cpp": "not measured: run `make bench-peers` (builds llama-cpp-python once)"}
    ]
    measured = {
        "name": "llamacpp",
        "quick": False,
        "title": bench_llamacpp.TITLE,
        "command": bench_llamacpp.COMMAND,
        "machine": {"date": "2026-11-30 14:50 UTC"},
        "rows": [{"GGUF": "bundled Q4_1 GGUF", "batch 1 decode ms/token": "25.0"}],
        "notes": ["measured note"],
    }
    (tmp_path / "llamacpp.json").write_text(json.dumps(measured))
    for _ in range(2):  # kept twice: one note, not two
        kept = bench_llamacpp.run()
        assert kept["rows"] == measured["rows"]
        assert kept["notes"][0].endswith("the figures measured on 2026-11-30 14:50 UTC are kept.")
        assert kept["notes"][1:] == ["measured note"]
        (tmp_path / "llamacpp.json").write_text(json.dumps({"name": "llamacpp", **kept}))
