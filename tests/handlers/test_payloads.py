"""handlers/payloads.py reads what the bot wrote into the Edit dialog back as it was written,
dialogs opened before the target was typed included, and anything else as nothing."""

from __future__ import annotations

import pytest

from bot.slack.views.modal import MOST_FILES, EditOfFiles, EditOfJob, edit_metadata
from handlers.payloads import dialog_channel, dialog_choices, edit_target, incoming


@pytest.mark.parametrize(
    "target",
    [
        EditOfJob("j0123456789ab"),
        EditOfJob("j0123456789ab", by_shortcut=True),
        EditOfFiles("C0GENERAL", "1700000000.000100", ("F1", "F2")),
    ],
)
def test_what_the_dialog_carries_comes_back_as_it_went(target: object) -> None:
    assert edit_target({"private_metadata": edit_metadata(target)}) == target  # type: ignore[arg-type]


def test_a_dialog_names_at_most_eight_files() -> None:
    many = EditOfFiles("C1", "1.2", tuple(f"F{n}" for n in range(20)))
    read = edit_target({"private_metadata": edit_metadata(many)})
    assert isinstance(read, EditOfFiles) and len(read.file_ids) == MOST_FILES


@pytest.mark.parametrize(
    ("metadata", "target"),
    [
        ('{"job": "j1"}', EditOfJob("j1")),
        ('{"job": "j1", "by": "shortcut"}', EditOfJob("j1", by_shortcut=True)),
        ('{"channel": "C1", "thread": "1.2", "files": ["F1"]}', EditOfFiles("C1", "1.2", ("F1",))),
        ("not json", None),
        ("[1, 2]", None),
        ('{"channel": "C1"}', None),
        ("", None),
    ],
)
def test_dialog_metadata_as_slack_returns_it(metadata: str, target: object) -> None:
    assert edit_target({"private_metadata": metadata}) == target


def test_a_message_event_becomes_the_message_the_bot_sees() -> None:
    event = {
        "type": "message", "channel": "C1", "user": "U1", "ts": "1.3", "thread_ts": "1.2",
        "text": "<@U0BOT> make it &lt;bluer&gt;", "channel_type": "channel",
        "files": [{"id": "F1", "name": "mask.png", "mimetype": "image/png", "size": 3,
                   "url_private_download": "https://files.slack.com/F1"}, {"name": "no id"}],
    }  # fmt: skip
    message = incoming(event, "U0BOT", "T1", "Ev1")
    assert message is not None
    assert (message.text, message.mentions_bot, message.in_thread) == (
        "make it <bluer>",
        True,
        True,
    )
    (shared,) = message.files
    assert shared.is_mask and shared.url == "https://files.slack.com/F1"
    assert incoming(event | {"bot_id": "B1"}, "U0BOT", "T1") is None
    assert incoming(event | {"subtype": "message_changed"}, "U0BOT", "T1") is None


def test_the_menus_of_a_dialog_as_slack_submits_them() -> None:
    # An optional menu left alone is submitted with `selected_option: null` (Slack's
    # view_submission reference); a chosen one with the option as it was offered.
    seedream = {
        "text": {"type": "plain_text", "text": "Seedream 4.5 (seedream)"},
        "value": "seedream",
    }
    values = {
        "model": {"value": {"type": "static_select", "selected_option": seedream}},
        "style": {"value": {"type": "static_select", "selected_option": None}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": "C0ART"}},
    }
    view = {"state": {"values": values}}

    assert dialog_choices(view) == ("seedream", None)
    assert dialog_channel(view) == "C0ART"
    assert dialog_choices({"state": {"values": {}}}) == (None, None)
