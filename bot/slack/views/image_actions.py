"""The buttons under a result, one row per image: Edit, More like this, Upscale.

Posted in the thread just below the images. A button carries only the job id and the image's
number (`J…:3`, far under Block Kit's 2,000 characters), never a URL; its action id names the
image too, so every action id in the message is unique, and each row holds three buttons (an
actions block takes 25; a result has at most a handful of images, a message 50 blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.usd import format_usd
from bot.slack.blockkit import Block, actions, button, context, fallback, message_blocks

ACTION_IMAGE_EDIT = "imagebot_image_edit"
ACTION_IMAGE_MORE = "imagebot_image_more"
ACTION_IMAGE_UPSCALE = "imagebot_image_upscale"
IMAGE_ACTIONS = (ACTION_IMAGE_EDIT, ACTION_IMAGE_MORE, ACTION_IMAGE_UPSCALE)


@dataclass(frozen=True)
class ImagePrices:
    """What one image's buttons say of money: More like this's estimate when it differs from
    the original's (None: the same, or unknown), and Upscale's (None: no upscaler)."""

    more_micros: int | None
    upscale_micros: int | None
    has_upscaler: bool = True


def action_id(action: str, index: int) -> str:
    return f"{action}:{index}"


def action_value(job_id: str, index: int) -> str:
    return f"{job_id}:{index}"


def image_actions(job_id: str, prices: list[ImagePrices]) -> tuple[str, list[Block]]:
    """The message: a line saying what the buttons do, then a row per image."""
    several = len(prices) > 1
    blocks: list[Block] = [
        context(
            "Work from one image: *Edit* it, make *More like this*, or *Upscale* it."
            " Charged to whoever presses."
        )
    ]
    for index, price in enumerate(prices, start=1):
        mark = f" #{index}" if several else ""
        value = action_value(job_id, index)
        more = "More like this" + mark
        if price.more_micros is not None:
            more += f" · ~{format_usd(price.more_micros)}"
        row = [
            button("Edit" + mark, action_id(ACTION_IMAGE_EDIT, index), value),
            button(more, action_id(ACTION_IMAGE_MORE, index), value),
        ]
        if price.has_upscaler:
            upscale = "Upscale" + mark
            if price.upscale_micros is not None:
                upscale += f" · ~{format_usd(price.upscale_micros)}"
            row.append(button(upscale, action_id(ACTION_IMAGE_UPSCALE, index), value))
        blocks.append(actions(f"image:{job_id}:{index}", row))
    text = "Edit, More like this or Upscale, per image"
    return fallback(text), message_blocks(blocks)
