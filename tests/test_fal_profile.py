"""How a request becomes GPT Image 2's inputs on fal (pure mapping)."""

from __future__ import annotations

import pytest

from bot.fal import gpt_image_2
from bot.options import parse_request


def test_text_to_image_inputs() -> None:
    request = parse_request("a fox --quality low --size portrait --n 2 --format webp")
    args = gpt_image_2().arguments("generate", request, [], None)
    assert args == {
        "prompt": "a fox",
        "quality": "low",
        "num_images": 2,
        "output_format": "webp",
        "image_size": {"width": 1024, "height": 1536},
    }


def test_no_size_leaves_fal_its_default_and_background_is_sent_only_when_asked() -> None:
    args = gpt_image_2().arguments("generate", parse_request("a fox"), [], None)
    assert "image_size" not in args and "background" not in args
    args = gpt_image_2().arguments("generate", parse_request("a fox --background opaque"), [], None)
    assert args["background"] == "opaque"


def test_edit_inputs_carry_the_images_and_the_mask() -> None:
    args = gpt_image_2().arguments(
        "edit", parse_request("make it blue"), ["https://x/1.png", "data:image/png;base64,AA"], "m"
    )
    assert args["image_urls"] == ["https://x/1.png", "data:image/png;base64,AA"]
    assert args["mask_url"] == "m" and "image_size" not in args


@pytest.mark.parametrize("sends", [True, False])
def test_background_on_edits_follows_the_setting(sends: bool) -> None:
    """fal documents `background` for text-to-image only; on edits it is a setting."""
    request = parse_request("make it a sticker --background transparent")
    args = gpt_image_2(edit_sends_background=sends).arguments("edit", request, ["u"], None)
    assert ("background" in args) is sends
    text = gpt_image_2(edit_sends_background=sends).arguments("generate", request, [], None)
    assert text["background"] == "transparent"
