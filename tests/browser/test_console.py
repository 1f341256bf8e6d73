"""The agent console and the customer page side by side: two browser sessions against one real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import answers_done, ask, browser_or_fail, page_errors, screenshot, wait_for
from tests.serving.conftest import ServerThread

pytestmark = pytest.mark.slow  # two browser processes and a server; about 30 s for the module

ESCALATE = "I want to speak to a human agent about order 1042"
REPLY = "Hello, this is Sam from support. Order 1042 left our warehouse this morning."


@pytest.fixture(scope="module")
def customer() -> Iterator[Any]:
    driver = browser_or_fail()
    yield driver
    driver.quit()


def _conversation_id(driver: Any) -> str:
    return str(
        driver.execute_script(
            "return Object.entries(localStorage).find(e => e[0].startsWith('supportkit.conversation'))[1]"
        )
    )


def test_escalation_reaches_the_console_and_the_agent_reply_reaches_the_customer(
    browser: Any, customer: Any, web_server: ServerThread
) -> None:
    store = web_server.app.state.supportkit.store
    console = browser
    console.get(web_server.url + "/console")
    customer.get(web_server.url + "/")
    customer.execute_script("localStorage.clear()")
    customer.get(web_server.url + "/")

    ask(customer, ESCALATE)
    notice = wait_for(customer, lambda d: d.find_element(By.CSS_SELECTOR, ".sk-notice.sk-handoff"))
    assert "person" in notice.text
    conversation_id = _conversation_id(customer)

    # the console shows it without a reload, escalated, on top, with its reason
    first = wait_for(
        console,
        lambda d: (
            (items := d.find_elements(By.CSS_SELECTOR, "#conversations li"))
            and items[0].get_attribute("data-id") == conversation_id
            and items[0]
        ),
        message="the escalated conversation did not appear on top of the console's list",
    )
    assert "c-escalated" in first.get_attribute("class") and "human_request" in first.text
    screenshot(console, "console-escalated")
    first.click()
    summary = wait_for(console, lambda d: d.find_element(By.CSS_SELECTOR, ".c-handoff"))
    assert "human_request" in summary.text and ESCALATE in summary.text

    # take over, reply: the reply is stored as an agent turn and shows up on the customer's page
    console.find_element(By.ID, "takeover").click()
    wait_for(console, lambda d: d.find_element(By.ID, "handback"))
    assert store.conversation(conversation_id).status == "agent"
    console.find_element(By.ID, "reply").send_keys(REPLY)
    console.find_element(By.ID, "send-reply").click()
    shown = wait_for(customer, lambda d: d.find_element(By.CSS_SELECTOR, ".sk-msg.sk-agent"), timeout=30)
    assert REPLY in shown.text
    assert [m.role for m in store.conversation(conversation_id).messages] == ["user", "assistant", "agent"]
    screenshot(customer, "chat-agent-reply")

    # while taken over, the customer's message goes to the agent and the assistant stays quiet
    ask(customer, "Thanks! Can it come on Friday?")
    wait_for(customer, lambda d: d.find_element(By.CSS_SELECTOR, ".sk-notice.sk-agent-notice"))
    roles = [m.role for m in store.conversation(conversation_id).messages]
    assert roles == ["user", "assistant", "agent", "user"]
    wait_for(console, lambda d: "Can it come on Friday?" in d.find_element(By.ID, "detail").text)
    screenshot(console, "console-conversation")

    # hand back: the assistant answers again
    console.find_element(By.ID, "handback").click()
    wait_for(console, lambda d: d.find_element(By.ID, "takeover"))
    assert store.conversation(conversation_id).status == "assistant"
    ask(customer, "When does my parcel ship?")
    wait_for(customer, answers_done(customer, 2))
    assert store.conversation(conversation_id).messages[-1].role == "assistant"


def test_feedback_view_filters_and_dashboard(browser: Any, customer: Any, web_server: ServerThread) -> None:
    customer.get(web_server.url + "/")
    customer.execute_script("localStorage.clear()")
    customer.get(web_server.url + "/")
    for rating in ("up", "down"):
        ask(customer, f"When does my parcel ship? ({rating})")
        answer = wait_for(customer, answers_done(customer, 1 if rating == "up" else 2))
        answer.find_element(By.CSS_SELECTOR, f".sk-{rating}").click()
        if rating == "down":
            answer.find_element(By.CSS_SELECTOR, ".sk-correction").send_keys(
                "Same day for orders before noon."
            )
        answer.find_element(By.CSS_SELECTOR, ".sk-rate-send").click()
        wait_for(
            customer, lambda d, a=answer: "Thanks" in a.find_element(By.CSS_SELECTOR, ".sk-rate-status").text
        )

    console = browser
    console.get(web_server.url + "/console")
    console.find_element(By.ID, "tab-feedback").click()
    wait_for(console, lambda d: d.find_elements(By.CSS_SELECTOR, "#feedback tr[data-rating]"))
    Select(console.find_element(By.ID, "f-rating")).select_by_value("down")
    console.find_element(By.CSS_SELECTOR, "#feedback-filters button[type=submit]").click()
    wait_for(
        console,
        lambda d: (
            (rows := d.find_elements(By.CSS_SELECTOR, "#feedback tr[data-rating]"))
            and all(r.get_attribute("data-rating") == "down" for r in rows)
        ),
    )
    assert "Same day for orders before noon." in console.find_element(By.ID, "feedback").text
    screenshot(console, "console-feedback")

    console.find_element(By.ID, "tab-dashboard").click()
    expected = len(web_server.app.state.supportkit.store.answers_since(0))
    cards = wait_for(console, lambda d: d.find_element(By.ID, "cards").text or False)
    assert int(cards.split("Answers\n")[1].split("\n")[0]) == expected
    assert "Thumbs up" in cards and "Escalation rate" in cards
    bars = wait_for(console, lambda d: d.find_elements(By.CSS_SELECTOR, "#chart svg rect"))
    assert len(bars) >= 12  # one per interval (answers), plus escalation bars
    assert page_errors(console) == [] and page_errors(customer) == []
    screenshot(console, "console-dashboard")
