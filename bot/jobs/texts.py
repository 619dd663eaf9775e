"""What people are told when a job cannot be done, by the kind of failure."""

from __future__ import annotations

_NOTHING_CHARGED = "Nothing was charged."


def failure_text(kind: str, detail: str | None, job_id: str) -> str:
    detail = (detail or "").strip()
    match kind:
        case "invalid_input":
            reason = f": {detail}" if detail and detail != kind else "."
            return f"fal could not use this request{reason} {_NOTHING_CHARGED}"
        case "content_policy":
            category = f" (category: {detail})" if detail and detail != kind else ""
            return f"The model declined this prompt{category}. {_NOTHING_CHARGED}"
        case "account_locked":
            return (
                "fal refused the bot's account (it may be locked or out of balance), so please"
                f" ask an admin to check it. {_NOTHING_CHARGED}"
            )
        case "unavailable":
            return f"fal is unavailable right now. Try again in a few minutes. {_NOTHING_CHARGED}"
        case "timeout":
            return f"fal took too long, so I cancelled the request. {_NOTHING_CHARGED}"
        case "overdue":
            return (
                "fal took too long and had already started, so I stopped waiting. fal may"
                " still bill it, so it counts at its estimate. Try again later."
            )
        case "input_unavailable":
            reason = f": {detail}" if detail and detail != kind else "."
            return f"I couldn't get the image to edit{reason} {_NOTHING_CHARGED}"
        case "lost":
            return f"fal lost track of this request. Try again. {_NOTHING_CHARGED}"
        case "cancelled":
            return f"Cancelled. {_NOTHING_CHARGED}"
    if kind.startswith("slack_"):
        return undeliverable_text(kind.removeprefix("slack_"), before_start=False)
    return f"Sorry, something went wrong on our side (job {job_id}). {_NOTHING_CHARGED}"


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
