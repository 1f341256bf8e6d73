"""Content fingerprints (sha256) of weight files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20
_cache: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | Path, *, head_tail_only: bool = False) -> str:
    """sha256 of a file; ``head_tail_only`` hashes size + first and last MiB (a cheap cache key)."""
    path = Path(path)
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as fh:
        if head_tail_only:
            digest.update(str(size).encode())
            digest.update(fh.read(_CHUNK))
            if size > 2 * _CHUNK:
                fh.seek(size - _CHUNK)
            digest.update(fh.read(_CHUNK))
        else:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def fingerprint_weights(model_dir: str | Path) -> str:
    """sha256 over the ``*.safetensors`` files of a model directory (names and contents).

    Memoised per file size and mtime, so repeated checks in one process are free.
    """
    model_dir = Path(model_dir)
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors weights in {model_dir}")
    digest = hashlib.sha256()
    for file in files:
        st = os.stat(file)
        key = (str(file.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _cache:
            _cache[key] = sha256_file(file)
        digest.update(file.name.encode())
        digest.update(_cache[key].encode())
    return digest.hexdigest()
