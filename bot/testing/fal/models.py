"""The fal stand-in's model of the world: how a request behaves (FalBehaviour), what it
recorded (FalRecord), what fal bills for it, and fal's input rules and error shapes for
GPT Image 2. These rules are written from fal's published sources, not from the bot's code,
so that the bot drifting from fal shows up in tests."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from PIL import Image

from bot.testing.fal.schemas import ENDPOINTS, Endpoint, field_problem, megapixels

JSON = dict[str, Any]

SUBMIT_FAILURES = ("locked", "submit_500", "submit_503")
# status_429 / result_429: fal's rate limit on those calls (fail_times of them, then normal).
# submit_drop: fal queues the request, then the connection drops before its answer arrives.
OUTCOMES = (
    "ok", "validation_error", "content_policy", "result_500", "never", "status_429", "result_429",
    "submit_drop", *SUBMIT_FAILURES,
)  # fmt: skip
GPT_IMAGE_2 = "openai/gpt-image-2"
# Every endpoint the stand-in serves, and what fal's pricing API lists for each.
UNIT_PRICES = {endpoint_id: spec.unit_price for endpoint_id, spec in ENDPOINTS.items()}
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
    # Seedream's own presets: 2K and 4K squares (fal-js SeedDream45T2IInput.image_size).
    "auto_2K": (2048, 2048),
    "auto_4K": (4096, 4096),
}
# Nano Banana Pro's resolution tiers, as the long side of the picture (Gemini's 1K is 1024).
TIERS = {"1K": 1024, "2K": 2048, "4K": 4096}
# The inputs of each endpoint, and nothing else (bot.testing.fal.schemas, with sources).
FIELDS: dict[str, frozenset[str]] = {e: frozenset(spec.fields) for e, spec in ENDPOINTS.items()}
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
    # Units on a scripted 422 (validation_error, content_policy): fal's SDK sets the header
    # on a 422 when the app says the runner's work is billable (fal-ai/fal
    # `projects/fal/src/fal/api/api.py`, FieldException handling).
    error_units: Decimal | None = None
    # What fal's billing record says, when it is not what the result's header said.
    billed_units: Decimal | None = None
    # Guaranteed for png output (padding in an ancillary chunk, which decoders skip); jpeg and
    # webp are converted from the picture and come out smaller.
    image_min_bytes: int = 0
    fail_times: int | None = None
    # The status stream (SSE): served unless `stream` is False; `stream_drops` ends it after
    # the first event, as a dropped connection would.
    stream: bool = True
    stream_drops: bool = False
    # A cancel of a running request reaches the model app, which decides (fal's "Cancel a
    # request" and "Handle cancellations" docs): "stop" raises RequestCancelledException
    # (fal's SDK answers 499) and bills what the runner used, `stop_units`; "finish" ignores it.
    on_cancel: Literal["stop", "finish"] = "stop"
    stop_units: Decimal | None = Decimal("0.0107")
    # The request stays queued until a cancel arrives, and a runner picks it up at that very
    # moment: the cancel meets a request that has just started.
    start_on_cancel: bool = False
    # How a cancelled request's status reads. fal's docs name only IN_QUEUE, IN_PROGRESS and
    # COMPLETED (with `error`); some published schemas also list CANCELLED, so both are played.
    cancelled_status: Literal["COMPLETED", "CANCELLED"] = "COMPLETED"
    # Seconds fal holds the submit's answer after queueing the request (a slow network).
    submit_delay: float = 0.0
    # The endpoint fal falls back to for this request unless the submit carried
    # `x-fal-disable-fallbacks` (fal's reliability docs, "Model Fallbacks"); it then bills
    # under that endpoint.
    fallback_endpoint: str | None = None
    # What happens to the webhook a submit asked for: "send" it when the request is done,
    # "drop" it (a delivery that never arrives), or "replay" it (the same delivery, headers and
    # all, sent a second time after the first, as an eavesdropper could).
    webhook: Literal["send", "drop", "replay"] = "send"
    # Render the images as soon as the request is submitted, not when the result is first
    # asked for: a benchmark then does not count the stand-in's own work, which fal does on
    # its machines, against the bot it measures.
    render_early: bool = False

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
    # Wall-clock time of the submit, for fal's request history and billing events.
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status_calls: int = 0
    result_calls: int = 0
    cancelled: bool = False
    # A cancel reached it while it ran, and the app stopped it.
    stopped: bool = False
    cancel_calls: int = 0
    expired: bool = False
    # The 422 detail item when the request fails validation or the content policy.
    error: JSON | None = None
    result: JSON | None = None
    image_urls: list[str] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    forced_done_at: float | None = None
    started_at: float | None = None
    result_failures: int = 0
    limited: int = 0
    stream_calls: int = 0
    # Seconds spent serving the result and the images (fal's time, not the bot's).
    serve_seconds: float = 0.0
    # When the bot first asked for the result: its delay after completion is status lag.
    result_asked_at: float | None = None
    # When the status stream told a watcher the request was done: a busy stand-in tells late,
    # and that delay is the stand-in's, not the watcher's.
    streamed_done_at: float | None = None
    # The HTTP status of each webhook delivery (0: no answer), in the order sent.
    webhook_answers: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.behaviour.start_on_cancel:
            self.started_at = self.submitted_at + self.behaviour.queue_seconds

    @property
    def billed_endpoint(self) -> str:
        fallback = self.behaviour.fallback_endpoint
        allowed = "x-fal-disable-fallbacks" not in self.headers
        return fallback if fallback is not None and allowed else self.endpoint_id

    @property
    def app(self) -> str:
        """owner/alias (with namespace): fal keeps every request of an app under this path."""
        parts = self.endpoint_id.split("/")
        return "/".join(parts[: 3 if parts[0] in ("workflows", "comfy") else 2])

    def done_at(self) -> float | None:
        if self.forced_done_at is not None:
            return self.forced_done_at
        if self.behaviour.outcome == "never" or self.started_at is None:
            return None
        return self.started_at + self.behaviour.run_seconds

    @property
    def completed_at(self) -> float | None:
        done = self.done_at()
        return done if done is not None and done <= time.monotonic() else None

    def phase(self, now: float) -> str:
        done = self.done_at()
        if done is not None and done <= now:
            return "COMPLETED"
        if self.started_at is None or now < self.started_at:
            return "IN_QUEUE"
        return "IN_PROGRESS"

    def ran(self, now: float) -> bool:
        """Whether a runner worked on it (fal bills only what ran)."""
        return self.started_at is not None and self.started_at <= now

    def queue_position(self, now: float) -> int:
        b = self.behaviour
        if self.started_at is None:
            return b.queue_position
        if b.queue_seconds <= 0:
            return 0
        remaining = max(0.0, self.started_at - now)
        return min(b.queue_position, round(b.queue_position * remaining / b.queue_seconds))

    def billed(self, now: float) -> Decimal | None:
        """The units fal's billing record holds for it once it is done, if it billed any.
        Not billed: a request cancelled before it ran, server errors, time in the queue
        (fal's pricing docs); a 422 only when the app said its work was billable."""
        if self.phase(now) != "COMPLETED" or not self.ran(now):
            return None
        b = self.behaviour
        if self.stopped:
            return b.stop_units
        if self.error is not None:
            return b.error_units
        return b.billed_units if b.billed_units is not None else self.units

    @property
    def units(self) -> Decimal | None:
        """What the result's `x-fal-billable-units` says: for a model billed in dollars of
        tokens, the behaviour's figure; for one billed per image or megapixel, the count of
        what it made, in that model's unit (None when the behaviour says fal sends none)."""
        units = self.behaviour.billable_units
        spec = ENDPOINTS.get(self.endpoint_id)
        if units is None or spec is None or spec.unit == "usd":
            return units
        return Decimal(billed_count(spec, self.arguments, self.endpoint_id))

    def wall(self, moment: float) -> datetime:
        return self.sent_at + timedelta(seconds=moment - self.submitted_at)


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


def validate(endpoint_id: str, args: JSON) -> list[JSON]:
    """Every way the inputs leave the endpoint's schema, as fal's 422 `detail` items."""
    spec = ENDPOINTS.get(endpoint_id)
    if spec is None:
        return []
    problems = [
        detail_item([name], "Extra inputs are not permitted", "extra_forbidden")
        for name in sorted(set(args) - set(spec.fields))
    ]
    for name, rule in spec.fields.items():
        if name not in args:
            if rule.required:
                problems.append(detail_item([name], "Field required", "missing"))
            continue
        problem = field_problem(name, rule, args[name])
        if rule.kind == "size" and problem is None:
            problem = _size_problem(args[name], spec)
        if problem is not None:
            problems.append(detail_item([name], problem, "value_error"))
    return problems


def _size_problem(size: object, spec: Endpoint) -> str | None:
    """A preset, or {width, height}. GptImage2Input.image_size: "both dimensions as multiples
    of 16, max edge 3840px, aspect ratio <= 3:1, total pixels between 655,360 and 8,294,400"
    (fal-js endpoints.ts); models that render "up to 4 MP" are held to that."""
    if isinstance(size, str):
        return None if size in PRESETS else f"Input should be one of {', '.join(PRESETS)}"
    if not isinstance(size, dict) or set(size) - {"width", "height"}:
        return "Input should be a preset name or an object with width and height"
    width, height = size.get("width"), size.get("height")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        return "width and height should be positive integers"
    if spec.size_rules == "max-4mp" and width * height > 4 * 1024 * 1024:
        return "the image can have at most 4 megapixels"
    if spec.size_rules != "gpt-image-2":
        return None
    if width % 16 or height % 16:
        return "width and height must be multiples of 16"
    if max(width, height) > 3840:
        return "the longest side must be at most 3840 pixels"
    if max(width, height) > 3 * min(width, height):
        return "the aspect ratio must be at most 3:1"
    if not 655_360 <= width * height <= 8_294_400:
        return "the total number of pixels must be between 655360 and 8294400"
    return None


def billed_count(spec: Endpoint, args: JSON, endpoint_id: str) -> int:
    """Units of a finished request in its model's unit: images, or megapixels of output."""
    count = output_count(args)
    if spec.unit == "image":
        return count * spec.resolution_units.get(str(args.get("resolution")), 1)
    width, height = dimensions(args, endpoint_id)
    return count * (megapixels(width, height) + spec.first_units - 1)


def output_count(args: JSON) -> int:
    count = args.get("num_images", 1)
    return count if isinstance(count, int) and 1 <= count <= 6 else 1


def dimensions(args: JSON, endpoint_id: str) -> tuple[int, int]:
    spec = ENDPOINTS.get(endpoint_id)
    if spec is not None and "upscale_factor" in spec.fields:
        factor = float(args.get("upscale_factor", 2))
        return round(1024 * factor), round(1024 * factor)
    if spec is not None and "aspect_ratio" in spec.fields:
        return _ratio_size(str(args.get("aspect_ratio", "1:1")), str(args.get("resolution", "1K")))
    default = spec.default_size if spec is not None else "landscape_4_3"
    size = args.get("image_size", default)
    if isinstance(size, dict) and spec is not None and _size_problem(size, spec) is None:
        return int(size["width"]), int(size["height"])
    return PRESETS.get(size, PRESETS["landscape_4_3"]) if isinstance(size, str) else (1024, 768)


def _ratio_size(ratio: str, tier: str) -> tuple[int, int]:
    w, _, h = ratio.partition(":")
    wide, high = (float(w), float(h)) if w and h and ratio != "auto" else (1.0, 1.0)
    long_side = TIERS.get(tier, 1024)
    if wide >= high:
        return long_side, round(long_side * high / wide)
    return round(long_side * wide / high), long_side


def convert(png: bytes, fmt: str) -> bytes:
    if fmt == "png":
        return png
    out = io.BytesIO()
    pil_format = "JPEG" if fmt == "jpg" else fmt.upper()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, format=pil_format)
    return out.getvalue()


def status_logs(phase: str) -> list[JSON]:
    stamp = datetime.now(UTC).isoformat()
    messages = ["Generating images"] + (["Images ready"] if phase == "COMPLETED" else [])
    return [{"message": m, "level": "INFO", "source": "user", "timestamp": stamp} for m in messages]


def result_body(rec: FalRecord, images: list[JSON]) -> JSON:
    """The result's JSON: `images`, or one `image` for an upscaler (fal-js SeedVRImageOutput)."""
    spec = ENDPOINTS.get(rec.endpoint_id)
    if spec is not None and spec.single_image:
        return {"image": images[0], "seed": 42}
    return {"images": images}
