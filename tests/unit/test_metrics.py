"""The metric core against known values."""

from __future__ import annotations

import math

import pytest

from supportkit.errors import UnknownNameError
from supportkit.evaluation.metrics import METRICS, register_metric, score, score_one


def test_identical_and_disjoint() -> None:
    same = score_one("Refunds take five days.", "Refunds take five days.", ["rouge1", "rouge2", "rougeL"])
    assert same == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    disjoint = score_one("apple banana", "car train", ["rouge1", "rouge2", "rougeL"])
    assert disjoint == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_hand_computed_rouge() -> None:
    # "the cat sat on the mat" vs "the cat lay on the mat": 5 of 6 unigrams shared -> P = R = 5/6.
    s = score_one("the cat sat on the mat", "the cat lay on the mat", ["rouge1", "rouge2", "rougeL"])
    assert s["rouge1"] == pytest.approx(5 / 6)
    # bigrams: the-cat, on-the, the-mat shared of 5 -> 3/5.
    assert s["rouge2"] == pytest.approx(3 / 5)
    # LCS "the cat on the mat" = 5 tokens -> 5/6.
    assert s["rougeL"] == pytest.approx(5 / 6)
    # Stemming: "refunds" and "refund" match.
    assert score_one("refunds", "refund", ["rouge1"])["rouge1"] == 1.0


def test_similarity_with_real_minilm() -> None:
    s = score(
        ["Your refund will arrive within a week.", "Your refund will arrive within a week.", ""],
        ["Your refund will arrive within a week.", "The weather is sunny in Madrid.", "anything"],
        ["similarity"],
    )["similarity"]
    assert s[0] == pytest.approx(1.0, abs=1e-5)
    assert s[1] < 0.3
    assert s[2] == 0.0  # empty prediction: scored 0, no crash


def test_custom_metric_registration_and_unknown_names() -> None:
    @register_metric("exact_match_test")
    def exact(predictions, references):  # type: ignore[no-untyped-def]
        return [float(p == r) for p, r in zip(predictions, references, strict=True)]

    try:
        assert score(["a", "b"], ["a", "c"], ["exact_match_test"]) == {"exact_match_test": [1.0, 0.0]}
    finally:
        METRICS._items.pop("exact_match_test")
    with pytest.raises(UnknownNameError, match="unknown metric 'bleu_x'"):
        score(["a"], ["a"], ["bleu_x"])
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        score(["a", "b"], ["a"])


def test_detail_recall_counts_the_references_specifics() -> None:
    from supportkit.evaluation.metrics import detail_recall, details

    assert details("Order BC-31751: $82.95 within 5 to 7 days, 1,299 points, 10%") == {
        "bc-31751",
        "$82.95",
        "5",
        "7",
        "1299",
        "10%",
    }
    scores = detail_recall(
        ["Refund of $82.95 for order BC-31751.", "Refund of $82.95 for order BC-99999.", "", "Hello"],
        ["Order BC-31751 gets $82.95.", "Order BC-31751 gets $82.95.", "BC-1", "No specifics here."],
    )
    assert scores[:3] == [1.0, 0.5, 0.0] and math.isnan(scores[3])


def test_a_saved_system_can_be_scored_with_a_metric_added_later() -> None:
    from supportkit.evaluation.evaluator import SystemResult, add_metrics
    from supportkit.evaluation.metrics import METRICS, register_metric

    rows = [
        {"prediction": "Order BC-1 ships today", "reference": "Order BC-1 ships in 2 days"},
        {"prediction": "no idea", "reference": "Order BC-2 ships in 2 days"},
    ]
    system = SystemResult("saved", rows, {})

    @register_metric("mentions_ships_test")
    def ships(predictions: list[str], references: list[str]) -> list[float]:
        return [float("ships" in p) for p in predictions]

    try:
        add_metrics(system, ["detail_recall", "mentions_ships_test"])
    finally:
        METRICS._items.pop("mentions_ships_test")
    assert [r["mentions_ships_test"] for r in rows] == [1.0, 0.0]
    assert [r["detail_recall"] for r in rows] == [0.5, 0.0]
    assert system.metrics["detail_recall"].mean == 0.25 and system.metrics["mentions_ships_test"].n == 2


def test_placeholder_leak_ignores_slots_the_reference_has() -> None:
    from supportkit.evaluation.metrics import placeholder_leak

    reference = "Go to {{Order History}}, open {{Order Number}} and choose {{Cancel Order}}."
    assert placeholder_leak([reference], [reference]) == [0.0]
    assert placeholder_leak(["Open {{order number}} now."], [reference]) == [0.0]
    assert placeholder_leak(["Call {{Customer Support Phone Number}}."], [reference]) == [1.0]
    assert placeholder_leak(["{{Order Number}} is late"], ["Your order is late."]) == [1.0]


def test_detail_recall_skips_list_enumerators() -> None:
    from supportkit.evaluation.metrics import detail_recall, details

    steps = "To cancel:\n1. Open Orders.\n2) Select order BC-31751.\n 3. Refund of $82.95 in 5 days."
    assert details(steps) == {"bc-31751", "$82.95", "5"}
    flat = "Follow these steps: 1. Log in. 2. Open {{Invoices}}. 3. Download the 2 newest ones."
    assert details(flat) == {"2"}
    assert details("Version 1.2 costs 10.50 and ships in 3-5 days") >= {"1.2", "10.50", "3"}
    assert detail_recall(["Open Orders and Select the order."], [steps]) == [0.0]
    assert detail_recall([steps], [steps]) == [1.0]


ENGLISH = [
    ("Refunds are processed within 5-7 business days.", "Your refund is processed in 5 to 7 days!"),
    ("I can't find order BC-12345; it wasn't shipped_yet.", "Order BC-12345 hasn't shipped yet."),
    ("Call us at +1 (555) 123-4567, Mon–Fri 9am–5pm.", "We're open Monday to Friday, 9 to 5."),
    ("THE CAT SAT ON THE MAT", "the cats sitting on mats"),
    ("", "an empty prediction"),
]


@pytest.mark.parametrize(("prediction", "reference"), ENGLISH)
def test_english_rouge_is_exactly_rouge_scores_default(prediction: str, reference: str) -> None:
    from rouge_score import rouge_scorer

    default = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    ours = score_one(prediction, reference, ["rouge1", "rouge2", "rougeL"])
    expected = default.score(reference, prediction) if prediction.strip() else None
    for kind in ("rouge1", "rouge2", "rougeL"):
        assert ours[kind] == (expected[kind].fmeasure if expected else 0.0)


@pytest.mark.parametrize(
    "text",
    [
        "我的订单在哪里？请告诉我。",
        "Где мой заказ? Он ещё не пришёл.",
        "注文はどこですか",
        "คำสั่งซื้อของฉันอยู่ที่ไหน",
        "Wo ist meine Bestellung?",
    ],
)
def test_identical_answers_in_any_script_score_one(text: str) -> None:
    assert score_one(text, text, ["rouge1", "rouge2", "rougeL", "bleu"]) == pytest.approx(
        {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "bleu": 1.0}
    )


def test_partial_overlap_in_chinese_and_russian_is_partial() -> None:
    zh = score_one("我的订单已经发货了", "我的订单在哪里", ["rouge1", "bleu", "length"])
    assert 0.3 < zh["rouge1"] < 1.0 and 0.0 < zh["bleu"] < 1.0 and zh["length"] == 9.0
    ru = score_one("Ваш заказ отправлен сегодня", "Ваш заказ отправлен вчера", ["rouge1", "rougeL"])
    assert ru["rouge1"] == pytest.approx(3 / 4) and ru["rougeL"] == pytest.approx(3 / 4)
    # Case and compatibility forms fold, as ASCII case does: Ｚ is Z, Ж is ж.
    assert score_one("ЗАКАЗ ＺＸ", "заказ zx", ["rouge1"])["rouge1"] == 1.0
