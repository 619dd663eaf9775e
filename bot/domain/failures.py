"""What people are told when a job cannot be done, by the kind of failure, and what it cost."""

from __future__ import annotations

from bot.domain.usd import format_usd

_NOTHING_CHARGED = "Nothing was charged."


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
    kind: str, detail: str | None, job_id: str, *, charged_micros: int = 0, estimated: bool = False
) -> str:
    detail = (detail or "").strip()
    charged = charge_note(charged_micros, estimated=estimated)
    match kind:
        case "invalid_input":
            reason = f": {detail}" if detail and detail != kind else "."
            return f"fal could not use this request{reason} {charged}"
        case "content_policy":
            category = f" (category: {detail})" if detail and detail != kind else ""
            return f"The model declined this prompt{category}. {charged}"
        case "account_locked":
            return (
                "fal refused the bot's account (it may be locked or out of balance), so please"
                f" ask an admin to check it. {charged}"
            )
        case "unavailable":
            return f"fal is unavailable right now. Try again in a few minutes. {charged}"
        case "unconfirmed":
            return (
                "fal did not answer, and its records could not say whether it got the request."
                " Nothing is charged unless fal's records show it ran; if they do, its bill"
                " reaches your spend when they are next checked. Try again in a few minutes."
            )
        case "timeout" if charged_micros > 0:
            return f"fal took too long, so I cancelled it, but fal had already started. {charged}"
        case "timeout":
            return f"fal took too long, so I cancelled the request. {charged}"
        case "overdue":
            return (
                "fal took too long and had already started, so I stopped waiting. fal may"
                " still bill it, so it counts at its estimate. Try again later."
            )
        case "input_unavailable":
            reason = f": {detail}" if detail and detail != kind else "."
            return f"I couldn't get the image to edit{reason} {charged}"
        case "lost":
            return f"fal lost track of this request. Try again. {charged}"
        case "cancelled" | "cancelled_after_start":
            return f"Cancelled. {charged}"
    if kind.startswith("slack_"):
        return undeliverable_text(kind.removeprefix("slack_"), before_start=False)
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
