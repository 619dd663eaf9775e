"""`imagebot demo` runs with no keys and no network, and leaves real images behind."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image


async def test_demo_plays_the_conversation_and_writes_valid_files(tmp_path: Path) -> None:
    keys = ("SLACK_", "FAL_", "IMAGEBOT_", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keys)}
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "bot", "demo", "--out", str(out), "--html"]

    done = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stdout + done.stderr
    transcript = done.stdout
    for said in (
        "alice in #general: /image",
        "asked for an image",
        "bob (in the thread): make",
        "asked for an edit",
        "Done in",
        "only you can see this",
        "Top spenders",
    ):
        assert said in transcript, said
    images = sorted(out.glob("*.png"))
    assert len(images) == 3
    for path in images:
        with Image.open(path) as image:
            image.verify()
    (report,) = out.glob("*.csv")
    rows = list(csv.DictReader(io.StringIO(report.read_text())))
    assert {row["user_id"] for row in rows} == {"U0ALICE", "U0BOB"}
    page = (out / "conversation.html").read_text()
    assert all(path.name in page for path in images)


async def test_demo_with_your_own_words(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bot", "demo", "--out", str(tmp_path), "--prompt", "a teapot"]
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "alice in #general: /image a teapot" in done.stdout
