"""The layer order of docs/architecture.md holds: import-linter's contracts in .importlinter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a subprocess; make lint runs the same contracts
def test_import_contracts_hold() -> None:
    # In a subprocess: import-linter's CLI calls logging.config.dictConfig, which disables every
    # logger that exists at that moment (and with them pytest's log capture for later tests).
    lint = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(lint), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


@pytest.mark.slow  # a fresh interpreter
def test_config_imports_nothing_above_it_and_still_knows_every_method() -> None:
    code = (
        "import sys\n"
        "from supportkit.config import Config, PEFTConfig\n"
        "assert not [m for m in sys.modules if m.startswith('supportkit.models')], 'imported models'\n"
        "assert PEFTConfig(method='ia3').method == 'ia3'\n"  # the catalogue loads its built-ins now
        "print(sorted(m for m in sys.modules if m.startswith('supportkit.models.methods.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "supportkit.models.methods.lora" in out and "supportkit.models.backends" not in out
