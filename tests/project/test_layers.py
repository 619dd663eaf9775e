"""The code keeps its architecture: every module imports only from the layers below its own,
no package has an import cycle among its modules, and the stand-ins know nothing of the bot
(the contracts are `[tool.importlinter]` in pyproject.toml, checked by import-linter)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"


def test_every_import_keeps_the_layers_and_no_package_has_a_cycle() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_part_of_the_bot_has_its_place_in_the_layers() -> None:
    (layers,) = [c for c in CONFIG["contracts"] if c["type"] == "layers"]
    declared = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    parts = {
        f"bot.{path.stem}"
        for path in (ROOT / "bot").iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").exists())
        and path.stem not in ("__init__", "__main__", "__pycache__")
    }
    assert parts - declared == set(), "give each new part of bot/ its place in the layers"
    assert declared - parts == {"handlers"}
