"""What the buttons under an image run: More like this stays on a model that edits, and on a
model that does not it hands over to the catalog's edit model with only what that model takes
(so the press is never refused for an option the person never typed); Upscale runs the
catalog's upscaler on the image. Each is priced as its admission will hold it."""

from __future__ import annotations

import dataclasses

from bot.domain.request import Lora, Size
from bot.jobs.image_offers import more_like_this, upscale
from bot.store.records import Job, ResultImage
from tests.factories import CATALOG, held, new_job

FLUX_LORA = CATALOG.get("flux-lora").endpoint_for("generate")


def delivered(job: Job, count: int = 4) -> Job:
    images = [
        ResultImage(url=f"https://fal.media/files/{i}.png", width=1024, height=768)
        for i in range(1, count + 1)
    ]
    return dataclasses.replace(job, images=images, slack_file_ids=[f"F{i}" for i in range(count)])


def test_more_like_this_on_a_styled_lora_result_runs_the_edit_model_with_what_it_takes() -> None:
    lora = Lora(path="https://x/brand.safetensors", scale=0.8)
    asked = new_job(
        prompt="brand colours, a cat", endpoint=FLUX_LORA, model="flux-lora", style="brand",
        styled=True, loras=(lora,), seed=7, size=Size(width=1024, height=768), n=2,
    )  # fmt: skip
    styled = held(
        dataclasses.replace(asked, request=asked.request.model_copy(update={"quality": None}))
    )
    offer = more_like_this(CATALOG, delivered(styled), 3)

    edit = CATALOG.role("edit")
    assert offer.kind == "edit" and offer.request.model == edit.name
    assert offer.request.prompt == "brand colours, a cat"  # the style's words once
    assert offer.request.style is None and offer.request.loras == () and offer.request.seed is None
    assert offer.request.size == Size(width=1024, height=768) and offer.request.n == 2
    assert offer.inputs[0].fal_url == "https://fal.media/files/3.png"
    assert offer.inputs[0].slack_file_id == "F2"
    edit.complete(offer.request, "medium")  # nothing in it the edit model refuses
    assert offer.estimate_micros(CATALOG)


def test_more_like_this_on_a_model_that_edits_keeps_its_settings() -> None:
    job = delivered(held(new_job(prompt="a cat", quality="low", n=4)))
    offer = more_like_this(CATALOG, job, 2)

    assert offer.request == job.request.model_copy(update={"image_index": 2})


def test_upscale_runs_the_catalogs_upscaler_on_that_image_priced_by_its_output() -> None:
    offer = upscale(CATALOG, delivered(held(new_job(prompt="a cat"))), 4)

    assert offer is not None and offer.kind == "upscale"
    assert offer.request.model == CATALOG.roles["upscale"]
    assert offer.inputs[0].fal_url == "https://fal.media/files/4.png"
    # 1024x768 doubled is 2048x1536: 3 megapixels at $0.001.
    assert offer.estimate_micros(CATALOG) == 3_000
