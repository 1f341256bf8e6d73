"""Real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium) against a real
uvicorn server on loopback around the tiny model.

The model is the tiny random Llama; its decoding is scripted (``PacedDecoder``: a fixed answer pushed
word by word with a pause) so that the answer is made of real sentences, grounded in the test's help
article, and streams slowly enough to be watched growing. Everything else is the product: the pipeline
with its stream checks, the engine, the HTTP server, the store, the pages.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from supportkit.config import Config
from supportkit.generation import DECODERS, DecodeItem, Generated, TextSink
from tests.serving.conftest import ServerThread

CHROMIUM = os.environ.get("SUPPORTKIT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SUPPORTKIT_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "outputs" / "screenshots"
ARTICLE = (
    "# Shipping times\n\nYour parcel ships within two days of the order. "
    "You can track it from your account page.\n"
)
ANSWER = (
    "Your parcel ships within two days of the order. You can track it from your account page.\n"
    "To track it:\n- open your account page\n- choose the order\nYour parcel ships within two days."
)


class PacedDecoder:
    """Answers every row with :data:`ANSWER`, one word every ``pause_s`` seconds."""

    pause_s: ClassVar[float] = 0.08

    def __init__(self, model: Any, *, batch_size: int = 8) -> None:
        self.model = model

    def generate(self, items: Sequence[DecodeItem], streamer: TextSink | None = None) -> list[Generated]:
        pieces = [w + " " for w in ANSWER.split(" ")]
        pieces[-1] = pieces[-1].rstrip()
        if streamer is not None:
            for piece in pieces:
                time.sleep(self.pause_s)
                for index in range(len(items)):
                    streamer.push(index, piece)
            for index in range(len(items)):
                streamer.close(index)
        return [Generated(ANSWER, len(i.input_ids), len(pieces), True, "stop") for i in items]


DECODERS.add("paced-test", PacedDecoder, replace=True)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class HostSite:
    """A company's own site on another origin (another port) whose page embeds the widget."""

    def __init__(self, root: Path) -> None:
        self.sock = _free_socket()
        self.port = self.sock.getsockname()[1]
        self.root = root
        handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", self.port), handler, bind_and_activate=False
        )
        self.httpd.socket = self.sock
        self.sock.listen()
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def host_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostSite]:
    site = HostSite(tmp_path_factory.mktemp("shop"))
    yield site
    site.close()


def start_web_server(tiny_model_dir: Path, root: Path, *overrides: str) -> ServerThread:
    """A running server on the tiny model with the paced decoder and one help article (stop it)."""
    from supportkit.retrieval.embedder import HashingEmbedder
    from supportkit.serving.build import build_server

    (root / "kb").mkdir()
    (root / "kb" / "shipping.md").write_text(ARTICLE, encoding="utf-8")
    config = Config().with_overrides(
        [
            f"model.name_or_path={tiny_model_dir}",
            "generation.engine=paced-test",
            "serving.engine=paced-test",  # serve decodes with serving.engine
            "generation.max_new_tokens=64",
            f"prompt.store_path={root / 'store.db'}",
            f"knowledge.path={root / 'kb'}",
            f"knowledge.index_dir={root / 'index'}",
            "knowledge.min_similarity=0.0",
            "guardrails.min_retrieval_similarity=0.0",
            "serving.rate_limit=null",
            *overrides,
        ]
    )
    app = build_server(config, embedder=HashingEmbedder(), project_defaults=False)
    return ServerThread(app).__enter__()


@pytest.fixture(scope="session")
def web_server(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, host_site: HostSite
) -> Iterator[ServerThread]:
    """The server the browser tests share: no keys (loopback), the shop's origin allowed by CORS."""
    root = tmp_path_factory.mktemp("web-server")
    server = start_web_server(tiny_model_dir, root, f"serving.cors_origins=[{host_site.origin}]")
    yield server
    server.__exit__(None, None, None)


def browser_or_fail() -> Any:
    """A headless Chromium; fails (never skips) with what to do when the browser is not installed."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).exists() or shutil.which(p))]
    if missing:
        pytest.fail(
            f"the browser tests need Chromium and its driver ({', '.join(missing)} missing): "
            "run 'make setup' (as root it installs Debian's chromium and chromium-driver)",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    return driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = browser_or_fail()
    yield driver
    driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for(driver: Any, condition: Any, timeout: float = 30.0, message: str = "") -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)  # pages redraw while polled
    return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=ignored).until(
        condition, message
    )


def ask(driver: Any, question: str, root: Any = None) -> None:
    """Type ``question`` into the chat box and press Enter (what a keyboard user does)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = (root or driver).find_element(By.CSS_SELECTOR, ".sk-form textarea")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)


def answers_done(driver: Any, count: int, root: Any = None) -> Any:
    """A wait condition: ``count`` finished assistant answers are on the page (the last one returned)."""
    from selenium.webdriver.common.by import By

    def check(_: Any) -> Any:
        done = (root or driver).find_elements(By.CSS_SELECTOR, ".sk-assistant:not(.sk-streaming)")
        return done[-1] if len(done) >= count else False

    return check


def page_errors(driver: Any) -> list[str]:
    """Script errors and policy (CSP) violations the page logged since the last call (failed requests the
    test caused on purpose are the server's answers, not page errors, and are left out)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]
