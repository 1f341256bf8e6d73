"""The customer chat page in a real headless Chromium against a real server (see conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import (
    ANSWER,
    HostSite,
    answers_done,
    ask,
    page_errors,
    screenshot,
    start_web_server,
    wait_for,
)
from tests.serving.conftest import ServerThread

pytestmark = pytest.mark.slow  # a browser process and a server; about 30 s for the module

QUESTION = "When does my parcel ship?"


def _fresh(browser: Any, server: ServerThread) -> None:
    browser.get(server.url + "/")
    browser.execute_script("localStorage.clear()")
    browser.get(server.url + "/")
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".sk-form textarea").is_displayed())


def _store(server: ServerThread) -> Any:
    return server.app.state.supportkit.store


def test_answer_streams_into_the_page_then_rating_reload_and_new_conversation(
    browser: Any, web_server: ServerThread
) -> None:
    _fresh(browser, web_server)
    box = browser.find_element(By.CSS_SELECTOR, ".sk-form textarea")
    # Shift+Enter is a new line, not a send
    box.send_keys("first line")
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    assert box.get_attribute("value") == "first line\n"
    assert not browser.find_elements(By.CSS_SELECTOR, ".sk-user")
    box.clear()

    ask(browser, QUESTION)
    streaming = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".sk-assistant.sk-streaming"))
    assert streaming.get_attribute("aria-live") == "polite" and streaming.get_attribute("aria-busy") == "true"
    form = browser.find_element(By.CSS_SELECTOR, ".sk-form")
    form_top = form.rect["y"]
    lengths, form_tops = set(), set()
    while browser.find_elements(By.CSS_SELECTOR, ".sk-assistant.sk-streaming"):
        text = browser.execute_script(
            "var n = document.querySelector('.sk-assistant.sk-streaming .sk-text');"
            "return n ? n.textContent : null;"
        )
        if text:
            lengths.add(len(text))
        form_tops.add(form.rect["y"])
    lengths.discard(0)
    assert len(lengths) >= 2, f"the answer did not grow while streaming (lengths seen: {sorted(lengths)})"
    assert form_tops == {form_top}, "the input box moved while the answer streamed"
    answer = wait_for(browser, answers_done(browser, 1))
    assert answer.get_attribute("aria-busy") == "false"
    # line breaks and lists are kept
    items = [li.text for li in answer.find_elements(By.CSS_SELECTOR, "ul li")]
    assert items == ["open your account page", "choose the order"]
    assert "Your parcel ships within two days of the order." in answer.text
    # the cited article is a link that opens the article
    link = answer.find_element(By.LINK_TEXT, "Shipping times")
    link.click()
    article = wait_for(browser, lambda d: answer.find_element(By.CSS_SELECTOR, ".sk-article"))
    assert "track it from your account page" in article.text
    screenshot(browser, "chat-answer")

    # thumbs down with a correction lands in the store, on this answer
    conversation_id = browser.execute_script(
        "return Object.entries(localStorage).find(e => e[0].startsWith('supportkit.conversation'))[1]"
    )
    answer.find_element(By.CSS_SELECTOR, ".sk-down").click()
    answer.find_element(By.CSS_SELECTOR, ".sk-correction").send_keys("It ships the same day.")
    answer.find_element(By.CSS_SELECTOR, ".sk-comment").send_keys("too slow")
    answer.find_element(By.CSS_SELECTOR, ".sk-rate-send").click()
    wait_for(browser, lambda d: "Thanks" in answer.find_element(By.CSS_SELECTOR, ".sk-rate-status").text)
    stored = _store(web_server).conversation(conversation_id)
    rated = _store(web_server).list_feedback(conversation_id=conversation_id)
    assert [(f.rating, f.correction, f.comment) for f in rated] == [
        ("down", "It ships the same day.", "too slow")
    ]
    assert rated[0].response_id == stored.messages[-1].response_id and rated[0].question == QUESTION
    screenshot(browser, "chat-rated")

    # reload: the history comes back from the server
    browser.refresh()
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".sk-msg")) == 2)
    user, assistant = browser.find_elements(By.CSS_SELECTOR, ".sk-msg")
    assert user.text.endswith(QUESTION)
    assert "Your parcel ships within two days of the order." in assistant.text
    assert assistant.find_elements(By.CSS_SELECTOR, "ul li")
    screenshot(browser, "chat-reloaded")

    # a new conversation starts empty and gets a new id
    browser.find_element(By.CSS_SELECTOR, ".sk-new").click()
    assert not browser.find_elements(By.CSS_SELECTOR, ".sk-msg")
    ask(browser, "And the return policy?")
    wait_for(browser, answers_done(browser, 1))
    new_id = browser.execute_script(
        "return Object.entries(localStorage).find(e => e[0].startsWith('supportkit.conversation'))[1]"
    )
    assert new_id != conversation_id and len(_store(web_server).conversation(new_id).messages) == 2
    assert page_errors(browser) == []


def test_a_dropped_connection_shows_an_error_and_retry_sends_again(
    browser: Any, web_server: ServerThread
) -> None:
    _fresh(browser, web_server)
    browser.execute_cdp_cmd("Network.enable", {})
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    try:
        ask(browser, QUESTION)
        error = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".sk-error:not([hidden])"))
        assert "connection" in error.text.lower()
        screenshot(browser, "chat-error")
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**offline, "offline": False})
    error.find_element(By.CSS_SELECTOR, ".sk-retry").click()
    answer = wait_for(browser, answers_done(browser, 1))
    assert "two days" in answer.text
    assert browser.find_element(By.CSS_SELECTOR, ".sk-error").get_attribute("hidden") is not None
    assert len(browser.find_elements(By.CSS_SELECTOR, ".sk-user")) == 1  # the question once, not twice


def test_readable_on_a_360_px_phone(browser: Any, web_server: ServerThread) -> None:
    metrics = {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        _fresh(browser, web_server)
        ask(browser, QUESTION)
        wait_for(browser, answers_done(browser, 1))
        widths = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth,"
            " document.querySelector('.sk-send').getBoundingClientRect().right]"
        )
        assert widths[0] <= widths[1] == 360 and widths[2] <= 360, f"horizontal overflow: {widths}"
        screenshot(browser, "chat-360px")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_widget_chats_on_another_site(
    browser: Any, web_server: ServerThread, host_site: HostSite
) -> None:
    """The <script> snippet on a shop's own page (another origin, allowed by serving.cors_origins)."""
    snippet = f'<script src="{web_server.url}/widget.js" async></script>'
    page = f"<!doctype html><title>Shop</title><h1>Our shop</h1>{snippet}"
    (host_site.root / "index.html").write_text(page, encoding="utf-8")
    browser.get(host_site.origin + "/index.html")
    host = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, "[data-supportkit-widget]"))
    shadow = host.shadow_root
    wait_for(browser, lambda d: shadow.find_element(By.CSS_SELECTOR, ".sk-launcher")).click()
    wait_for(browser, lambda d: shadow.find_element(By.CSS_SELECTOR, ".sk-form textarea").is_displayed())
    ask(browser, QUESTION, root=shadow)
    answer = wait_for(browser, answers_done(browser, 1, root=shadow))
    assert ANSWER.split(".")[0] in answer.text
    screenshot(browser, "widget-on-shop")


def test_a_rate_limited_question_says_when_to_retry(
    browser: Any, tiny_model_dir: Path, tmp_path: Path
) -> None:
    server = start_web_server(tiny_model_dir, tmp_path, "serving.rate_limit=1/minute")
    try:
        _fresh(browser, server)
        ask(browser, QUESTION)
        wait_for(browser, answers_done(browser, 1))
        ask(browser, "And another question?")
        error = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".sk-error:not([hidden])"))
        assert "Too many messages" in error.text and "try again in" in error.text
        assert error.find_element(By.CSS_SELECTOR, ".sk-retry").is_displayed()
        assert len(browser.find_elements(By.CSS_SELECTOR, ".sk-user")) == 1  # the refused one is not shown
        screenshot(browser, "chat-rate-limited")
    finally:
        server.__exit__(None, None, None)
