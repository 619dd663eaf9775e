"""The fal stand-in's model of the world: how a request behaves (FalBehaviour), what it
recorded (FalRecord), and fal's input rules and error shapes for GPT Image 2."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from PIL import Image

JSON = dict[str, Any]

SUBMIT_FAILURES = ("locked", "submit_500", "submit_503")
# status_429 / result_429: fal's rate limit on those calls (fail_times of them, then normal).
OUTCOMES = (
    "ok", "validation_error", "content_policy", "result_500", "never", "status_429", "result_429",
    *SUBMIT_FAILURES,
)  # fmt: skip
GPT_IMAGE_2 = "openai/gpt-image-2"
# How often the status stream looks for a change while queued (positions tick down), and at
# least how often otherwise (a forced completion or a cancel has no event to wait on).
STREAM_TICK = 0.1
STREAM_IDLE = 0.25
PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (1024, 1024),
    "auto": (1024, 1024),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "quality": ("low", "medium", "high", "auto"),
    "output_format": ("png", "jpeg", "webp"),
    "background": ("auto", "transparent", "opaque"),
}
LOCKED_DETAIL = (
    "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."
)
NGINX_503 = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
    "<h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass
class FalBehaviour:
    """How one submitted request behaves; `fail_times` limits the scripted failures to N tries."""

    queue_seconds: float = 0.0
    queue_position: int = 0
    run_seconds: float = 0.3
    outcome: str = "ok"
    billable_units: Decimal | None = Decimal("0.0421")
    content_policy_category: str = "violence"
    # Guaranteed for png output (padding in an ancillary chunk, which decoders skip); jpeg and
    # webp are converted from the picture and come out smaller.
    image_min_bytes: int = 0
    fail_times: int | None = None
    # The status stream (SSE): served unless `stream` is False; `stream_drops` ends it after
    # the first event, as a dropped connection would.
    stream: bool = True
    stream_drops: bool = False

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; expected one of {OUTCOMES}")


@dataclass
class FalRecord:
    """One accepted submit, as the stand-in saw it. Header names are lower-cased."""

    request_id: str
    endpoint_id: str
    arguments: JSON
    headers: dict[str, str]
    submitted_at: float
    behaviour: FalBehaviour
    webhook_url: str | None = None
    status_calls: int = 0
    result_calls: int = 0
    cancelled: bool = False
    expired: bool = False
    # The 422 detail item when the request fails validation or the content policy.
    error: JSON | None = None
    result: JSON | None = None
    image_urls: list[str] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    forced_done_at: float | None = None
    result_failures: int = 0
    limited: int = 0
    stream_calls: int = 0
    # Seconds spent serving the result and the images (fal's time, not the bot's).
    serve_seconds: float = 0.0
    # When the bot first asked for the result: its delay after completion is status lag.
    result_asked_at: float | None = None

    @property
    def app(self) -> str:
        """owner/alias (with namespace): fal keeps every request of an app under this path."""
        parts = self.endpoint_id.split("/")
        return "/".join(parts[: 3 if parts[0] in ("workflows", "comfy") else 2])

    def done_at(self) -> float | None:
        if self.forced_done_at is not None:
            return self.forced_done_at
        if self.behaviour.outcome == "never":
            return None
        return self.submitted_at + self.behaviour.queue_seconds + self.behaviour.run_seconds

    @property
    def completed_at(self) -> float | None:
        done = self.done_at()
        return done if done is not None and done <= time.monotonic() else None

    def phase(self, now: float) -> str:
        done = self.done_at()
        if done is not None and done <= now:
            return "COMPLETED"
        if now < self.submitted_at + self.behaviour.queue_seconds:
            return "IN_QUEUE"
        return "IN_PROGRESS"

    def queue_position(self, now: float) -> int:
        b = self.behaviour
        if b.queue_seconds <= 0:
            return 0
        remaining = max(0.0, self.submitted_at + b.queue_seconds - now)
        return min(b.queue_position, round(b.queue_position * remaining / b.queue_seconds))


def detail_item(loc: list[str], msg: str, kind: str, **ctx: str) -> JSON:
    item: JSON = {"loc": ["body", *loc], "msg": msg, "type": kind}
    item["url"] = f"https://docs.fal.ai/errors/#{kind}"
    if ctx:
        item["ctx"] = ctx
    return item


def scripted_error(behaviour: FalBehaviour) -> JSON | None:
    if behaviour.outcome == "validation_error":
        return detail_item(["prompt"], "Prompt was rejected by validation", "value_error")
    if behaviour.outcome == "content_policy":
        category = behaviour.content_policy_category
        msg = "The content could not be processed because it contained material flagged by a "
        msg += "content checker."
        return detail_item(["prompt"], msg, "content_policy_violation", category=category)
    return None


def validate(endpoint_id: str, args: JSON) -> JSON | None:
    """Check gpt-image-2 inputs the way fal's schema does; the first problem, or None."""
    if endpoint_id not in (GPT_IMAGE_2, f"{GPT_IMAGE_2}/edit"):
        return None
    problem = _field_problem(args, edit=endpoint_id.endswith("/edit"))
    return None if problem is None else detail_item([problem[0]], problem[1], "value_error")


def _field_problem(args: JSON, *, edit: bool) -> tuple[str, str] | None:
    prompt = args.get("prompt")
    if not isinstance(prompt, str) or not 2 <= len(prompt) <= 32000:
        return "prompt", "Field required: a string of 2 to 32000 characters"
    for name, allowed in CHOICES.items():
        if name in args and args[name] not in allowed:
            return name, f"Input should be one of {', '.join(allowed)}"
    count = args.get("num_images", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
        return "num_images", "Input should be an integer from 1 to 4"
    if "sync_mode" in args and not isinstance(args["sync_mode"], bool):
        return "sync_mode", "Input should be a valid boolean"
    if "image_size" in args and (msg := _size_problem(args["image_size"])):
        return "image_size", msg
    if edit:
        urls = args.get("image_urls")
        if not isinstance(urls, list) or not urls or not all(map(_is_image_url, urls)):
            return "image_urls", "Field required: a non-empty list of http(s) or data: URLs"
        if "mask_url" in args and not _is_image_url(args["mask_url"]):
            return "mask_url", "Input should be an http(s) or data: URL"
    return None


def _size_problem(size: object) -> str | None:
    if isinstance(size, str):
        return None if size in PRESETS else f"Input should be one of {', '.join(PRESETS)}"
    if not isinstance(size, dict):
        return "Input should be a preset name or an object with width and height"
    width, height = size.get("width"), size.get("height")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        return "width and height should be positive integers"
    if width % 16 or height % 16:
        return "width and height must be multiples of 16"
    if max(width, height) > 3840:
        return "the longest side must be at most 3840 pixels"
    if max(width, height) > 3 * min(width, height):
        return "the aspect ratio must be at most 3:1"
    if not 655_360 <= width * height <= 8_294_400:
        return "the total number of pixels must be between 655360 and 8294400"
    return None


def _is_image_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://", "data:"))


def dimensions(args: JSON, endpoint_id: str) -> tuple[int, int]:
    default = "auto" if endpoint_id.endswith("/edit") else "landscape_4_3"
    size = args.get("image_size", default)
    if isinstance(size, dict) and _size_problem(size) is None:
        return int(size["width"]), int(size["height"])
    return PRESETS.get(size, PRESETS["landscape_4_3"]) if isinstance(size, str) else (1024, 768)


def convert(png: bytes, fmt: str) -> bytes:
    if fmt == "png":
        return png
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, format=fmt.upper())
    return out.getvalue()


def status_logs(phase: str) -> list[JSON]:
    stamp = datetime.now(UTC).isoformat()
    messages = ["Generating images"] + (["Images ready"] if phase == "COMPLETED" else [])
    return [{"message": m, "level": "INFO", "source": "user", "timestamp": stamp} for m in messages]
