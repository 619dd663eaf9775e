"""`imagebot demo` runs with no keys and no network, shows money moving (labelled demo
pricing), answers a refused prompt, leaves real images and a page of the conversation as Slack
shows it at the end, and starts clean in a folder it used before."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

KEYS = ("SLACK_", "FAL_", "IMAGEBOT_", "SSL_CERT_FILE")


async def demo(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(KEYS)}
    command = [sys.executable, "-m", "bot", "demo", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=folder, capture_output=True, text=True, timeout=120
    )


def speakers(page: str) -> list[str]:
    return re.findall(r'<b class="who">(\w+)</b>', page)


async def test_demo_plays_the_conversation_and_shows_the_money(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = await demo(tmp_path, "--out", str(out), "--html")

    assert done.returncode == 0, done.stdout + done.stderr
    transcript = done.stdout
    for said in (
        "alice in #general: /image",
        "asked for an image",
        "bob (in the thread): make",
        "asked for an edit",
        "bob in #general: /image a poster for Friday's launch --draft",
        "[presses Final on bob's draft]",
        "only you can see this",
        "Top spenders",
    ):
        assert said in transcript, said
    # Every card ends with a non-zero amount marked as pretend; so do usage and the report.
    finals = re.findall(r"card: (✅ Done in \d+ s · \$(0\.\d+) \(demo pricing\))", transcript)
    assert len(finals) == 5 and all(Decimal(amount) > 0 for _, amount in finals)
    assert re.search(r"Your image spend in \w+ \d{4} \(demo pricing\)\n +\$0\.[1-9]", transcript)
    assert "Demo pricing: the mock provider billed" in transcript
    images = sorted(out.glob("*.png"))
    assert len(images) == 5
    for path in images:
        with Image.open(path) as image:
            image.verify()
    (report,) = out.glob("*.csv")
    rows = list(csv.DictReader(io.StringIO(report.read_text())))
    assert {row["user_id"]: row["user_name"] for row in rows} == {
        "U0ALICE": "alice",
        "U0BOB": "bob",
    }
    assert sum(Decimal(row["spend_usd"]) for row in rows) == sum(Decimal(a) for _, a in finals)

    page = (out / "conversation.html").read_text()
    # The page is the transcript's conversation, each card in its final state with its buttons.
    where = r"( in #general| \(in the thread\)| \(DM\)| \(only you can see this\))?"
    said = re.findall(rf"^(alice|bob|imagebot){where}: ", transcript, flags=re.M)
    said = [speaker for speaker, _ in said]
    assert speakers(page) == said
    statuses = re.findall(r'<div class="section">(✅ Done in [^<]*)</div>', page)
    assert statuses == [status for status, _ in finals]
    assert "Starting…" not in page and "Generating" not in page
    buttons = re.findall(r'<div class="actions">(.*?)</div>', page)
    assert [re.findall(r"<button[^>]*>([^<]+)</button>", b) for b in buttons] == [
        ["Regenerate", "High quality", "Edit"],
        ["Regenerate", "High quality", "Edit"],
        ["Regenerate", "Edit"],  # the high-quality one has no High quality button
        # The draft offers Final on the final model; its model has no qualities.
        ["Regenerate", "Final: GPT Image 2 · high · ~$0.15", "Edit"],
        ["Regenerate", "Edit"],
    ]
    assert all(f'<img src="{path.name}"' in page for path in images)
    assert f'<a href="{report.name}">' in page
    # mrkdwn rendered: the prompt quoted, names bold, the budget bar as code, no markup left.
    assert "<blockquote>a lighthouse at dawn, oil painting</blockquote>" in page
    assert '<b><span class="mention">@alice</span> asked for an image</b>' in page
    assert re.search(r"<code>[█░]{20}</code> [1-3]%", page)
    assert "`" not in page and "*" not in page.replace("*/", "")


@pytest.mark.parametrize(
    ("prompt", "answer"),
    [
        ("a cat --n 9", "`--n 9` is out of range: ask for 1 to 4 images."),
        ("help", "Make an image:"),
        ("a cat --size 5000x5000", "`--size 5000x5000` won't work"),
    ],
)
async def test_a_refused_prompt_shows_the_answer_and_ends_well(
    tmp_path: Path, prompt: str, answer: str
) -> None:
    done = await demo(tmp_path, "--out", str(tmp_path / "out"), "--prompt", prompt)
    assert done.returncode == 0, done.stderr
    assert f"alice in #general: /image {prompt}\nimagebot (only you can see this): " in done.stdout
    assert answer.replace("`", "").replace("*", "") in done.stdout
    assert "Traceback" not in done.stderr and list((tmp_path / "out").glob("*.png")) == []


async def test_a_folder_used_before_starts_clean_and_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for old in ("01-old.png", "04-imagebot-spend-old.csv", "conversation.html"):
        (out / old).write_bytes(b"from an earlier demo")
    (out / "notes.txt").write_text("mine")
    first = await demo(tmp_path, "--out", str(out), "--prompt", "a teapot --quality low")
    again = await demo(tmp_path, "--out", str(out), "--prompt", "a kettle --quality low")

    assert first.returncode == again.returncode == 0, again.stderr
    names = sorted(p.name for p in out.iterdir() if p.suffix in (".png", ".csv", ".html", ".txt"))
    assert "01-old.png" not in names and "conversation.html" not in names
    assert "notes.txt" in names and len([n for n in names if n.endswith(".png")]) == 5
    with sqlite3.connect(out / "imagebot.db") as db:
        prompts = [row[0] for row in db.execute("SELECT prompt FROM jobs")]
    assert "a teapot" not in prompts and prompts.count("a kettle") == 2

    refused = await demo(tmp_path, "--out", str(out / "notes.txt"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"imagebot demo: --out {out / 'notes.txt'} is a file; give a folder"
    ]
