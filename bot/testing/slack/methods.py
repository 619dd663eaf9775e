"""Web API method handlers of the loopback Slack stand-in: name -> handler(workspace, args)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.testing.slack.blocks import BlockError, FileRule, check_message_blocks, check_view
from bot.testing.slack.models import (
    Channel,
    JSONDict,
    SlackError,
    Upload,
    ViewCall,
    flag,
    int_arg,
    paginate,
    str_arg,
)
from bot.testing.slack.workspace import Workspace

Handler = Callable[[Workspace, JSONDict], JSONDict]

MAX_TEXT = 40_000


# ----- validation helpers


def _require(args: JSONDict, key: str, error: str = "invalid_arguments") -> str:
    value = str_arg(args, key)
    if not value:
        raise SlackError(error)
    return value


def _check_content(ws: Workspace, args: JSONDict, channel: Channel) -> None:
    text = str_arg(args, "text")
    blocks = args.get("blocks")
    if not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None and blocks != []:
        try:
            check_message_blocks(blocks, _file_rule(ws, user=None, channel=channel.id))
        except BlockError as exc:
            raise SlackError("invalid_blocks", str(exc)) from None


def _file_rule(ws: Workspace, *, user: str | None, channel: str | None) -> FileRule:
    """Why Slack would refuse an image's `slack_file` (Slack file object reference: an image
    file given by exactly one of id or url, which the viewer can access); a file uploaded
    without being shared anywhere is refused ("invalid slack file": python-slack-sdk#1658)."""

    def rule(ref: object) -> str | None:
        if not isinstance(ref, dict) or ("id" in ref) == ("url" in ref):
            return "slack_file takes one of id and url"
        stored = ws.files.get(str(ref["id"])) if "id" in ref else ws.file_by_url(str(ref["url"]))
        if stored is None or not stored.is_image:
            return "invalid slack file"
        if not ws.file_visible(stored, user=user, channel=channel):
            return "invalid slack file"
        return None

    return rule


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
    channel = ws.channel(_require(args, "channel", "channel_not_found"))
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
    channel = ws.postable(_require(args, "channel", "channel_not_found"))
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
    channel = ws.channel(_require(args, "channel", "channel_not_found"))
    message = ws.find(channel, _require(args, "ts", "message_not_found"))
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
    channel = ws.postable(_require(args, "channel", "channel_not_found"))
    user = ws.user(_require(args, "user", "user_not_found"))
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


# ----- files


def files_get_upload_url_external(ws: Workspace, args: JSONDict) -> JSONDict:
    filename = _require(args, "filename")
    length = int_arg(args, "length", -1)
    if length < 0:
        raise SlackError("invalid_arguments")
    upload = Upload(
        file_id=ws.ids.next("F"),
        filename=filename,
        length=length,
        alt_txt=args.get("alt_txt"),
        snippet_type=args.get("snippet_type"),
    )
    ws.uploads[upload.file_id] = upload
    return {"upload_url": f"{ws.base_url}/upload/{upload.file_id}", "file_id": upload.file_id}


def files_complete_upload_external(ws: Workspace, args: JSONDict) -> JSONDict:
    entries = args.get("files")
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments")
    uploads = [_uploaded(ws, entry) for entry in entries]
    targets = _share_targets(ws, args)
    thread_ts = str_arg(args, "thread_ts") or None
    parents = [ws.thread_parent(c, thread_ts) if thread_ts else None for c in targets]
    first = targets[0].id if targets else None
    objects = [_complete(ws, u, e, first, thread_ts) for u, e in zip(uploads, entries, strict=True)]
    for channel, parent in zip(targets, parents, strict=True):
        message = ws.bot_message(
            text=str_arg(args, "initial_comment"), files=objects, upload=True, display_as_bot=False
        )
        ws.share_later(channel.id, message, parent["ts"] if parent else None)
    return {"files": [{"id": o["id"], "title": o["title"]} for o in objects]}


def _uploaded(ws: Workspace, entry: Any) -> Upload:
    file_id = entry.get("id") if isinstance(entry, dict) else None
    upload = ws.uploads.get(str(file_id))
    if upload is None or not upload.uploaded:
        raise SlackError("file_not_found")
    return upload


def _share_targets(ws: Workspace, args: JSONDict) -> list[Channel]:
    ids = [str_arg(args, "channel_id")] if args.get("channel_id") else []
    ids += [c.strip() for c in str_arg(args, "channels").split(",") if c.strip()]
    if args.get("thread_ts") and not ids:
        raise SlackError("invalid_arguments")
    return [ws.postable(channel_id) for channel_id in ids]


def _complete(
    ws: Workspace, upload: Upload, entry: JSONDict, channel_id: str | None, thread_ts: str | None
) -> JSONDict:
    title = str(entry.get("title") or upload.filename)
    stored = ws.store_file(
        upload.data, name=upload.filename, user=ws.bot_user_id, title=title, file_id=upload.file_id
    )
    upload.title = title
    upload.completed = True
    upload.channel_id = channel_id
    upload.thread_ts = thread_ts
    return ws.file_object(stored)


# ----- conversations


def conversations_join(ws: Workspace, args: JSONDict) -> JSONDict:
    channel = ws.channel(_require(args, "channel", "channel_not_found"))
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
    return {"channel": ws.channel(_require(args, "channel", "channel_not_found")).to_api()}


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
    thread = ws.thread(channel, _require(args, "ts", "thread_not_found"))
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


def files_info(ws: Workspace, args: JSONDict) -> JSONDict:
    # An upload never completed is not a file yet: its id is unknown (file_not_found).
    stored = ws.files.get(_require(args, "file", "file_not_found"))
    if stored is None:
        raise SlackError("file_not_found")
    return {"file": ws.file_object(stored)}


def files_delete(ws: Workspace, args: JSONDict) -> JSONDict:
    """A bot deletes its own files (files.delete reference: cant_delete_file otherwise); the
    messages that carried it show a tombstone in its place, as Slack shows a deleted file."""
    stored = ws.files.get(_require(args, "file", "file_not_found"))
    if stored is None:
        raise SlackError("file_not_found")
    if stored.user != ws.bot_user_id:
        raise SlackError("cant_delete_file")
    del ws.files[stored.id]
    for channel in ws.channels.values():
        for message in channel.messages:
            message["files"] = [
                {"id": item["id"], "mode": "tombstone"} if item.get("id") == stored.id else item
                for item in message.get("files") or []
            ]
    return {}


# ----- users, views, reactions


def users_info(ws: Workspace, args: JSONDict) -> JSONDict:
    return {"user": ws.user(_require(args, "user", "user_not_found")).to_api()}


def _view_answer(ws: Workspace, view_id: str, view: JSONDict) -> JSONDict:
    return {
        "id": view_id,
        "team_id": ws.team_id,
        "app_id": ws.app_id,
        "bot_id": ws.bot_id,
        "root_view_id": view_id,
        "hash": ws.clock.next(),
        "state": {"values": {}},
        "private_metadata": "",
        "callback_id": "",
        **view,
    }


def _view_arg(ws: Workspace, args: JSONDict, viewer: str | None) -> JSONDict:
    view = args.get("view")
    if not isinstance(view, dict) or not isinstance(view.get("type"), str):
        raise SlackError("invalid_arguments")
    try:
        check_view(view, _file_rule(ws, user=viewer, channel=None))
    except BlockError as exc:
        raise SlackError("invalid_blocks", str(exc)) from None
    return view


def _record_view(
    ws: Workspace,
    method: str,
    view: JSONDict,
    *,
    user_id: str | None = None,
    trigger_id: str | None = None,
) -> JSONDict:
    view_id = ws.ids.next("V")
    answer = _view_answer(ws, view_id, view)
    ws.open_views[view_id] = answer
    ws.views.append(ViewCall(method, view_id, view, user_id=user_id, trigger_id=trigger_id))
    return {"view": answer}


def views_open(ws: Workspace, args: JSONDict) -> JSONDict:
    trigger = str_arg(args, "trigger_id")
    ws.use_trigger(trigger)
    return _record_view(ws, "views.open", _view_arg(ws, args, None), trigger_id=trigger)


def views_publish(ws: Workspace, args: JSONDict) -> JSONDict:
    user = ws.user(_require(args, "user_id", "user_not_found"))
    view = _view_arg(ws, args, user.id)
    if view["type"] != "home":
        raise SlackError("invalid_arguments")
    return _record_view(ws, "views.publish", view, user_id=user.id)


def views_update(ws: Workspace, args: JSONDict) -> JSONDict:
    view_id = str_arg(args, "view_id")
    if not view_id:
        external = str_arg(args, "external_id")
        found = [
            k for k, v in ws.open_views.items() if external and v.get("external_id") == external
        ]
        view_id = found[-1] if found else ""
    current = ws.open_views.get(view_id)
    if current is None:
        raise SlackError("not_found")
    if args.get("hash") and args["hash"] != current["hash"]:
        raise SlackError("hash_conflict")
    view = _view_arg(ws, args, None)
    answer = _view_answer(ws, view_id, view)
    ws.open_views[view_id] = answer
    ws.views.append(ViewCall(method="views.update", view_id=view_id, view=view))
    return {"view": answer}


def _reacted_message(ws: Workspace, args: JSONDict) -> tuple[JSONDict, str]:
    channel = _readable(ws, args)
    timestamp = _require(args, "timestamp", "no_item_specified")
    name = _require(args, "name", "invalid_name").strip(":")
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
