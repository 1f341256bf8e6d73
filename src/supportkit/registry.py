"""A small generic registry used by every extension point (methods, strategies, metrics, ...)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from supportkit.errors import UnknownNameError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to implementations.

    >>> methods: Registry[type] = Registry("adaptation method")
    >>> @methods.register("lora")
    ... class LoRA: ...
    >>> methods.get("lora").__name__
    'LoRA'

    ``builtins`` names a module whose import registers the built-in items. It is imported on the
    first lookup, not when the registry is created: a registry kept in a low layer (the method
    catalogue in ``supportkit.config``) can then answer for implementations that live in a higher
    one (``supportkit.models.methods``) without a static import of it, as entry points would.
    """

    def __init__(self, kind: str, *, builtins: str | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._builtins = builtins
        self._loaded = builtins is None
        self._loading = False
        self._lock = threading.RLock()

    def _load_builtins(self) -> None:
        if self._loaded or self._builtins is None:
            return
        with self._lock:  # other threads wait here until the built-ins are all registered
            if self._loaded or self._loading:  # _loading: this thread, re-entering from the import
                return
            self._loading = True
            try:
                importlib.import_module(self._builtins)
            finally:
                self._loading = False
            self._loaded = True

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            self.add(name, item, replace=replace)
            return item

        return decorator

    def add(self, name: str, item: T, *, replace: bool = False) -> None:
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"invalid {self.kind} name {name!r}: use letters, digits, '_' or '-'")
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True)")
        self._items[name] = item

    def get(self, name: str) -> T:
        self._load_builtins()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self.names()) or '(none)'}"
                f"{did_you_mean(name, self.names())}"
            ) from None

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load_builtins()
        return len(self._items)
