"""The files.* and views.* methods of the Slack stand-in: files_upload_v2's two calls, files.info
and files.delete, views.open, views.publish and views.update."""

from __future__ import annotations

from typing import Any

from bot.testing.slack.blocks import BlockError, check_view
from bot.testing.slack.models import (
    Channel,
    JSONDict,
    SlackError,
    Upload,
    ViewCall,
    int_arg,
    require,
    str_arg,
)
from bot.testing.slack.workspace import Workspace


def files_get_upload_url_external(ws: Workspace, args: JSONDict) -> JSONDict:
    filename = require(args, "filename")
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


def files_info(ws: Workspace, args: JSONDict) -> JSONDict:
    # An upload never completed is not a file yet: its id is unknown (file_not_found).
    stored = ws.files.get(require(args, "file", "file_not_found"))
    if stored is None:
        raise SlackError("file_not_found")
    return {"file": ws.file_object(stored)}


def files_delete(ws: Workspace, args: JSONDict) -> JSONDict:
    """A bot deletes its own files (files.delete reference: cant_delete_file otherwise); the
    messages that carried it show a tombstone in its place, as Slack shows a deleted file."""
    stored = ws.files.get(require(args, "file", "file_not_found"))
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
        check_view(view, ws.file_rule(user=viewer, channel=None))
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
    user = ws.user(require(args, "user_id", "user_not_found"))
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
