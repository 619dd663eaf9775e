"""Why a job ended without its images, as the store keeps it, and what the person is told for
each kind, with what it cost."""

from __future__ import annotations

from enum import StrEnum

from bot.domain.usd import format_usd

_NOTHING_CHARGED = "Nothing was charged."
_SLACK_PREFIX = "slack_"


class ErrorKind(StrEnum):
    """A job's `error_kind`. Each value is what the store keeps, except SLACK, which is kept
    with Slack's error code (`slack_not_in_channel`), as every row has been."""

    INVALID_INPUT = "invalid_input"
    CONTENT_POLICY = "content_policy"
    ACCOUNT_LOCKED = "account_locked"
    UNAVAILABLE = "unavailable"
    UNCONFIRMED = "unconfirmed"
    LOST = "lost"
    TIMEOUT = "timeout"
    OVERDUE = "overdue"
    INPUT_UNAVAILABLE = "input_unavailable"
    CANCELLED = "cancelled"
    CANCELLED_AFTER_START = "cancelled_after_start"
    # Slack refused the card or the upload; the job's error message is Slack's code.
    SLACK = "slack"
    # fal's Platform API failed, or a provider error of no more precise kind.
    PLATFORM = "platform"
    PROVIDER = "provider_error"
    INTERNAL = "internal"

    def stored(self, detail: str | None = None) -> str:
        """The value the store keeps for this kind (`detail` is Slack's code for SLACK)."""
        return f"{_SLACK_PREFIX}{detail}" if self is ErrorKind.SLACK and detail else self.value

    @classmethod
    def of(cls, stored: str | None) -> ErrorKind:
        """The kind a stored value names; one this code does not know is INTERNAL."""
        if stored is None:
            return cls.INTERNAL
        if stored.startswith(_SLACK_PREFIX):
            return cls.SLACK
        try:
            return cls(stored)
        except ValueError:
            return cls.INTERNAL


def charge_note(charged_micros: int, *, estimated: bool = False) -> str:
    """What the attempt cost, as the ledger has it: a job is only ever said to be free when
    fal billed nothing for it."""
    if charged_micros <= 0:
        return _NOTHING_CHARGED
    if estimated:
        return (
            f"fal has not said what it billed yet, so it counts at its estimate of"
            f" {format_usd(charged_micros)} until fal's records settle it."
        )
    return f"fal billed {format_usd(charged_micros)} for this attempt."


def cancel_note(*, after_start: bool, charged_micros: int, estimated: bool = False) -> str:
    """The end of a cancelled card: free only when fal stopped it before running it."""
    if not after_start:
        return _NOTHING_CHARGED
    return f"fal had already started it. {charge_note(charged_micros, estimated=estimated)}"


def failure_text(
    kind: ErrorKind,
    detail: str | None,
    job_id: str,
    *,
    charged_micros: int = 0,
    estimated: bool = False,
) -> str:
    """What the person is told of a failed job (`detail` is fal's reason, or Slack's code)."""
    detail = (detail or "").strip()
    charged = charge_note(charged_micros, estimated=estimated)
    match kind:
        case ErrorKind.INVALID_INPUT:
            reason = f": {detail}" if detail and detail != kind else "."
            return f"fal could not use this request{reason} {charged}"
        case ErrorKind.CONTENT_POLICY:
            category = f" (category: {detail})" if detail and detail != kind else ""
            return f"The model declined this prompt{category}. {charged}"
        case ErrorKind.ACCOUNT_LOCKED:
            return (
                "fal refused the bot's account (it may be locked or out of balance), so please"
                f" ask an admin to check it. {charged}"
            )
        case ErrorKind.UNAVAILABLE:
            return f"fal is unavailable right now. Try again in a few minutes. {charged}"
        case ErrorKind.UNCONFIRMED:
            return (
                "fal did not answer, and its records could not say whether it got the request."
                " Nothing is charged unless fal's records show it ran; if they do, its bill"
                " reaches your spend when they are next checked. Try again in a few minutes."
            )
        case ErrorKind.TIMEOUT if charged_micros > 0:
            return f"fal took too long, so I cancelled it, but fal had already started. {charged}"
        case ErrorKind.TIMEOUT:
            return f"fal took too long, so I cancelled the request. {charged}"
        case ErrorKind.OVERDUE:
            return (
                "fal took too long and had already started, so I stopped waiting. fal may"
                " still bill it, so it counts at its estimate. Try again later."
            )
        case ErrorKind.INPUT_UNAVAILABLE:
            reason = f": {detail}" if detail and detail != kind else "."
            return f"I couldn't get the image to edit{reason} {charged}"
        case ErrorKind.LOST:
            return f"fal lost track of this request. Try again. {charged}"
        case ErrorKind.CANCELLED | ErrorKind.CANCELLED_AFTER_START:
            return f"Cancelled. {charged}"
        case ErrorKind.SLACK:
            return undeliverable_text(detail, before_start=False)
    return f"Sorry, something went wrong on our side (job {job_id}). {charged}"


def undeliverable_text(code: str, *, before_start: bool) -> str:
    """Why the bot cannot post where it was asked."""
    if code in _OUR_FAULT:
        return _our_fault_text(code, before_start=before_start)
    where = {
        "not_in_channel": "I'm not a member of that channel",
        "channel_not_found": "I can't see that conversation (private channels need an invite)",
        "method_not_supported_for_channel_type": "I can't join private channels by myself",
        "is_archived": "that channel is archived",
        "images_lost": "the images were lost before they reached Slack",
    }.get(code, f"Slack refused the post ({code})")
    if before_start:
        return (
            f"I couldn't start your image: {where}. Invite me with `/invite @imagebot` in the"
            f" channel (or DM me), then try again. {_NOTHING_CHARGED}"
        )
    return (
        f"Your image was made but I couldn't post it: {where}. fal billed it, so it counts"
        " toward your spend. Invite me back (or DM me) and press Regenerate to get a new one."
    )


# Slack refused what the bot built: nothing the person can change, so no invite advice.
_OUR_FAULT = frozenset({"invalid_blocks", "msg_too_long", "invalid_metadata_format"})


def _our_fault_text(code: str, *, before_start: bool) -> str:
    refused = f"Slack refused the message I built for it ({code}). That's a fault on my side"
    if before_start:
        return (
            f"I couldn't start your image: {refused}, not yours; please tell an admin."
            f" {_NOTHING_CHARGED}"
        )
    return (
        f"Your image was made but I couldn't post it: {refused}, not yours; please tell an"
        " admin. fal billed it, so it counts toward your spend."
    )
