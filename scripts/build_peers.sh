#!/usr/bin/env bash
# Build the llama.cpp peer (llama-cpp-python) ONCE into a cache outside the project venv.
# Used only by `make bench-peers`; never by `make test` or CI. Long on 2 cores (a trimmed CPU-only build:
# no server, examples, tests, tools, llava or CUDA; -march=native), run at low priority.
#
#   SUPPORTKIT_PEERS_DIR   cache root (default ~/.cache/supportkit/peers; benchmarks/peers reads it too)
#   LLAMA_CPP_PYTHON_VERSION   pinned version (default 0.3.36)
#   PIP         pip of the interpreter that will import it (default .venv/bin/pip)
set -euo pipefail
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PEERS_DIR="${SUPPORTKIT_PEERS_DIR:-$HOME/.cache/supportkit/peers}"
PIP="${PIP:-.venv/bin/pip}"
TARGET="$PEERS_DIR/llama_cpp_python-$VERSION"
if [[ -f "$TARGET/.built" ]]; then
    echo "llama-cpp-python $VERSION already built in $TARGET"
    exit 0
fi
mkdir -p "$PEERS_DIR/src"
rm -rf "$TARGET.partial"
export CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF \
-DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
-DLLAVA_BUILD=OFF -DLLAMA_CURL=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-1}"
# --no-deps: numpy / jinja2 / typing-extensions come from the venv; diskcache (imported by llama_cpp) is
# the one runtime dependency the project venv lacks, so it goes into the same cache directory.
nice -n 19 "$PIP" install --no-deps --no-cache-dir --target "$TARGET.partial" \
    "llama-cpp-python==$VERSION" "diskcache==5.6.3"
mv "$TARGET.partial" "$TARGET"
date -u +%Y-%m-%dT%H:%M:%SZ > "$TARGET/.built"
echo "built llama-cpp-python $VERSION into $TARGET"
