"""A local image provider for trying the bot without fal: real pictures drawn with Pillow.

Each picture is a colour field made from the request id, with the prompt's words written on it
(an edit draws over the image it was given), at the size and format asked. It bills a pretend
amount, what the price table says the request costs ("demo pricing", see bot.domain.demo_pricing),
and runs through the same runner,
store and Slack code as fal. Its request ids carry the submit time on the bot's clock, so a
restarted bot finds its jobs finished.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import secrets
import textwrap
from collections.abc import AsyncGenerator
from decimal import Decimal
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from bot.domain.clock import Clock, system_clock
from bot.domain.demo_pricing import DEMO_ENDPOINT_PREFIX
from bot.domain.request import QUALITIES, ImageRequest, Quality
from bot.domain.usd import to_micros
from bot.providers.base import (
    CancelOutcome,
    Finished,
    Generation,
    OutputImage,
    QueueState,
    RequestLost,
    Running,
    Submission,
    SubmitGuard,
)
from bot.providers.catalog import Catalog, CatalogProvider
from bot.providers.polling import PollPlan, poll

_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_DEFAULT_SIZE = (1024, 768)
_QUALITIES: dict[str, Quality] = {quality: quality for quality in QUALITIES}


class MockProvider(CatalogProvider):
    name = "mock"

    def __init__(
        self, catalog: Catalog, *, delay: float = 2.0, clock: Clock = system_clock
    ) -> None:
        # Every model's inputs, as on fal, under endpoints of its own.
        self.catalog = catalog.with_endpoint_prefix(DEMO_ENDPOINT_PREFIX)
        self.delay = delay
        self.clock = clock
        self.submitted: list[dict[str, Any]] = []
        self._images: dict[str, bytes] = {}
        self._cancelled: set[str] = set()

    async def submit(
        self, endpoint_id: str, arguments: dict[str, Any], guard: SubmitGuard
    ) -> Submission:
        request_id = f"mock-{self._now_ms()}-{secrets.token_hex(4)}"
        self.submitted.append({"endpoint_id": endpoint_id, "arguments": arguments})
        packed = json.dumps({"endpoint_id": endpoint_id, "arguments": arguments})
        packed = base64.urlsafe_b64encode(packed.encode()).decode()
        return Submission(
            request_id,
            status_url=f"mock://status/{request_id}",
            result_url=f"mock://result/{request_id}?args={packed}",
            cancel_url=f"mock://cancel/{request_id}",
        )

    async def status(self, submission: Submission) -> QueueState:
        if submission.request_id in self._cancelled:
            return Finished("Request cancelled", "request_cancelled")
        submitted_ms = int(submission.request_id.split("-")[1])
        if self._now_ms() - submitted_ms >= self.delay * 1000:
            return Finished()
        return Running()

    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def watch(
        self, submission: Submission, expected_seconds: float | None
    ) -> AsyncGenerator[QueueState, None]:
        return poll(self.status, submission, PollPlan(expected_seconds))

    async def result(self, submission: Submission) -> Generation:
        packed = submission.result_url.partition("?args=")[2]
        sent = json.loads(base64.urlsafe_b64decode(packed.encode()))
        arguments = sent["arguments"]
        images = await asyncio.to_thread(self._render_all, submission.request_id, arguments)
        bill = self._demo_bill(sent["endpoint_id"], arguments, images)
        return Generation(submission.request_id, images, bill)

    def _demo_bill(
        self, endpoint_id: str, arguments: dict[str, Any], images: list[OutputImage]
    ) -> Decimal:
        """What the model's prices say fal would bill for these pictures, in units of $1."""
        # A job admitted for fal's own endpoint still has its model's prices.
        profile = self.catalog.profile_of(endpoint_id) or self.catalog.profile_of(
            DEMO_ENDPOINT_PREFIX + endpoint_id
        )
        if not images or profile is None:
            return Decimal("0")
        request = ImageRequest(
            prompt="demo", model=profile.name, n=len(images),
            quality=_QUALITIES.get(str(arguments.get("quality"))),
            resolution=arguments.get("resolution"),
        )  # fmt: skip
        inputs = len(arguments.get("image_urls") or [])
        width, height = images[0].width, images[0].height
        micros = profile.estimate_micros(request, width, height, inputs)
        return Decimal(micros) / 1_000_000

    def _render_all(self, request_id: str, arguments: dict[str, Any]) -> list[OutputImage]:
        fmt = str(arguments.get("output_format", "png"))
        source = self._source_image(arguments)
        size = arguments.get("image_size")
        if isinstance(size, dict):
            width, height = int(size["width"]), int(size["height"])
        elif source is not None:
            width, height = source.size
        else:
            width, height = _DEFAULT_SIZE
        outputs = []
        for index in range(1, int(arguments.get("num_images", 1)) + 1):
            url = f"mock://image/{request_id}/{index}.{fmt}"
            picture = draw(f"{request_id}/{index}", str(arguments["prompt"]), width, height, source)
            self._images[url] = encode(picture, fmt)
            name = f"{index}.{fmt}"
            outputs.append(
                OutputImage(url, _CONTENT_TYPES.get(fmt, "image/png"), width, height, name)
            )
        return outputs

    def _source_image(self, arguments: dict[str, Any]) -> Image.Image | None:
        for url in arguments.get("image_urls") or []:
            data = self._images.get(url) if url.startswith("mock://") else _from_data_uri(url)
            if data:
                return Image.open(io.BytesIO(data)).convert("RGB")
        return None

    async def download(self, url: str, destination: Path) -> int:
        data = self._images.get(url)
        if data is None:
            raise RequestLost("the mock image is gone (the bot restarted)")
        await asyncio.to_thread(destination.write_bytes, data)
        return len(data)

    async def is_reachable(self, url: str) -> bool:
        return url in self._images

    async def cancel(self, submission: Submission) -> CancelOutcome:
        self._cancelled.add(submission.request_id)
        return "requested"

    async def bill(self, submission: Submission) -> Decimal | None:
        return Decimal("0")

    async def cost_micros(self, endpoint_id: str, units: Decimal) -> int:
        return to_micros(units)  # the mock bills in dollars

    async def close(self) -> None:
        self._images.clear()


def _from_data_uri(url: str) -> bytes | None:
    if not url.startswith("data:") or "," not in url:
        return None
    header, _, payload = url.partition(",")
    return base64.b64decode(payload) if header.endswith(";base64") else None


def _colours(seed: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    digest = hashlib.sha256(seed.encode()).digest()
    return (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5])


def draw(
    seed: str, prompt: str, width: int, height: int, source: Image.Image | None
) -> Image.Image:
    """A picture unique to `seed`, with the prompt written across it."""
    top, bottom = _colours(seed)
    gradient = Image.linear_gradient("L").resize((width, height))
    picture = Image.composite(
        Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), gradient
    )
    if source is not None:
        picture = Image.blend(source.resize((width, height)), picture, 0.35)
    pen = ImageDraw.Draw(picture)
    font_size = max(14, min(width, height) // 14)
    font = ImageFont.load_default(size=font_size)
    words = " ".join(prompt.split())[:400]
    lines = textwrap.wrap(words, width=max(8, int(width / (font_size * 0.55))))[:8]
    # An edit writes its instruction below the middle, where the picture it edits has none.
    middle = height * 3 // 4 if source is not None else height // 2
    y = middle - len(lines) * font_size // 2
    for line in lines:
        pen.text(
            (width // 2, y),
            line,
            fill="white",
            anchor="mt",
            font=font,
            stroke_width=2,
            stroke_fill="black",
        )
        y += int(font_size * 1.2)
    return picture


def encode(picture: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "jpeg":
        picture.convert("RGB").save(out, format="JPEG", quality=88)
    elif fmt == "webp":
        picture.save(out, format="WEBP", quality=85)
    else:
        picture.save(out, format="PNG")
    return out.getvalue()
