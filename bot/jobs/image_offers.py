"""What can be made from one image of a finished result, and what it would cost.

**More like this** runs the same prompt on the model's edit endpoint (or the catalog's edit
model when the model has none) with that image as the reference; **Upscale** runs the
catalog's `upscale` model on it. The buttons under a result show these estimates, and a press
admits the very same request (bot.requests.image_actions), so the price on the button is the
one held against the presser's budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.request import ImageRequest, OptionError
from bot.providers.catalog import Catalog
from bot.providers.profiles import JobKind, ModelProfile
from bot.store.records import ImageInput, Job


@dataclass(frozen=True)
class ImageOffer:
    """A request made from one image: its kind, the request, the image as its input."""

    kind: JobKind
    request: ImageRequest
    inputs: list[ImageInput]

    def estimate_micros(self, catalog: Catalog) -> int | None:
        """What it should cost on the model it runs on (None: that model is gone)."""
        try:
            profile = catalog.get(self.request.model)
        except OptionError:
            return None
        sizes = [(item.width, item.height) for item in self.inputs]
        return profile.estimate_for(self.kind, self.request, sizes)


def result_input(job: Job, index: int) -> ImageInput:
    """Image `index` (from 1) of the job's result, as the input of a new request: fal's copy
    while fal still serves it, else the file in Slack."""
    image = job.images[index - 1]
    file_id = job.slack_file_ids[index - 1] if index <= len(job.slack_file_ids) else None
    return ImageInput(
        fal_url=image.url, slack_file_id=file_id, name=f"image {index}",
        width=image.width, height=image.height,
    )  # fmt: skip


def more_like_this(catalog: Catalog, job: Job, index: int) -> ImageOffer:
    """The same prompt and settings (a style's words in it once: the request was settled),
    with image `index` as the reference. A model without an edit endpoint hands over to the
    catalog's edit model with what that model takes (the prompt, the number of images, a size
    or format it accepts), not options it would refuse (a seed, LoRA, the style's model)."""
    request = job.request.model_copy(update={"image_index": index})
    profile = catalog.profiles.get(request.model)
    if profile is None or not profile.has("edit"):
        request = _on_edit_model(catalog.role("edit"), request)
    return ImageOffer("edit", request, [result_input(job, index)])


def _on_edit_model(edit: ModelProfile, request: ImageRequest) -> ImageRequest:
    keep: dict[str, object] = {
        "prompt": request.prompt, "model": edit.name, "n": min(request.n, edit.max_images),
        "image_index": request.image_index,
    }  # fmt: skip
    if edit.sizing == "image_size":
        keep["size"] = request.size
    if request.output_format in edit.choices("format"):
        keep["output_format"] = request.output_format
    # A fresh request, so that nothing the other model took comes along (the prompt is set
    # after, as retention may have blanked it).
    return ImageRequest(prompt="an edit", model=edit.name).model_copy(update=keep)


def upscale(catalog: Catalog, job: Job, index: int) -> ImageOffer | None:
    """Image `index` on the catalog's upscaler (None when the catalog names none)."""
    name = catalog.roles.get("upscale")
    if not name or name not in catalog.profiles:
        return None
    # The upscaler takes no prompt; the job keeps the original's, for its card and files.
    request = ImageRequest(prompt="upscale", model=name, image_index=index)
    request = request.model_copy(update={"prompt": job.prompt})
    return ImageOffer("upscale", request, [result_input(job, index)])
