"""A real uvicorn server on 127.0.0.1 (a free port) around the tiny model with two LoRA adapters."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from supportkit.config import Config

ADAPTERS = ("billing", "shipping")


@pytest.fixture(scope="session")
def adapter_dirs(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two saved LoRA adapters on the tiny model whose weights differ (so answers differ)."""
    import torch

    from supportkit.models.peft import PEFTModel

    root = tmp_path_factory.mktemp("adapters")
    config = Config().with_overrides([f"model.name_or_path={tiny_model_dir}"])
    model = PEFTModel(config)
    dirs = {}
    for seed, name in enumerate(ADAPTERS, 1):
        model.add_adapter(name)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for pname, param in model.model.named_parameters():
                if f"lora_B.{name}." in pname:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
        dirs[name] = str(model.save_model(root / name, adapter_name=name))
    return dirs


def serving_config(tiny_model_dir: Path, tmp_path: Path, adapters: dict[str, str], *extra: str) -> Config:
    overrides = [
        f"model.name_or_path={tiny_model_dir}",
        "generation.max_new_tokens=6",
        f"prompt.store_path={tmp_path / 'store.db'}",
        "serving.rate_limit=null",
        *[f"serving.adapters.{name}={path}" for name, path in adapters.items()],
        *extra,
    ]
    return Config().with_overrides(overrides)


class ServerThread:
    """uvicorn serving ``app`` on a loopback socket bound to a free port, in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def start_server(
    tiny_model_dir: Path, tmp_path: Path, adapter_dirs: dict[str, str]
) -> Iterator[Callable[..., ServerThread]]:
    """``start_server(*overrides, keys=None)`` -> a running :class:`ServerThread` (stopped at teardown)."""
    from supportkit.retrieval.embedder import HashingEmbedder
    from supportkit.serving.auth import KeyRing
    from supportkit.serving.build import build_server

    running: list[ServerThread] = []

    def start(*overrides: str, keys: str | None = None) -> ServerThread:
        config = serving_config(tiny_model_dir, tmp_path, adapter_dirs, *overrides)
        app = build_server(config, embedder=HashingEmbedder(), project_defaults=False)
        if keys is not None:
            app.state.supportkit.keys = KeyRing.load(keys)
        server = ServerThread(app).__enter__()
        running.append(server)
        return server

    yield start
    for server in running:
        server.__exit__(None, None, None)
