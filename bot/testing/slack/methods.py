"""Web API method handlers of the loopback Slack stand-in: name -> handler(workspace, args).
Here auth, chat, conversations, users and reactions; files and views are in files_views."""

from __future__ import annotations

from collections.abc import Callable

from bot.testing.slack.blocks import BlockError, check_message_blocks
from bot.testing.slack.files_views import (
    files_complete_upload_external,
    files_delete,
    files_get_upload_url_external,
    files_info,
    views_open,
    views_publish,
    views_update,
)
from bot.testing.slack.models import (
    Channel,
    JSONDict,
    SlackError,
    flag,
    paginate,
    require,
    str_arg,
)
from bot.testing.slack.workspace import Workspace

Handler = Callable[[Workspace, JSONDict], JSONDict]

MAX_TEXT = 40_000


# ----- validation helpers


def _check_content(ws: Workspace, args: JSONDict, channel: Channel) -> None:
    text = str_arg(args, "text")
    blocks = args.get("blocks")
    if not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None and blocks != []:
        try:
            check_message_blocks(blocks, ws.file_rule(user=None, channel=channel.id))
        except BlockError as exc:
            raise SlackError("invalid_blocks", str(exc)) from None


def _metadata(args: JSONDict) -> JSONDict | None:
    metadata = args.get("metadata")
    if metadata is None or metadata == "":
        return None
    ok = isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
    if not ok or not isinstance(metadata.get("event_payload", {}), dict):
        raise SlackError("invalid_metadata_format")
    return {
        "event_type": metadata["event_type"],
        "event_payload": metadata.get("event_payload", {}),
    }


def _readable(ws: Workspace, args: JSONDict) -> Channel:
    channel = ws.channel(require(args, "channel", "channel_not_found"))
    if not channel.is_member:
        raise SlackError("not_in_channel")
    return channel


# ----- auth, chat


def auth_test(ws: Workspace, args: JSONDict) -> JSONDict:
    bot = ws.users.get(ws.bot_user_id)
    return {
        "url": f"https://{ws.team_id.lower()}.slack.com/",
        "team": "Stand-in Workspace",
        "user": bot.name if bot else "bot",
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def chat_post_message(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = ws.postable(require(args, "channel", "channel_not_found"))
    _check_content(ws, args, channel)
    message = ws.bot_message(
        text=str_arg(args, "text"),
        blocks=args.get("blocks") or None,
        attachments=args.get("attachments") or None,
        metadata=_metadata(args),
    )
    stored = ws.post(channel, message, str_arg(args, "thread_ts") or None)
    rendered = ws.render(stored, with_metadata=True)
    return {"channel": channel.id, "ts": stored["ts"], "message": rendered}


def chat_update(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = ws.channel(require(args, "channel", "channel_not_found"))
    message = ws.find(channel, require(args, "ts", "message_not_found"))
    if message is None:
        raise SlackError("message_not_found")
    if message.get("bot_id") != ws.bot_id:
        raise SlackError("cant_update_message")
    _check_content(ws, args, channel)
    for key in ("text", "blocks", "attachments"):
        if key in args:
            message[key] = args[key]
    metadata = _metadata(args)
    if metadata is not None:
        message["metadata"] = metadata
    message["edited"] = {"user": ws.bot_user_id, "ts": ws.clock.next()}
    rendered = ws.render(message, with_metadata=True)
    return {
        "channel": channel.id,
        "ts": message["ts"],
        "text": message["text"],
        "message": rendered,
    }


def chat_post_ephemeral(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = ws.postable(require(args, "channel", "channel_not_found"))
    user = ws.user(require(args, "user", "user_not_found"))
    _check_content(ws, args, channel)
    message_ts = ws.clock.next()
    ws.ephemerals.append(
        {
            "channel": channel.id,
            "user": user.id,
            "text": str_arg(args, "text"),
            "blocks": args.get("blocks"),
            "thread_ts": args.get("thread_ts"),
            "message_ts": message_ts,
        }
    )
    return {"message_ts": message_ts}


# ----- conversations


def conversations_join(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = ws.channel(require(args, "channel", "channel_not_found"))
    if channel.is_private or channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    answer: JSONDict = {}
    if channel.is_member:
        answer["warning"] = "already_in_channel"
    channel.is_member = True
    return {"channel": channel.to_api(), **answer}


def conversations_info(ws: Workspace, args: JSONDict) -> JSONDict:
    return {"channel": ws.channel(require(args, "channel", "channel_not_found")).to_api()}


def conversations_open(ws: Workspace, args: JSONDict) -> JSONDict:
    users = [u.strip() for u in str_arg(args, "users").split(",") if u.strip()]
    if not users:
        raise SlackError("users_list_not_supplied")
    if len(users) > 1:
        raise SlackError("not_supported")  # group DMs are outside the stand-in's model
    channel, existed = ws.open_im(ws.user(users[0]).id)
    shown = channel.to_api() if flag(args, "return_im") else {"id": channel.id}
    return {"no_op": existed, "already_open": existed, "channel": shown}


def conversations_replies(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = _readable(ws, args)
    thread = ws.thread(channel, require(args, "ts", "thread_not_found"))
    page, more = paginate(thread, args, 1000)
    meta = flag(args, "include_all_metadata")
    return {"messages": [ws.render(m, with_metadata=meta) for m in page], **more}


def conversations_history(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = _readable(ws, args)
    inclusive = flag(args, "inclusive")
    oldest = _ts_arg(args, "oldest", 0.0)
    latest = _ts_arg(args, "latest", float("inf"))

    def within(message: JSONDict) -> bool:
        ts = float(message["ts"])
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest

    newest_first = [m for m in reversed(ws.top_level(channel)) if within(m)]
    page, more = paginate(newest_first, args, 100)
    meta = flag(args, "include_all_metadata")
    return {"messages": [ws.render(m, with_metadata=meta) for m in page], **more}


def _ts_arg(args: JSONDict, key: str, default: float) -> float:
    value = str_arg(args, key)
    try:
        return float(value) if value else default
    except ValueError:
        raise SlackError(f"invalid_ts_{key}") from None


# ----- users, reactions


def users_info(ws: Workspace, args: JSONDict) -> JSONDict:
    return {"user": ws.user(require(args, "user", "user_not_found")).to_api()}


def _reacted_message(ws: Workspace, args: JSONDict) -> tuple[JSONDict, str]:
    channel = _readable(ws, args)
    timestamp = require(args, "timestamp", "no_item_specified")
    name = require(args, "name", "invalid_name").strip(":")
    message = ws.find(channel, timestamp)
    if message is None:
        raise SlackError("message_not_found")
    return message, name


def reactions_add(ws: Workspace, args: JSONDict) -> JSONDict:
    message, name = _reacted_message(ws, args)
    reactions = message.setdefault("reactions", [])
    reaction = next((r for r in reactions if r["name"] == name), None)
    if reaction is None:
        reaction = {"name": name, "users": [], "count": 0}
        reactions.append(reaction)
    if ws.bot_user_id in reaction["users"]:
        raise SlackError("already_reacted")
    reaction["users"].append(ws.bot_user_id)
    reaction["count"] = len(reaction["users"])
    return {}


def reactions_remove(ws: Workspace, args: JSONDict) -> JSONDict:
    message, name = _reacted_message(ws, args)
    reactions = message.get("reactions", [])
    reaction = next((r for r in reactions if r["name"] == name), None)
    if reaction is None or ws.bot_user_id not in reaction["users"]:
        raise SlackError("no_reaction")
    reaction["users"].remove(ws.bot_user_id)
    reaction["count"] = len(reaction["users"])
    message["reactions"] = [r for r in reactions if r["count"] > 0]
    return {}


METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "chat.postEphemeral": chat_post_ephemeral,
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
    "files.info": files_info,
    "files.delete": files_delete,
    "conversations.join": conversations_join,
    "conversations.info": conversations_info,
    "conversations.open": conversations_open,
    "conversations.replies": conversations_replies,
    "conversations.history": conversations_history,
    "users.info": users_info,
    "views.open": views_open,
    "views.publish": views_publish,
    "views.update": views_update,
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
}
