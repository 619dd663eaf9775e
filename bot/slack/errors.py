"""The one error of every Slack call: Slack's error code, the method, and the HTTP status."""

from __future__ import annotations

# Errors that no retry will fix: the place is gone, closed to us, or the request is wrong.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "invalid_blocks",
        "invalid_thread_ts",
        "thread_not_found",
        "message_not_found",
        "cant_update_message",
        "restricted_action",
        "user_not_found",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "method_not_supported_for_channel_type",
        "images_lost",
    }
)


class SlackError(Exception):
    def __init__(self, code: str, method: str, status: int = 200) -> None:
        super().__init__(f"{method}: {code}")
        self.code = code
        self.method = method
        self.status = status

    @property
    def permanent(self) -> bool:
        return self.code in PERMANENT_ERRORS

    @property
    def uncertain(self) -> bool:
        """Slack may have done what was asked although the answer says otherwise."""
        return self.status >= 500 or self.code.startswith("request_failed")
