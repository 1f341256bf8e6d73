"""Text files users actually have: CSV dialects and BOMs, column mappings, line separators, mixed
encodings, knowledge articles with a BOM (issue 12 items 7-9 and 11, issue 17 item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supportkit.config import Config
from supportkit.data.readers import read_conversations
from supportkit.errors import ConfigError, DataError
from supportkit.retrieval.bank import ExampleBank
from supportkit.retrieval.embedder import HashingEmbedder
from supportkit.retrieval.passages import load_articles, split_passages

BOM = b"\xef\xbb\xbf"


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


# --- CSV ----------------------------------------------------------------------------------------
def test_csv_keeps_line_breaks_inside_quoted_cells_and_reports_physical_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "m.csv",
        'question,answer\n"Where is\nmy order?","Step 1: log in.\r\nStep 2: open Orders."\nq2,a2,extra\n',
    )
    rows, report = read_conversations(path, on_error="skip")
    assert rows[0].question == "Where is\nmy order?"
    assert rows[0].answer == "Step 1: log in.\r\nStep 2: open Orders."
    assert report.skipped == 1 and report.errors[0].startswith(f"{path}:5: 3 cells but the header has 2")


def test_excel_utf8_bom_is_not_part_of_the_first_header(tmp_path: Path) -> None:
    path = _write(tmp_path, "excel.csv", BOM + b"intent,question,answer\r\ntrack,Where is it?,Here.\r\n")
    (row,), _ = read_conversations(path)
    assert (row.intent, row.question, row.answer) == ("track", "Where is it?", "Here.")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("german.csv", "Frage;Antwort;Absicht\r\nWo ist es, bitte?;Hier, im Lager.;track\r\n"),
        ("tabs.csv", "Frage\tAntwort\tAbsicht\nWo ist es, bitte?\tHier, im Lager.\ttrack\n"),
        ("tabs.tsv", "Frage\tAntwort\tAbsicht\nWo ist es, bitte?\tHier, im Lager.\ttrack\n"),
        ("mac.csv", 'Frage,Antwort,Absicht\r"Wo ist es, bitte?","Hier, im Lager.",track\r'),
        ("pipes.csv", "Frage|Antwort|Absicht\nWo ist es, bitte?|Hier, im Lager.|track\n"),
    ],
)
def test_csv_dialects_are_detected(tmp_path: Path, name: str, text: str) -> None:
    mapping = {"Frage": "question", "Antwort": "answer", "Absicht": "intent"}
    (row,), _ = read_conversations(_write(tmp_path, name, text), column_mapping=mapping)
    assert (row.question, row.answer, row.intent) == ("Wo ist es, bitte?", "Hier, im Lager.", "track")


def test_csv_delimiter_setting_forces_the_delimiter(tmp_path: Path) -> None:
    path = _write(tmp_path, "semi.csv", "question;answer\nq, still q;a\n")
    (row,), _ = read_conversations(path, csv_delimiter=";")
    assert row.question == "q, still q"
    with pytest.raises(DataError, match=r"columns are 'question;answer'.*data.csv_delimiter"):
        read_conversations(path, csv_delimiter=",")
    assert Config().with_overrides(["data.csv_delimiter=tab"]).data.csv_delimiter == "tab"
    with pytest.raises(ConfigError, match=r"data\.csv_delimiter"):
        Config().with_overrides(["data.csv_delimiter=;;"]).data.validate()


def test_header_without_usable_column_names_the_columns_found(tmp_path: Path) -> None:
    path = _write(tmp_path, "odd.csv", "Kunde,Text\nAnna,hello\n")
    with pytest.raises(DataError, match=r"odd.csv:1.*columns are 'Kunde', 'Text'.*no usable question column"):
        read_conversations(path)


# --- column mapping (issue 17 item 4) -------------------------------------------------------------
def test_mapping_typo_is_reported_once_with_the_columns_and_a_suggested_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.csv", "Question,Answer,Intent\nq1,a1,i\nq2,a2,i\n")
    mapping = {"Qestion": "question", "Answer": "answer"}
    for on_error in ("raise", "skip"):  # skip would have skipped every row
        with pytest.raises(DataError) as info:
            read_conversations(path, column_mapping=mapping, on_error=on_error)
        message = str(info.value)
        assert "'Question', 'Answer', 'Intent'" in message and "'Qestion' (for question)" in message
        assert "'Question': 'question'" in message and "'Answer': 'answer'" in message
        assert "on_error" not in message and "missing or empty" not in message


def test_mapping_typo_on_an_optional_field_is_not_silently_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.csv", "question,answer,Absicht\nq,a,track\n")
    with pytest.raises(DataError, match=r"'Absict' \(for intent\).*'Absicht': 'intent'"):
        read_conversations(path, column_mapping={"Absict": "intent"})


def test_mapping_target_must_be_a_known_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.csv", "Frage,Antwort\nq,a\n")
    with pytest.raises(DataError, match=r"'Frage' to 'qestion'.*did you mean 'question'"):
        read_conversations(path, column_mapping={"Frage": "qestion", "Antwort": "answer"})


def test_jsonl_keys_are_checked_against_the_mapping_too(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.jsonl", '{"Frage": "q", "Antwort": "a"}\n' * 3)
    with pytest.raises(DataError, match=r"'Frag' \(for question\).*'Frage': 'question'"):
        read_conversations(path, column_mapping={"Frag": "question", "Antwort": "answer"})


# --- Unicode line separators (item 8) ---------------------------------------------------------------
def test_jsonl_line_separators_inside_strings_are_text_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    rows = [{"question": f"q{i}\u2028more\u2029end\x85", "answer": "a"} for i in range(2)]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + '{"question": "q"}\n'
    path = _write(tmp_path, "sep.jsonl", text)
    with pytest.raises(DataError, match=r"sep.jsonl:3: missing or empty answer"):
        read_conversations(path)
    good, report = read_conversations(path, on_error="skip")
    assert [c.question for c in good] == ["q0\u2028more\u2029end", "q1\u2028more\u2029end"]
    assert report.skipped == 1


def test_a_bank_the_project_wrote_reopens_after_a_line_separator(tmp_path: Path) -> None:
    path = tmp_path / "bank.jsonl"
    ExampleBank(path, embedder=HashingEmbedder()).add("Opening hours?", "Mon\u2028Tue\u2029Wed\x85", "hours")
    assert "\u2028" not in path.read_text(encoding="utf-8")  # escaped: other readers split there
    (example,) = ExampleBank(path, embedder=HashingEmbedder()).snapshot().examples
    assert example.answer == "Mon\u2028Tue\u2029Wed" and example.intent == "hours"


# --- mixed encodings (item 9) ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("mixed.jsonl", [b'{"question": "q%d", "answer": "a"}' % i for i in range(5)]),
        ("mixed.csv", [b"question,answer"] + [b"q%d,a" % i for i in range(1, 6)]),
    ],
)
def test_every_bad_utf8_line_is_reported_or_skipped(tmp_path: Path, name: str, lines: list[bytes]) -> None:
    lines = list(lines)
    lines[2] = lines[2].replace(b"q", b"caf\xe9 q")  # Latin-1 lines in a UTF-8 file
    lines[4] = lines[4].replace(b"q", b"na\xefve q")
    path = _write(tmp_path, name, b"\n".join(lines) + b"\n")
    with pytest.raises(DataError, match=rf"{name}:3: not valid UTF-8 \(byte 0xe9"):
        read_conversations(path)
    good, report = read_conversations(path, on_error="skip")
    assert report.skipped == 2 and [e.split(": ")[0] for e in report.errors] == [f"{path}:3", f"{path}:5"]
    assert not any("\ufffd" in c.question or "\udce9" in c.question for c in good) and len(good) == 3


def test_a_json_document_reports_every_bad_row_by_its_line(tmp_path: Path) -> None:
    body = b'[\n{"question": "caf\xe9", "answer": "a"},\n{"question": "q", "answer": "a"},\n'
    path = _write(tmp_path, "doc.json", body + b'\n  {"question": "na\xefve",\n "answer": "a"}\n]\n')
    with pytest.raises(DataError, match=r"doc.json:2: not valid UTF-8 \(byte 0xe9"):
        read_conversations(path)
    (good,), report = read_conversations(path, on_error="skip")
    assert good.question == "q" and good.source == f"{path}:3"
    assert [e.split(": ")[0] for e in report.errors] == [f"{path}:2", f"{path}:5"]


def test_excel_sep_hint_line_sets_the_delimiter(tmp_path: Path) -> None:
    path = _write(tmp_path, "hint.csv", "sep=;\r\nquestion;answer\r\nq, really;a\r\nbad\r\n")
    (row,), report = read_conversations(path, on_error="skip")
    assert row.question == "q, really" and report.errors[0].startswith(f"{path}:4: 1 cells")


def test_bom_is_stripped_from_json_and_jsonl(tmp_path: Path) -> None:
    for name, body in (("b.jsonl", b'{"question": "q", "answer": "a"}\n'), ("b.json", b'[{"q": 1}]')):
        data = body if name.endswith("l") else b'[{"question": "q", "answer": "a"}]'
        (row,), _ = read_conversations(_write(tmp_path, name, BOM + data))
        assert row.question == "q"


def test_utf16_with_bom_reads(tmp_path: Path) -> None:  # Excel's "Unicode Text" export
    path = _write(tmp_path, "u16.csv", "\ufeffquestion\tanswer\r\nWo?\tHier.\r\n".encode("utf-16-le"))
    (row,), _ = read_conversations(path)
    assert (row.question, row.answer) == ("Wo?", "Hier.")


# --- knowledge articles (item 11) -------------------------------------------------------------------
def test_article_with_a_bom_keeps_its_title_and_no_bom(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_bytes(BOM + b"# Returns policy\r\n\r\nYou have 30 days.\r\n")
    (article,) = load_articles(kb)
    assert article.title == "Returns policy" and "\ufeff" not in article.text
    assert all("\ufeff" not in p.embedding_text() for p in split_passages(article))
    jsonl = _write(tmp_path, "kb.jsonl", BOM + b'{"title": "T", "text": "x\xe2\x80\xa8y"}\n')
    (row,) = load_articles(jsonl)
    assert (row.title, row.text) == ("T", "x\u2028y")


def test_article_names_every_bad_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.md", b"# Caf\xe9\n\nok\n\nna\xefve\n")
    with pytest.raises(DataError, match=r"2 line\(s\): .*a.md:1, .*a.md:5"):
        load_articles(path)


def test_labelled_eval_files_read_with_a_bom_and_line_separators(tmp_path: Path) -> None:
    from supportkit.evaluation.grounding import read_labelled

    path = _write(tmp_path, "r.jsonl", BOM + '{"question": "a\u2028b", "article": "x"}\n'.encode())
    assert read_labelled(path, ["question", "article"]) == [{"question": "a\u2028b", "article": "x"}]


def test_near_duplicate_grouping_tells_non_latin_questions_apart() -> None:
    from supportkit.data.splits import near_duplicate_groups

    questions = ["我的订单在哪里？", "如何退货？", "Где мой заказ?", "Как вернуть товар?", "Где мой  заказ"]
    assert near_duplicate_groups(questions, None, None) == [0, 1, 2, 3, 2]
