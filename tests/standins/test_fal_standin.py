"""The fal stand-in, driven through the real fal_client.AsyncClient and plain httpx."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib
import io
import json
import ssl
import time
from decimal import Decimal
from types import ModuleType
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image

from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.images import make_png, png_size
from bot.testing.process import wait_until

KEY = "test-fal-key"
T2I = "openai/gpt-image-2"
EDIT = "openai/gpt-image-2/edit"
_NO_FALLBACK = {"x-fal-disable-fallbacks": "true"}


@pytest.fixture
def server(fal: FalStandIn) -> FalStandIn:
    return fal


@pytest.fixture
def fal_client(server: FalStandIn) -> ModuleType:
    module = importlib.import_module("fal_client")
    assert f"https://{server.netloc}/" == module.client.QUEUE_URL_FORMAT
    return module


@pytest.fixture
async def http(server: FalStandIn) -> Any:
    context = ssl.create_default_context(cafile=server.ca_path)
    async with httpx.AsyncClient(verify=context, timeout=10) as client:
        yield client


def _auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Key {key}"}


async def _statuses(handle: Any) -> list[Any]:
    """Poll like fal_client does until COMPLETED; every status seen, in order."""
    seen = []
    async with asyncio.timeout(10):
        while True:
            seen.append(await handle.status(with_logs=True))
            if type(seen[-1]).__name__ == "Completed":
                return seen
            await asyncio.sleep(0.02)


def test_make_png_is_valid_distinct_and_deterministic() -> None:
    a, b = make_png("a", 320, 200), make_png("b", 320, 200)
    assert a != b and a == make_png("a", 320, 200)
    assert png_size(a) == (320, 200)
    assert Image.open(io.BytesIO(a)).size == (320, 200)
    with pytest.raises(ValueError):
        png_size(b"GIF89a")


@pytest.mark.parametrize(("size", "min_bytes"), [((1024, 1024), 1_500_000), ((64, 48), 50_000)])
def test_make_png_reaches_min_bytes_and_stays_valid(size: tuple[int, int], min_bytes: int) -> None:
    data = make_png("big", *size, min_bytes=min_bytes)
    assert len(data) >= min_bytes
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.size == size == png_size(data)


async def test_lifecycle_queue_progress_completed_and_result(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.plan(FalBehaviour(queue_seconds=1.0, queue_position=3, run_seconds=0.4))
    client = fal_client.AsyncClient(key=KEY)
    handle = await client.submit(T2I, {"prompt": "a red fox", "quality": "low"})
    seen = await _statuses(handle)
    kinds = [type(s).__name__ for s in seen]
    assert kinds[0] == "Queued" and seen[0].position == 3
    positions = [s.position for s in seen if type(s).__name__ == "Queued"]
    assert positions == sorted(positions, reverse=True) and len(set(positions)) > 1
    assert "InProgress" in kinds and kinds.index("InProgress") > kinds.index("Queued")
    in_progress = seen[kinds.index("InProgress")]
    assert (
        in_progress.logs
        and {"message", "level", "source", "timestamp"} <= in_progress.logs[0].keys()
    )
    assert seen[-1].error is None and seen[-1].metrics["inference_time"] >= 0.3

    response = await http.get(handle.response_url, headers=_auth())
    assert response.status_code == 200
    assert response.headers["x-fal-billable-units"] == "0.0421"
    assert response.headers["x-fal-request-id"] == handle.request_id
    [image] = response.json()["images"]
    assert (image["width"], image["height"], image["content_type"]) == (1024, 768, "image/png")
    png = (await http.get(image["url"])).content
    assert png_size(png) == (1024, 768) and len(png) == image["file_size"]
    assert await handle.get() == response.json()

    record = fal.record(handle.request_id)
    assert record.arguments["prompt"] == "a red fox"
    assert record.headers["authorization"] == f"Key {KEY}"
    assert record.result_calls == 2 and record.status_calls >= len(seen)
    assert record.completed_at is not None and record.media[image["url"]] == png
    assert record.image_urls == [image["url"]]
    assert fal.calls["cdn"] == 1 and fal.calls["submit"] == 1


async def test_result_before_completion_is_400_until_completed(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.default = FalBehaviour(outcome="never", billable_units=None)
    handle = await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "slow"})
    early = await http.get(handle.response_url, headers=_auth())
    assert (early.status_code, early.json()) == (400, {"detail": "Request is still in progress"})
    fal.complete_now(handle.request_id)
    assert type(await handle.status()).__name__ == "Completed"
    late = await http.get(handle.response_url, headers=_auth())
    assert late.status_code == 200 and "x-fal-billable-units" not in late.headers


async def test_edit_endpoint_answers_under_owner_alias(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    source = fal_client.encode(make_png("source"), "image/png")
    arguments = {"prompt": "make it blue", "image_urls": [source], "num_images": 2}
    handle = await fal_client.AsyncClient(key=KEY).submit(EDIT, arguments)
    base = f"{fal.base_url}/openai/gpt-image-2/requests/{handle.request_id}"
    assert (handle.response_url, handle.status_url) == (base, f"{base}/status")
    assert handle.cancel_url == f"{base}/cancel"
    wrong = await http.get(base.replace("gpt-image-2/", "gpt-image-2/edit/"), headers=_auth())
    assert wrong.status_code == 404
    result = await handle.get()
    urls = [image["url"] for image in result["images"]]
    assert len(set(urls)) == 2 and all(u.startswith(f"{fal.base_url}/cdn/") for u in urls)
    bodies = [(await http.get(url)).content for url in urls]
    assert bodies[0] != bodies[1] and png_size(bodies[0]) == (1024, 1024)
    assert fal.submits_for(EDIT)[0].endpoint_id == EDIT and not fal.submits_for(T2I)


async def test_jpeg_output_and_large_png(fal: FalStandIn, fal_client: ModuleType) -> None:
    fal.default = FalBehaviour(run_seconds=0, image_min_bytes=1_500_000)
    client = fal_client.AsyncClient(key=KEY)
    size = {"width": 1536, "height": 1024}
    jpeg = await client.submit(T2I, {"prompt": "jpeg", "output_format": "jpeg", "image_size": size})
    [image] = (await jpeg.get())["images"]
    assert image["url"].endswith(".jpeg") and image["content_type"] == "image/jpeg"
    data = fal.record(jpeg.request_id).media[image["url"]]
    assert Image.open(io.BytesIO(data)).format == "JPEG" and image["file_size"] == len(data)
    png = await client.submit(T2I, {"prompt": "png", "image_size": size})
    [image] = (await png.get())["images"]
    assert image["file_size"] >= 1_500_000 and (image["width"], image["height"]) == (1536, 1024)
    assert png_size(fal.record(png.request_id).media[image["url"]]) == (1536, 1024)


@pytest.mark.parametrize(
    ("endpoint", "arguments", "field", "kind"),
    [
        (T2I, {"prompt": "x"}, "prompt", "value_error"),
        (T2I, {"prompt": "ok prompt", "quality": "ultra"}, "quality", "value_error"),
        (T2I, {"prompt": "ok prompt", "num_images": 5}, "num_images", "value_error"),
        (T2I, {"prompt": "ok", "image_size": {"width": 1000, "height": 1000}}, "image_size", "value_error"),
        (T2I, {"prompt": "ok", "image_size": {"width": 3840, "height": 960}}, "image_size", "value_error"),
        (T2I, {"prompt": "ok", "image_size": {"width": 512, "height": 512}}, "image_size", "value_error"),
        (T2I, {"prompt": "a sticker", "background": "transparent"}, "background", "extra_forbidden"),
        (EDIT, {"prompt": "ok", "image_urls": ["https://x/1.png"], "seed": 4}, "seed", "extra_forbidden"),
        (EDIT, {"prompt": "ok prompt", "image_urls": []}, "image_urls", "value_error"),
        (EDIT, {"prompt": "ok prompt", "image_urls": ["ftp://x/y.png"]}, "image_urls", "value_error"),
        (EDIT, {"prompt": "ok", "image_urls": ["https://x/1.png"] * 17}, "image_urls", "value_error"),
    ],
)  # fmt: skip
async def test_inputs_outside_the_schema_are_refused_with_fal_422(
    fal: FalStandIn,
    fal_client: ModuleType,
    endpoint: str,
    arguments: dict[str, Any],
    field: str,
    kind: str,
) -> None:
    fal.schema_errors_expected = True
    with pytest.raises(fal_client.client.FalClientHTTPError) as caught:
        await fal_client.AsyncClient(key=KEY).submit(endpoint, arguments)
    assert caught.value.status_code == 422 and isinstance(caught.value.message, list)
    [detail] = caught.value.message
    assert detail["loc"] == ["body", field] and detail["type"] == kind
    # fal's SDK marks schema errors unbilled.
    assert caught.value.response_headers["x-fal-billable-units"] == "0"
    assert fal.requests == [] and len(fal.schema_errors) == 1


def test_a_test_that_sends_outside_the_schema_fails_unless_it_says_so(fal: FalStandIn) -> None:
    fal.schema_errors.append({"endpoint_id": T2I, "arguments": {}, "detail": []})
    assert fal.unexpected_schema_errors()
    fal.schema_errors_expected = True
    assert fal.unexpected_schema_errors() == []
    fal.schema_errors.clear()


async def test_scripted_422_carries_billable_units_when_told(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.plan(
        FalBehaviour(outcome="validation_error", run_seconds=0, error_units=Decimal("0.0123")),
        FalBehaviour(outcome="content_policy", run_seconds=0),
    )
    client = fal_client.AsyncClient(key=KEY)
    billed = await client.submit(T2I, {"prompt": "a heron"})
    free = await client.submit(T2I, {"prompt": "a heron"})
    await _statuses(billed)
    await _statuses(free)
    first = await http.get(billed.response_url, headers=_auth())
    second = await http.get(free.response_url, headers=_auth())
    assert (first.status_code, first.headers["x-fal-billable-units"]) == (422, "0.0123")
    assert second.status_code == 422 and "x-fal-billable-units" not in second.headers


async def test_content_policy_violation(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    behaviour = FalBehaviour(outcome="content_policy", content_policy_category="sexual")
    fal.plan_for("forbidden", behaviour)
    client = fal_client.AsyncClient(key=KEY)
    handle = await client.submit(T2I, {"prompt": "something forbidden"})
    final = (await _statuses(handle))[-1]
    assert final.error_type == "content_policy_violation"
    response = await http.get(handle.response_url, headers=_auth())
    [detail] = response.json()["detail"]
    assert response.status_code == 422 and detail["loc"] == ["body", "prompt"]
    assert detail["type"] == "content_policy_violation" and detail["ctx"]["category"] == "sexual"
    harmless = await client.submit(T2I, {"prompt": "a cat"})
    assert "images" in await harmless.get()


async def test_locked_account_is_403_at_submit(fal: FalStandIn, fal_client: ModuleType) -> None:
    fal.plan(FalBehaviour(outcome="locked"))
    client = fal_client.AsyncClient(key=KEY)
    with pytest.raises(fal_client.client.FalClientHTTPError) as caught:
        await client.submit(T2I, {"prompt": "a cat"})
    assert caught.value.status_code == 403 and caught.value.message.startswith("User is locked")
    assert not fal.requests
    assert "images" in await (await client.submit(T2I, {"prompt": "a cat"})).get()


async def test_ingress_503_is_retried_by_fal_client(
    fal: FalStandIn, fal_client: ModuleType
) -> None:
    fal.plan(FalBehaviour(outcome="submit_503", fail_times=2))
    handle = await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "a cat"})
    assert fal.calls["submit"] == 3 and [r.request_id for r in fal.requests] == [handle.request_id]


async def test_submit_500_is_not_retried(fal: FalStandIn, fal_client: ModuleType) -> None:
    fal.plan(FalBehaviour(outcome="submit_500"))
    with pytest.raises(fal_client.client.FalClientHTTPError) as caught:
        await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "a cat"})
    assert caught.value.status_code == 500 and caught.value.error_type == "internal_error"
    assert fal.calls["submit"] == 1 and not fal.requests


async def test_result_500_then_recovers(fal: FalStandIn, fal_client: ModuleType) -> None:
    fal.plan(FalBehaviour(outcome="result_500", fail_times=1, run_seconds=0))
    handle = await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "a cat"})
    with pytest.raises(fal_client.client.FalClientHTTPError) as caught:
        await handle.get()
    assert caught.value.status_code == 500 and caught.value.error_type == "runner_server_error"
    assert len((await handle.get())["images"]) == 1


async def test_cancel_while_queued(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.plan(FalBehaviour(queue_seconds=30, queue_position=5))
    client = fal_client.AsyncClient(key=KEY)
    queued = await client.submit(T2I, {"prompt": "wait"})
    response = await http.put(queued.cancel_url, headers=_auth())
    assert (response.status_code, response.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    final = await queued.status()
    assert final.error == "Request cancelled" and final.error_type == "request_cancelled"
    assert final.metrics == {"inference_time": 0}
    result = await http.get(queued.response_url, headers=_auth())
    assert (result.status_code, result.json()) == (400, {"detail": "Request was cancelled"})
    assert "x-fal-billable-units" not in result.headers
    assert fal.record(queued.request_id).cancelled and fal.billing_events() == []
    unknown = await http.put(queued.cancel_url.replace(queued.request_id, "nope"), headers=_auth())
    assert (unknown.status_code, unknown.json()) == (404, {"status": "NOT_FOUND"})


async def test_cancel_of_a_running_request_is_202_and_the_app_stops_it_billing_what_ran(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.plan(FalBehaviour(run_seconds=30, stop_units=Decimal("0.0107")))
    running = await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "busy"})
    assert (await http.get(running.status_url, headers=_auth())).status_code == 202

    response = await http.put(running.cancel_url, headers=_auth())

    assert (response.status_code, response.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    final = await running.status()
    assert final.error_type == "request_cancelled" and final.metrics["inference_time"] >= 0
    result = await http.get(running.response_url, headers=_auth())
    assert result.status_code == 499 and result.headers["x-fal-billable-units"] == "0.0107"
    [event] = fal.billing_events()
    assert event["request_id"] == running.request_id and event["output_units"] == 0.0107
    again = await http.put(running.cancel_url, headers=_auth())
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})


async def test_cancel_of_a_running_request_the_app_lets_finish(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.plan(FalBehaviour(start_on_cancel=True, on_cancel="finish", run_seconds=0.2))
    handle = await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "busy"})
    assert type(await handle.status()).__name__ == "Queued"

    response = await http.put(handle.cancel_url, headers=_auth())

    assert response.status_code == 202
    seen = await _statuses(handle)
    assert seen[-1].error is None and "images" in await handle.get()
    [event] = fal.billing_events()
    assert event["output_units"] == 0.0421


async def test_a_cancelled_request_can_read_cancelled_in_its_status(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.plan(FalBehaviour(queue_seconds=30, cancelled_status="CANCELLED"))
    handle = await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "wait"})
    await http.put(handle.cancel_url, headers=_auth())
    status = await http.get(handle.status_url, headers=_auth())
    assert (status.status_code, status.json()["status"]) == (200, "CANCELLED")


async def test_status_is_202_until_completed_then_200(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.plan(FalBehaviour(queue_seconds=0.3, queue_position=2, run_seconds=0.3))
    handle = await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "a cat"})
    codes = {}
    async with asyncio.timeout(10):
        while "COMPLETED" not in codes:
            answer = await http.get(handle.status_url, headers=_auth())
            codes[answer.json()["status"]] = answer.status_code
            await asyncio.sleep(0.05)
    assert codes == {"IN_QUEUE": 202, "IN_PROGRESS": 202, "COMPLETED": 200}


async def test_a_submit_whose_answer_is_dropped_is_still_queued(
    fal: FalStandIn, http: httpx.AsyncClient
) -> None:
    fal.plan(FalBehaviour(outcome="submit_drop", fail_times=1))
    with pytest.raises(httpx.TransportError):
        await http.post(f"{fal.base_url}/{T2I}", json={"prompt": "a cat"}, headers=_auth())
    again = await http.post(f"{fal.base_url}/{T2I}", json={"prompt": "a cat"}, headers=_auth())
    assert again.status_code == 200 and len(fal.requests) == 2
    assert again.json()["request_id"] == fal.requests[1].request_id


async def test_wrong_key_is_401(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    with pytest.raises(fal_client.client.FalClientHTTPError) as caught:
        await fal_client.AsyncClient(key="wrong").submit(T2I, {"prompt": "a cat"})
    assert caught.value.status_code == 401 and not fal.requests
    handle = await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "a cat"})
    response = await http.get(handle.status_url)
    assert response.status_code == 401 and "detail" in response.json()


async def test_unknown_request_and_expired_media_are_404(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.default = FalBehaviour(run_seconds=0)
    handle = await fal_client.AsyncClient(key=KEY).submit(T2I, {"prompt": "a cat"})
    missing = await http.get(handle.status_url.replace(handle.request_id, "nope"), headers=_auth())
    assert (missing.status_code, missing.json()) == (404, {"detail": "Request not found"})
    [image] = (await handle.get())["images"]
    assert (await http.get(image["url"])).status_code == 200
    fal.expire_media(handle.request_id)
    assert (await http.get(image["url"])).status_code == 404


async def test_start_and_stop_in_the_current_loop() -> None:
    standin = FalStandIn(key="k")
    await standin.start()
    try:
        assert standin.port > 0 and standin.base_url == f"https://127.0.0.1:{standin.port}"
        context = ssl.create_default_context(cafile=standin.ca_path)
        async with httpx.AsyncClient(verify=context) as client:
            url = f"{standin.base_url}/openai/gpt-image-2"
            response = await client.post(url, json={"prompt": "hi"}, headers=_auth("k"))
        assert response.status_code == 200 and response.json()["queue_position"] == 0
        assert response.headers["x-fal-request-id"] == response.json()["request_id"]
    finally:
        await standin.stop()


async def test_resume_by_request_id_and_sync_mode(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.default = FalBehaviour(run_seconds=0)
    client = fal_client.AsyncClient(key=KEY)
    source = fal_client.encode(make_png("source"), "image/png")
    arguments = {"prompt": "edit me", "image_urls": [source], "sync_mode": True}
    submitted = await client.submit(EDIT, arguments)
    # A restarted bot rebuilds the handle from the id; fal_client uses owner/alias for that.
    handle = await client.get_handle(EDIT, submitted.request_id)
    assert handle.status_url == submitted.status_url
    status = await http.get(handle.status_url, params={"logs": "false"}, headers=_auth())
    assert status.json()["status"] == "COMPLETED" and status.json()["logs"] == []
    [image] = (await client.result(EDIT, submitted.request_id))["images"]
    assert image["url"].startswith("data:image/png;base64,")


async def test_platform_api_serves_history_billing_and_prices_from_what_ran(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.plan(*[FalBehaviour(run_seconds=0) for _ in range(3)])
    fal.prices[T2I] = Decimal("0.5")
    client = fal_client.AsyncClient(key=KEY)
    handles = [await client.submit(T2I, {"prompt": f"cat {i}", "quality": "low"}) for i in range(3)]
    for handle in handles:
        await handle.get()
    api, admin = fal.api_url, _auth(fal.admin_key)

    page = await http.get(
        f"{api}/models/requests/by-endpoint",
        params={"endpoint_id": T2I, "expand": "payloads", "limit": "2"},
        headers=_auth(),
    )
    body = page.json()
    assert page.status_code == 200 and len(body["items"]) == 2 and body["has_more"]
    assert body["items"][0]["json_input"] == {"prompt": "cat 0", "quality": "low"}
    rest = await http.get(
        f"{api}/models/requests/by-endpoint",
        params={"endpoint_id": T2I, "limit": "2", "cursor": body["next_cursor"]},
        headers=_auth(),
    )
    assert [i["request_id"] for i in rest.json()["items"]] == [handles[2].request_id]
    assert "json_input" not in rest.json()["items"][0] and not rest.json()["has_more"]

    events = await http.get(
        f"{api}/models/billing-events", params={"endpoint_id": T2I}, headers=admin
    )
    found = events.json()["billing_events"]
    assert {e["request_id"] for e in found} == {h.request_id for h in handles}
    assert all(e["unit_price"] == 0.5 and e["cost_estimate_nano_usd"] == 21_050_000 for e in found)
    refused = await http.get(f"{api}/models/billing-events", headers=_auth())
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "authorization_error"

    prices = await http.get(f"{api}/models/pricing", params={"endpoint_id": T2I}, headers=_auth())
    assert prices.json()["prices"] == [
        {"endpoint_id": T2I, "unit_price": 0.5, "unit": "units", "currency": "USD"}
    ]
    missing = await http.get(f"{api}/models/pricing", headers=_auth())
    assert missing.status_code == 400


@pytest.mark.parametrize(("headers", "billed"), [({}, "fal-ai/other"), (_NO_FALLBACK, T2I)])
async def test_fal_falls_back_only_without_the_header(
    fal: FalStandIn, http: httpx.AsyncClient, headers: dict[str, str], billed: str
) -> None:
    fal.default = FalBehaviour(run_seconds=0, fallback_endpoint="fal-ai/other")
    answer = await http.post(
        f"{fal.base_url}/{T2I}", json={"prompt": "a cat"}, headers=_auth() | headers
    )
    await http.get(answer.json()["status_url"], headers=_auth())
    [event] = fal.billing_events()
    assert event["endpoint_id"] == billed


class Receiver:
    """A webhook receiver on loopback that answers `status` and keeps every delivery."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        self.deliveries.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status)

    async def wait(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.deliveries) < count:
                await asyncio.sleep(0.02)


def _verified_by_jwks(jwks: dict[str, Any], headers: dict[str, str], body: bytes) -> bool:
    """fal's documented check, written out here without the bot's code."""
    message = "\n".join(
        [
            headers["X-Fal-Webhook-Request-Id"],
            headers["X-Fal-Webhook-User-Id"],
            headers["X-Fal-Webhook-Timestamp"],
            hashlib.sha256(body).hexdigest(),
        ]
    ).encode()
    for key in jwks["keys"]:
        raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(
                bytes.fromhex(headers["X-Fal-Webhook-Signature"]), message
            )
        except InvalidSignature:
            continue
        return True
    return False


async def test_a_webhook_asked_for_by_fal_client_is_signed_as_fal_documents(
    fal: FalStandIn, fal_client: ModuleType, http: httpx.AsyncClient
) -> None:
    fal.plan(FalBehaviour(run_seconds=0.2))
    async with Receiver() as receiver:
        client = fal_client.AsyncClient(key=KEY)
        handle = await client.submit(T2I, {"prompt": "a red fox"}, webhook_url=receiver.url)
        await receiver.wait(1)
    [(headers, body)] = receiver.deliveries
    delivered = json.loads(body)
    assert delivered["request_id"] == delivered["gateway_request_id"] == handle.request_id
    assert delivered["status"] == "OK" and delivered["payload"]["images"][0]["url"]
    assert headers["X-Fal-Webhook-Request-Id"] == handle.request_id
    assert abs(int(headers["X-Fal-Webhook-Timestamp"]) - time.time()) < 60
    jwks = (await http.get(fal.jwks_url)).json()
    assert len(jwks["keys"][0]["x"]) == 43  # base64url without padding
    assert _verified_by_jwks(jwks, headers, body)
    assert not _verified_by_jwks(jwks, headers, body + b" ")
    assert fal.record(handle.request_id).webhook_answers == [200]


async def test_a_failed_request_posts_an_error_webhook(
    fal: FalStandIn, fal_client: ModuleType
) -> None:
    fal.plan(FalBehaviour(run_seconds=0.1, outcome="content_policy"))
    async with Receiver() as receiver:
        client = fal_client.AsyncClient(key=KEY)
        await client.submit(T2I, {"prompt": "a red fox"}, webhook_url=receiver.url)
        await receiver.wait(1)
    delivered = json.loads(receiver.deliveries[0][1])
    assert delivered["status"] == "ERROR" and delivered["error"] == "Invalid status code: 422"
    assert delivered["payload"]["detail"][0]["type"] == "content_policy_violation"


async def test_a_refused_delivery_is_retried_signed_anew_and_a_replay_is_the_same_bytes(
    fal: FalStandIn, fal_client: ModuleType
) -> None:
    fal.plan(FalBehaviour(run_seconds=0.1), FalBehaviour(run_seconds=0.1, webhook="replay"))
    client = fal_client.AsyncClient(key=KEY)
    async with Receiver(status=500) as receiver:
        handle = await client.submit(T2I, {"prompt": "a red fox"}, webhook_url=receiver.url)
        await receiver.wait(2)
        # The stand-in notes an answer once it has read it, a moment after the receiver sent it.
        refused = handle.request_id
        await wait_until(lambda: len(fal.record(refused).webhook_answers) >= 2, 30)
    assert fal.record(handle.request_id).webhook_answers[:2] == [500, 500]
    async with Receiver() as receiver:
        handle = await client.submit(T2I, {"prompt": "a red fox"}, webhook_url=receiver.url)
        await receiver.wait(2)
        replayed = handle.request_id
        await wait_until(lambda: len(fal.record(replayed).webhook_answers) >= 2, 30)
    first, second = receiver.deliveries
    assert first == second
    assert fal.record(handle.request_id).webhook_answers == [200, 200]
