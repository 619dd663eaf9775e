"""Log setup: one line per record, with tokens and keys blanked wherever they appear."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

_TOKEN_SHAPES = re.compile(r"\b(xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,})")
_KEY_HEADER = re.compile(r"(Authorization['\"]?\s*[:=]\s*['\"]?(?:Key|Bearer)\s+)[^\s'\",}]+", re.I)


class Redactor(logging.Filter):
    """Rewrites each record's message so no secret reaches a log line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        text = _TOKEN_SHAPES.sub("[redacted]", text)
        return _KEY_HEADER.sub(r"\1[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.redact(message)
        record.args = None
        return True


def configure(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # slack-sdk announces each retry it makes at INFO; the retried call's outcome is what counts.
    for noisy in ("httpx", "httpcore", "aiohttp.access", "slack_sdk.web.async_base_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
