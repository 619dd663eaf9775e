"""What the Slack stand-in serves besides the Web API: the raw upload URLs of files_upload_v2,
people's private files (`url_private`: a 302 to a CDN path that wants the token too, as Slack
does, or an HTML sign-in page without the token) and response_url capability URLs (5 answers
within 30 minutes, Slack's "Handling user interaction"). A mixin of SlackStandIn."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from bot.testing.slack.faults import UPLOAD_TARGET
from bot.testing.slack.models import Download, Fault, JSONDict, ResponsePost, StoredFile
from bot.testing.slack.protocol import LOGIN_PAGE, bearer, read_payload, read_upload
from bot.testing.slack.workspace import Workspace

MAX_RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60


@dataclass
class ResponseUrl:
    minted: float
    uses: int = 0


class FileHosting:
    _lock: threading.Lock
    _ws: Workspace
    _downloads: list[Download]
    _responses: list[ResponsePost]
    _response_keys: dict[str, ResponseUrl]
    bot_token: str
    redirect_files: bool
    cdn_base: str | None

    @property
    def base_url(self) -> str:
        raise NotImplementedError

    def _take_fault(self, target: str, kind: str | None = None) -> Fault | None:
        raise NotImplementedError

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        data = await read_upload(request)
        with self._lock:
            status, text = self._store_upload(request.match_info["file_id"], data)
            upload = self._ws.uploads.get(request.match_info["file_id"])
            if upload is not None:
                upload.seconds += time.monotonic() - arrived
        return web.Response(status=status, text=text, content_type="text/plain")

    def _store_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        upload = self._ws.uploads.get(file_id)
        if upload is not None:
            upload.attempts += 1
        fault = self._take_fault(UPLOAD_TARGET)
        if fault is not None:
            return fault.status, "Internal Server Error"
        if upload is None or upload.completed:
            return 404, "Not Found"
        if len(data) != upload.length:
            return 400, f"length mismatch: declared {upload.length}, received {len(data)}"
        upload.data, upload.uploaded = data, True
        return 200, f"OK - {len(data)}"

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        team_file, name = request.match_info["team_file"], request.match_info["name"]
        if not self.redirect_files:
            return self._serve_file(team_file, name, bearer(request), "file")
        token = bearer(request)
        with self._lock:
            stored = self._stored_file(team_file, name)
            granted = stored is not None and token == self.bot_token
            self._downloads.append(Download(stored.id if stored else team_file, token, granted))
            base = self.cdn_base or self.base_url
        if stored is None:
            return web.Response(status=404, text="<html>Not found</html>", content_type="text/html")
        if not granted:
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        location = f"{base}/files-cdn/{team_file}/{quote(name, safe='')}?t={secrets.token_hex(6)}"
        raise web.HTTPFound(location)

    async def _handle_cdn(self, request: web.Request) -> web.StreamResponse:
        return self._serve_file(
            request.match_info["team_file"], request.match_info["name"], bearer(request), "cdn"
        )

    def _serve_file(
        self, team_file: str, name: str, token: str | None, hop: str
    ) -> web.StreamResponse:
        with self._lock:
            stored = self._stored_file(team_file, name)
            granted = stored is not None and token == self.bot_token
            file_id = stored.id if stored else team_file
            self._downloads.append(Download(file_id, token, granted, hop=hop))
        if stored is None:
            return web.Response(status=404, text="<html>Not found</html>", content_type="text/html")
        if not granted:
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        return web.Response(body=stored.data, content_type=stored.mimetype)

    def _stored_file(self, team_file: str, name: str) -> StoredFile | None:
        stored = self._ws.file_by_path(team_file)
        return stored if stored is not None and stored.name == name else None

    async def _handle_respond(self, request: web.Request) -> web.StreamResponse:
        body = await read_payload(request)
        auth = request.headers.get("Authorization")
        with self._lock:
            status, text = self._record_response(request.match_info["key"], body, auth)
        return web.Response(status=status, text=text, content_type="text/plain")

    def _record_response(
        self, key: str, body: JSONDict | None, auth: str | None
    ) -> tuple[int, str]:
        status, text = 200, "ok"
        url = self._response_keys.get(key)
        if url is None:
            status, text = 404, "no_service"
        elif self._ws.now() - url.minted > RESPONSE_URL_SECONDS:
            status, text = 404, "expired_url"
        elif url.uses >= MAX_RESPONSE_URL_USES:
            status, text = 404, "used_url"
        elif body is None:
            status, text = 400, "invalid_payload"
        elif not (body.get("text") or body.get("blocks") or body.get("delete_original")):
            status, text = 400, "no_text"
        else:
            url.uses += 1
        self._responses.append(ResponsePost(key, body, time.monotonic(), auth, status))
        return status, text
