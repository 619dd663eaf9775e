"""What Slack sends an app, in the shapes Slack publishes. Each builder follows a public
payload (named above it) key for key; only the values are ours, so that a test can place the
payload in the stand-in's workspace (its channels, people, files and cards)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
TEAM = "T0TEST"
APP = "A0IMAGEBOT"


def slash_command(
    *, channel: str, user: str, text: str, response_url: str, trigger_id: str
) -> dict[str, str]:
    """The form Slack posts for a slash command: the sample payload of "Implementing slash
    commands" (docs.slack.dev/interactivity/implementing-slash-commands)."""
    return {
        "token": "unused-verification-token",
        "team_id": TEAM,
        "team_domain": "imagebot-test",
        "enterprise_id": "E0TEST",
        "enterprise_name": "Imagebot Test Org",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/image",
        "text": text,
        "response_url": response_url,
        "trigger_id": trigger_id,
        "api_app_id": APP,
    }


def envelope(event: JSON, *, event_id: str, bot_user: str) -> JSON:
    """The Events API envelope, as in bolt-python's tests/scenario_tests_async/
    test_message_file_share.py (event_payload)."""
    return {
        "token": "unused-verification-token",
        "team_id": TEAM,
        "api_app_id": APP,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_796_000_000,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM,
                "user_id": bot_user,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-imagebot-test",
    }


# Headers of a delivery Slack sends again ("Events API: Error handling", docs.slack.dev/
# apis/events-api): the same envelope (same event_id) with the attempt and the reason.
RETRY_HEADERS = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


def slack_file(
    *, file_id: str, name: str, user: str, url_private: str, url_private_download: str
) -> JSON:
    """A file as a message event carries it: the `files` item of bolt-python's
    test_message_file_share.py (a PNG shared by a person)."""
    thumb = url_private
    return {
        "id": file_id,
        "created": 1_796_000_000,
        "timestamp": 1_796_000_000,
        "name": name,
        "title": name,
        "mimetype": "image/png",
        "filetype": "png",
        "pretty_type": "PNG",
        "user": user,
        "editable": False,
        "size": 2048,
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": True,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        "url_private": url_private,
        "url_private_download": url_private_download,
        "media_display_type": "unknown",
        "thumb_64": thumb,
        "thumb_80": thumb,
        "thumb_360": thumb,
        "thumb_360_w": 360,
        "thumb_360_h": 270,
        "thumb_480": thumb,
        "thumb_480_w": 480,
        "thumb_480_h": 360,
        "thumb_160": thumb,
        "thumb_720": thumb,
        "thumb_720_w": 720,
        "thumb_720_h": 540,
        "thumb_800": thumb,
        "thumb_800_w": 800,
        "thumb_800_h": 600,
        "thumb_960": thumb,
        "thumb_960_w": 960,
        "thumb_960_h": 720,
        "thumb_1024": thumb,
        "thumb_1024_w": 1024,
        "thumb_1024_h": 768,
        "original_w": 1024,
        "original_h": 768,
        "thumb_tiny": "AwAPADCkCAOcUEj0zTaK",
        "permalink": f"https://imagebot-test.slack.com/files/{user}/{file_id}/{name}",
        "permalink_public": f"https://slack-files.com/{TEAM}-{file_id}-0a1b2c3d4e",
        "has_rich_preview": False,
    }


def rich_text(text: str) -> list[JSON]:
    return [
        {
            "type": "rich_text",
            "block_id": "Rt0",
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
            ],
        }
    ]


def file_share(
    *, channel: str, user: str, text: str, ts: str, files: list[JSON], thread_ts: str
) -> JSON:
    """A person's message with files: the `message` event (subtype `file_share`) of bolt-python's
    test_message_file_share.py, here a reply in a thread (`thread_ts`, `parent_user_id`, as
    the `message` event reference shows replies)."""
    return {
        "type": "message",
        "text": text,
        "files": files,
        "upload": False,
        "user": user,
        "display_as_bot": False,
        "ts": ts,
        "blocks": rich_text(text),
        "client_msg_id": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
        "channel": channel,
        "subtype": "file_share",
        "event_ts": ts,
        "channel_type": "channel",
        "thread_ts": thread_ts,
        "parent_user_id": "U0BOT",
    }


def app_mention(*, channel: str, user: str, text: str, ts: str, files: list[JSON]) -> JSON:
    """An `app_mention` (the example of docs.slack.dev/reference/events/app_mention), with the
    `files` and `upload` a message with attachments carries (as in the file_share payload)."""
    return {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "files": files,
        "upload": False,
    }


def message_im(*, channel: str, user: str, text: str, ts: str) -> JSON:
    """A direct message to the bot: the example of docs.slack.dev/reference/events/message.im."""
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "im",
    }


def app_home_opened(*, user: str, channel: str, view: JSON | None) -> JSON:
    """The example of docs.slack.dev/reference/events/app_home_opened; `view` comes only once a
    view has been published to the tab."""
    event: JSON = {
        "type": "app_home_opened",
        "user": user,
        "channel": channel,
        "event_ts": "1796000000.000100",
        "tab": "home",
    }
    if view is not None:
        event["view"] = view
    return event


def user_block(user: str) -> JSON:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM}


def team_block() -> JSON:
    return {
        "id": TEAM,
        "domain": "imagebot-test",
        "enterprise_id": "E0TEST",
        "enterprise_name": "Imagebot Test Org",
    }


def block_actions(
    *,
    user: str,
    channel: str,
    message_ts: str,
    action_id: str,
    value: str,
    trigger_id: str,
    response_url: str,
) -> JSON:
    """A button press: bolt-python's tests/scenario_tests_async/test_block_actions.py (`body`),
    with the `message` the block_actions payload reference (docs.slack.dev/reference/
    interaction-payloads/block_actions-payload) includes for a message's buttons."""
    return {
        "type": "block_actions",
        "user": user_block(user),
        "api_app_id": APP,
        "token": "unused-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": team_block(),
        "channel": {"id": channel, "name": "general"},
        "message": {"type": "message", "ts": message_ts, "user": "U0BOT", "text": "card"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"job:{value}",
                "text": {"type": "plain_text", "text": "Regenerate", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": "1796000000.123456",
            }
        ],
    }


def message_action(
    *,
    user: str,
    channel: str,
    callback_id: str,
    trigger_id: str,
    message: JSON,
    response_url: str,
) -> JSON:
    """A message shortcut: `message_shortcut_body` of bolt-python's
    tests/scenario_tests_async/test_shortcut.py (the message here carries its files)."""
    return {
        "type": "message_action",
        "token": "unused-verification-token",
        "action_ts": "1796000000.234567",
        "team": team_block(),
        "user": {"id": user, "name": user.lower()},
        "channel": {"id": channel, "name": "general"},
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "message_ts": message["ts"],
        "message": message,
        "response_url": response_url,
    }


def view_submission(*, user: str, view: JSON, values: JSON, trigger_id: str) -> JSON:
    """A modal submitted: `body` of bolt-python's tests/scenario_tests_async/
    test_view_submission.py; `view` is the one the app opened, as Slack returns it."""
    return {
        "type": "view_submission",
        "team": team_block(),
        "user": user_block(user),
        "api_app_id": APP,
        "token": "unused-verification-token",
        "trigger_id": trigger_id,
        "view": {
            "id": view["id"],
            "team_id": TEAM,
            "type": "modal",
            "blocks": view["blocks"],
            "private_metadata": view["private_metadata"],
            "callback_id": view["callback_id"],
            "state": {"values": values},
            "hash": "1796000000.AbCdEf12",
            "title": view["title"],
            "clear_on_close": False,
            "notify_on_close": False,
            "close": view["close"],
            "submit": view["submit"],
            "previous_view_id": None,
            "root_view_id": view["id"],
            "app_id": APP,
            "external_id": "",
            "app_installed_team_id": TEAM,
            "bot_id": "B0BOT",
        },
        "response_urls": [],
    }
