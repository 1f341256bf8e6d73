"""The layer order of docs/architecture.md holds: import-linter's contracts in .importlinter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True) == 0


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
