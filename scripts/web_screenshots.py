"""Take the README's pictures of the chat page and the agent console with the real bundled model.

    flock /tmp/heavy.lock python scripts/web_screenshots.py   # docs/img/chat-page.png, agent-console.png

Starts ``supportkit serve configs/serve.yaml`` on a free loopback port with a fresh store, asks a question in
headless Chromium, asks for a person in a second conversation, takes it over in the console and answers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _browser(width: int, height: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def _ask(driver: webdriver.Chrome, text: str, answers: int) -> None:
    box = driver.find_element(By.CSS_SELECTOR, ".sk-form textarea")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)
    WebDriverWait(driver, 300).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".sk-assistant:not(.sk-streaming)")) >= answers
    )


def main() -> int:
    port, store = _port(), Path(tempfile.mkdtemp()) / "store.db"
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "supportkit",
        "serve",
        "configs/serve.yaml",
        f"prompt.store_path={store}",
    ]
    server = subprocess.Popen([*command, "--port", str(port)], cwd=ROOT, env={**os.environ})
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(1)
        IMG.mkdir(parents=True, exist_ok=True)
        customer, console = _browser(760, 820), _browser(1200, 760)
        try:
            customer.get(url + "/")
            _ask(customer, "How do I track my order?", 1)
            customer.save_screenshot(str(IMG / "chat-page.png"))
            customer.find_element(By.CSS_SELECTOR, ".sk-new").click()
            _ask(customer, "I want to talk to a person about a refund for order 1042", 1)
            console.get(url + "/console")
            escalated = "#conversations li.c-escalated"
            WebDriverWait(console, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, escalated))
            console.find_element(By.CSS_SELECTOR, escalated).click()
            WebDriverWait(console, 30).until(lambda d: d.find_element(By.ID, "takeover")).click()
            WebDriverWait(console, 30).until(lambda d: d.find_element(By.ID, "handback"))
            console.find_element(By.ID, "reply").send_keys(
                "Hi, this is Sam. I have refunded order 1042 today."
            )
            console.find_element(By.ID, "send-reply").click()
            WebDriverWait(customer, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".sk-msg.sk-agent"))
            WebDriverWait(console, 30).until(lambda d: "Sam" in d.find_element(By.ID, "detail").text)
            console.save_screenshot(str(IMG / "agent-console.png"))
        finally:
            customer.quit()
            console.quit()
    finally:
        server.terminate()
        server.wait(30)
    print(f"wrote {IMG / 'chat-page.png'} and {IMG / 'agent-console.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
