"""People's files in Slack: Slack's file object read once for everyone (the same in events and
in files.info answers), the files downloaded with the bot token, and the bytes of an upload
sent to its upload URL.

Slack often answers a `url_private(_download)` with a 302 to its file CDN, and that hop wants
the token too (curie-eng/curie#2715 measured it against live Slack; openclaw/openclaw#63523 and
PR #63588). So redirects are followed by hand, at most five, and every hop is checked before
anything is sent: the token goes only to Slack's own hosts over https (`slack.com`,
`slack-edge.com`, `slack-files.com` and their subdomains) or to SLACK_API_URL's origin.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import httpx

from bot.slack.errors import SlackError

SLACK_DOMAINS = ("slack.com", "slack-edge.com", "slack-files.com")
MAX_REDIRECTS = 5
UPLOAD_RETRIES = (0.5, 1.0, 2.0)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=60, sock_read=60)


@dataclass(frozen=True)
class SharedFile:
    """A file a person shared, as Slack describes it; `url` is empty when Slack left it out (an
    event may name a file by its id only: files.info fills it in)."""

    id: str
    name: str
    mimetype: str
    size: int
    url: str

    @property
    def is_mask(self) -> bool:
        return self.name.lower().startswith("mask")

    @classmethod
    def from_slack(cls, item: Any) -> SharedFile | None:
        """Slack's file object (events' `files`, files.info's `file`), or None if it is not one."""
        if not isinstance(item, dict) or not item.get("id"):
            return None
        return cls(
            id=str(item["id"]),
            name=str(item.get("name") or item.get("title") or "file"),
            mimetype=str(item.get("mimetype") or ""),
            size=int(item.get("size") or 0),
            url=str(item.get("url_private_download") or item.get("url_private") or ""),
        )


class FileHosts:
    def __init__(self, token: str, api_url: str) -> None:
        self._token = token
        api = urlsplit(api_url)
        self._api_origin = (api.scheme, (api.hostname or "").lower(), api.port)
        self._http = httpx.AsyncClient(timeout=60, follow_redirects=False)
        self._uploads: aiohttp.ClientSession | None = None

    def trusted(self, url: str) -> bool:
        """A host of Slack's own (https only) or SLACK_API_URL's origin: the token may go there."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if (parts.scheme, host, parts.port) == self._api_origin:
            return True
        own = any(host == domain or host.endswith("." + domain) for domain in SLACK_DOMAINS)
        return own and parts.scheme == "https"

    async def download(self, url: str, max_bytes: int) -> bytes:
        """A person's file, fetched with the bot token. Slack often answers with a redirect
        to its file CDN, which wants the token too: each hop is followed only to a host of
        Slack's own, and checked before anything is sent to it."""
        headers = {"Authorization": f"Bearer {self._token}"}
        for _ in range(MAX_REDIRECTS + 1):
            if not self.trusted(url):
                raise SlackError("untrusted_file_host", "files.download")
            try:
                async with self._http.stream("GET", url, headers=headers) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        url = urljoin(url, location)
                        continue
                    return await _file_body(response, max_bytes)
            except httpx.HTTPError as exc:
                raise SlackError(f"request_failed: {exc!r}"[:200], "files.download") from None
        raise SlackError("too_many_redirects", "files.download")

    async def send(self, url: str, data: bytes) -> None:
        """POST the bytes to their upload URL; sending them again to the same URL is harmless,
        so a 5xx or a dropped connection is retried here (as slack-sdk's handlers did)."""
        for pause in (*UPLOAD_RETRIES, None):
            try:
                async with self._upload_session().post(url, data=data) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = SlackError(f"request_failed: {exc!r}"[:200], "files.upload")
            else:
                if status == 200:
                    return
                error = SlackError(f"upload_http_{status}", "files.upload", status)
                if status < 500:
                    raise error
            if pause is None:
                raise error
            await asyncio.sleep(pause)

    def _upload_session(self) -> aiohttp.ClientSession:
        """Uploads go through aiohttp: posting megabytes through httpx left the bot's memory
        growing by about each image's size (500 images: 766 MB against 176 MB)."""
        if self._uploads is None:
            # A TLS context made now honours SSL_CERT_FILE as it is at start (aiohttp's default
            # one is built when it is imported).
            connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
            self._uploads = aiohttp.ClientSession(timeout=_UPLOAD_TIMEOUT, connector=connector)
        return self._uploads

    async def close(self) -> None:
        await self._http.aclose()
        if self._uploads is not None:
            await self._uploads.close()


async def _file_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The file at the end of the redirects; Slack's sign-in page (HTML) means no access."""
    if response.status_code != 200:
        raise SlackError(f"http_{response.status_code}", "files.download", response.status_code)
    if response.headers.get("content-type", "").startswith("text/html"):
        raise SlackError("no_file_access", "files.download")
    data = bytearray()
    async for chunk in response.aiter_bytes(1 << 16):
        data += chunk
        if len(data) > max_bytes:
            raise SlackError("file_too_large", "files.download")
    return bytes(data)
