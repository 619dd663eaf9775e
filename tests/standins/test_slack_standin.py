"""The loopback Slack stand-in, driven by the real slack_sdk clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.testing.slack.standin import SlackStandIn

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
GENERAL = "C0GENERAL"


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    server = SlackStandIn()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)


async def api_error(call: object) -> str:
    with pytest.raises(SlackApiError) as info:
        await call  # type: ignore[misc]
    return str(info.value.response["error"])


async def test_urls_and_auth_test(standin: SlackStandIn, client: AsyncWebClient) -> None:
    assert standin.api_url == f"http://127.0.0.1:{standin.port}/api/"
    assert standin.port > 0
    answer = await client.auth_test()
    assert answer["user_id"] == "U0BOT"
    assert answer["bot_id"] == "B0BOT"
    assert answer["team_id"] == "T0TEST"
    (call,) = standin.calls_to("auth.test")
    assert call.token == "xoxb-test-token"
    assert call.ok


async def test_post_reply_and_read_thread(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel=GENERAL, text="hello")
    reply = await client.chat_postMessage(channel=GENERAL, text="in thread", thread_ts=parent["ts"])
    assert float(reply["ts"]) > float(parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]

    thread = await client.conversations_replies(channel=GENERAL, ts=parent["ts"])
    messages = thread["messages"]
    assert [m["text"] for m in messages] == ["hello", "in thread"]
    assert messages[0]["reply_count"] == 1
    assert messages[1]["thread_ts"] == parent["ts"]
    assert all(m["bot_id"] == "B0BOT" and m["user"] == "U0BOT" for m in messages)
    assert standin.thread(GENERAL, parent["ts"]) == messages
    assert standin.calls_to("chat.postMessage")[1].args["thread_ts"] == parent["ts"]

    history = await client.conversations_history(channel=GENERAL)
    assert [m["ts"] for m in history["messages"]] == [parent["ts"]]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_post_errors(standin: SlackStandIn, client: AsyncWebClient) -> None:
    assert await api_error(client.chat_postMessage(channel="C0NOPE", text="x")) == (
        "channel_not_found"
    )
    assert await api_error(client.chat_postMessage(channel=GENERAL, text="")) == "no_text"
    thread_error = await api_error(
        client.chat_postMessage(channel=GENERAL, text="x", thread_ts="1.000001")
    )
    assert thread_error == "invalid_thread_ts"
    standin.add_channel("C0OLD", "old")
    standin.archive_channel("C0OLD")
    assert await api_error(client.chat_postMessage(channel="C0OLD", text="x")) == "is_archived"
    bad_image = [{"type": "image", "image_url": "https://example.com/a.png"}]
    bad_post = client.chat_postMessage(channel=GENERAL, text="x", blocks=bad_image)
    assert await api_error(bad_post) == "invalid_blocks"
    assert standin.messages(GENERAL) == []


async def test_not_in_channel_then_join(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.add_channel("C0RANDOM", "random", bot_is_member=False)
    error = await api_error(client.chat_postMessage(channel="C0RANDOM", text="hi"))
    assert error == "not_in_channel"
    joined = await client.conversations_join(channel="C0RANDOM")
    assert joined["channel"]["is_member"] is True
    await client.chat_postMessage(channel="C0RANDOM", text="hi")
    assert [m["text"] for m in standin.messages("C0RANDOM")] == ["hi"]
    info = await client.conversations_info(channel="C0RANDOM")
    assert info["channel"]["name"] == "random"


async def test_private_channels(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.add_channel("G0SECRET", "secret", is_private=True, bot_is_member=False)
    standin.add_channel("G0TEAM", "team", is_private=True)
    # Slack hides private channels the bot is not in.
    assert await api_error(client.chat_postMessage(channel="G0SECRET", text="x")) == (
        "channel_not_found"
    )
    assert await api_error(client.conversations_join(channel="G0TEAM")) == (
        "method_not_supported_for_channel_type"
    )
    info = await client.conversations_info(channel="G0TEAM")
    assert info["channel"]["is_private"] is True


async def test_files_upload_v2_into_thread(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel=GENERAL, text="make pictures")
    text = "second file ✓".encode()
    answer = await client.files_upload_v2(
        file_uploads=[
            {"file": PNG, "filename": "one.png", "title": "One"},
            {"content": text, "filename": "two.txt", "title": "Two"},
        ],
        channel=GENERAL,
        thread_ts=parent["ts"],
        initial_comment="here they are",
    )
    assert [f["title"] for f in answer["files"]] == ["One", "Two"]

    uploads = standin.uploads
    assert [u.bytes for u in uploads] == [PNG, text]
    assert all(u.completed and u.channel_id == GENERAL for u in uploads)
    assert all(u.thread_ts == parent["ts"] for u in uploads)

    # Slack shares a completed upload a moment later: not in the thread, not listed, yet.
    assert len(standin.thread(GENERAL, parent["ts"])) == 1
    first_id = answer["files"][0]["id"]
    assert (await client.files_info(file=first_id))["file"]["shares"] == {}
    thread = await standin.wait_for(lambda: (t := standin.thread(GENERAL, parent["ts"]))[1:] and t)
    assert len(thread) == 2
    shares = (await client.files_info(file=first_id))["file"]["shares"]
    assert [s["ts"] for s in shares["public"][GENERAL]] == [thread[1]["ts"]]
    shared = thread[1]
    assert shared["text"] == "here they are"
    assert [f["name"] for f in shared["files"]] == ["one.png", "two.txt"]
    first = shared["files"][0]
    assert first["mimetype"] == "image/png"
    assert first["size"] == len(PNG)

    headers = {"Authorization": f"Bearer {standin.bot_token}"}
    async with aiohttp.ClientSession() as session:
        for url in (first["url_private"], first["url_private_download"]):
            async with session.get(url, headers=headers) as res:
                assert res.status == 200
                assert res.content_type == "image/png"
                assert await res.read() == PNG
        async with session.get(first["url_private"]) as res:
            assert res.status == 200
            assert res.content_type == "text/html"
    # Each URL answers with a redirect to the CDN, which wants the token too.
    assert [(d.hop, d.granted) for d in standin.downloads] == [
        ("file", True), ("cdn", True), ("file", True), ("cdn", True), ("file", False),
    ]  # fmt: skip


async def test_hosted_file_download(standin: SlackStandIn) -> None:
    hosted = standin.host_file(PNG, name="cat.png", mimetype="image/png", title="Cat")
    assert hosted["id"].startswith("F")
    assert hosted["url_private"].endswith(f"/files-pri/T0TEST-{hosted['id']}/cat.png")
    assert hosted["user"] == "U0ALICE"
    spaced = standin.host_file(b"%PDF-1.4", name="my cat/notes.pdf", mimetype="application/pdf")
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {standin.bot_token}"}
        async with session.get(spaced["url_private"], headers=auth) as res:
            assert (res.content_type, await res.read()) == ("application/pdf", b"%PDF-1.4")
        bad = {"Authorization": "Bearer xoxb-wrong"}
        async with session.get(hosted["url_private_download"], headers=bad) as res:
            assert res.content_type == "text/html"
        good = {"Authorization": f"Bearer {standin.bot_token}"}
        async with session.get(hosted["url_private_download"], headers=good) as res:
            assert await res.read() == PNG


async def test_form_and_multipart_requests(standin: SlackStandIn) -> None:
    """Form-encoded arguments with JSON-string blocks, and a multipart body at the upload URL."""
    blocks = '[{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]'
    auth = {"Authorization": f"Bearer {standin.bot_token}"}
    async with aiohttp.ClientSession(headers=auth) as session:
        form = {"channel": GENERAL, "text": "hi", "blocks": blocks}
        async with session.post(f"{standin.api_url}chat.postMessage", data=form) as res:
            assert (await res.json())["ok"] is True
        query = {"filename": "m.bin", "length": "4"}
        url = f"{standin.api_url}files.getUploadURLExternal"
        async with session.get(url, params=query) as res:
            started = await res.json()
        multipart = aiohttp.FormData()
        multipart.add_field("file", b"\x00\x01\x02\x03", filename="m.bin")
        async with session.post(started["upload_url"], data=multipart) as res:
            assert res.status == 200
    assert standin.calls_to("chat.postMessage")[0].args["blocks"][0]["type"] == "section"
    assert standin.messages(GENERAL)[0]["blocks"][0]["text"]["text"] == "*hi*"
    assert standin.uploads[0].bytes == b"\x00\x01\x02\x03"


async def test_upload_length_must_match(standin: SlackStandIn, client: AsyncWebClient) -> None:
    started = await client.files_getUploadURLExternal(filename="x.bin", length=10)
    async with (
        aiohttp.ClientSession() as session,
        session.post(started["upload_url"], data=b"short") as res,
    ):
        assert res.status == 400
    assert not standin.uploads[0].uploaded


async def test_history_window(standin: SlackStandIn, client: AsyncWebClient) -> None:
    stamps = [
        (await client.chat_postMessage(channel=GENERAL, text=f"m{n}"))["ts"] for n in range(3)
    ]
    window = await client.conversations_history(channel=GENERAL, oldest=stamps[0], latest=stamps[2])
    assert [m["text"] for m in window["messages"]] == ["m1"]
    inclusive = await client.conversations_history(
        channel=GENERAL, oldest=stamps[0], latest=stamps[2], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m2", "m1", "m0"]


async def test_upload_failures(standin: SlackStandIn, client: AsyncWebClient) -> None:
    started = await client.files_getUploadURLExternal(filename="x.png", length=3)
    missing = client.files_completeUploadExternal(
        files=[{"id": started["file_id"], "title": "x"}], channel_id=GENERAL
    )
    assert await api_error(missing) == "file_not_found"

    upload = client.files_upload_v2(content=b"abc", filename="a.txt", channel="C0NOPE")
    assert await api_error(upload) == "channel_not_found"
    upload = client.files_upload_v2(
        content=b"abc", filename="a.txt", channel=GENERAL, thread_ts="1.000001"
    )
    assert await api_error(upload) == "invalid_thread_ts"
    assert not any(u.completed for u in standin.uploads)

    standin.fail_upload()
    with pytest.raises(SlackRequestError):
        await client.files_upload_v2(content=b"abc", filename="a.txt", channel=GENERAL)
    assert standin.messages(GENERAL) == []

    standin.fail_upload()
    client.retry_handlers.append(AsyncServerErrorRetryHandler())
    await client.files_upload_v2(content=b"abc", filename="b.txt", channel=GENERAL)
    assert standin.uploads[-1].attempts == 2
    assert standin.uploads[-1].completed


async def test_rate_limit_retried(standin: SlackStandIn, client: AsyncWebClient) -> None:
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler())
    standin.rate_limit("chat.postMessage", retry_after=1)
    await client.chat_postMessage(channel=GENERAL, text="patience")
    first, second = standin.calls_to("chat.postMessage")
    assert (first.status, first.error) == (429, "ratelimited")
    assert second.ok
    assert second.time - first.time >= 1.0
    assert len(standin.messages(GENERAL)) == 1


async def test_rate_limit_without_handler(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel=GENERAL, text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert info.value.response["error"] == "ratelimited"


async def test_server_error_retried(standin: SlackStandIn, client: AsyncWebClient) -> None:
    client.retry_handlers.append(AsyncServerErrorRetryHandler())
    standin.server_error("auth.test", status=503)
    await client.auth_test()
    assert [c.status for c in standin.calls_to("auth.test")] == [503, 200]


async def test_injected_errors(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.fail("chat.postMessage", error="msg_too_long", times=2)
    for _ in range(2):
        assert await api_error(client.chat_postMessage(channel=GENERAL, text="x")) == (
            "msg_too_long"
        )
    await client.chat_postMessage(channel=GENERAL, text="x")
    standin.fail("users.info", error="fatal_error", times=None)
    for _ in range(3):
        assert await api_error(client.users_info(user="U0BOB")) == "fatal_error"
    standin.clear_faults()
    assert (await client.users_info(user="U0BOB"))["user"]["name"] == "bob"
    assert await api_error(client.api_call("nope.nothing")) == "unknown_method"


async def test_auth_errors(standin: SlackStandIn) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=standin.api_url)
    assert await api_error(wrong.chat_postMessage(channel=GENERAL, text="x")) == "invalid_auth"
    anonymous = AsyncWebClient(base_url=standin.api_url)
    assert await api_error(anonymous.auth_test()) == "not_authed"
    assert [c.token for c in standin.calls] == ["xoxb-wrong", None]
    assert standin.messages(GENERAL) == []


async def test_metadata_only_when_asked(client: AsyncWebClient) -> None:
    metadata = {"event_type": "image_job", "event_payload": {"job_id": "J1"}}
    parent = await client.chat_postMessage(channel=GENERAL, text="job", metadata=metadata)
    plain = await client.conversations_replies(channel=GENERAL, ts=parent["ts"])
    assert "metadata" not in plain["messages"][0]
    full = await client.conversations_replies(
        channel=GENERAL, ts=parent["ts"], include_all_metadata=True
    )
    assert full["messages"][0]["metadata"] == metadata
    history = await client.conversations_history(channel=GENERAL)
    assert "metadata" not in history["messages"][0]
    history = await client.conversations_history(channel=GENERAL, include_all_metadata=True)
    assert history["messages"][0]["metadata"] == metadata


async def test_replies_pagination(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = standin.add_message(GENERAL, "please draw a cat")
    for n in range(4):
        await client.chat_postMessage(channel=GENERAL, text=f"r{n}", thread_ts=parent["ts"])
    seen: list[str] = []
    cursor = None
    while True:
        page = await client.conversations_replies(
            channel=GENERAL, ts=parent["ts"], limit=2, cursor=cursor
        )
        seen += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert seen == ["please draw a cat", "r0", "r1", "r2", "r3"]
    missing = client.conversations_replies(channel=GENERAL, ts="1.000001")
    assert await api_error(missing) == "thread_not_found"


async def test_views_open_trigger_rules(standin: SlackStandIn, client: AsyncWebClient) -> None:
    hello = [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Draw"}, "blocks": hello}
    assert await api_error(client.views_open(trigger_id="", view=view)) == "invalid_trigger_id"
    assert await api_error(client.views_open(trigger_id="1.2.3", view=view)) == (
        "invalid_trigger_id"
    )
    trigger = standin.trigger_id()
    opened = await client.views_open(trigger_id=trigger, view=view)
    assert opened["view"]["id"].startswith("V")
    assert await api_error(client.views_open(trigger_id=trigger, view=view)) == (
        "expired_trigger_id"
    )
    stale = standin.trigger_id(ttl=-1.0)
    assert await api_error(client.views_open(trigger_id=stale, view=view)) == ("expired_trigger_id")
    home = {"type": "home", "blocks": hello}
    await client.views_publish(user_id="U0ALICE", view=home)
    assert [(v.method, v.view["type"]) for v in standin.views] == [
        ("views.open", "modal"),
        ("views.publish", "home"),
    ]
    assert standin.views[0].trigger_id == trigger


async def test_response_url(standin: SlackStandIn) -> None:
    url = standin.response_url("cmd1")
    assert url == f"{standin.base_url}/respond/cmd1"
    async with aiohttp.ClientSession() as session:
        body = {"text": "working on it", "response_type": "ephemeral"}
        async with session.post(url, json=body) as res:
            assert (res.status, await res.text()) == (200, "ok")
        async with session.post(url, json={"response_type": "ephemeral"}) as res:
            assert res.status == 400
        async with session.post(f"{standin.base_url}/respond/unknown", json=body) as res:
            assert res.status == 404
    accepted = [r for r in standin.responses if r.status == 200]
    assert [(r.token, r.body) for r in accepted] == [("cmd1", body)]
    assert accepted[0].authorization is None


async def test_dm_users_ephemeral_reactions(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.add_user("U0CAROL", "carol", is_admin=True, tz="Europe/Berlin")
    user = (await client.users_info(user="U0CAROL"))["user"]
    assert (user["is_admin"], user["tz"], user["profile"]["display_name"]) == (
        True,
        "Europe/Berlin",
        "carol",
    )
    assert await api_error(client.users_info(user="U0NOBODY")) == "user_not_found"

    opened = await client.conversations_open(users="U0CAROL")
    dm = opened["channel"]["id"]
    assert dm.startswith("D")
    assert (await client.conversations_open(users="U0CAROL"))["channel"]["id"] == dm
    await client.chat_postMessage(channel=dm, text="your picture")

    answer = await client.chat_postEphemeral(channel=GENERAL, user="U0ALICE", text="psst")
    assert answer["message_ts"]
    assert standin.ephemerals[0]["text"] == "psst"
    assert standin.messages(GENERAL) == []

    posted = await client.chat_postMessage(channel=dm, text="draft")
    await client.chat_update(channel=dm, ts=posted["ts"], text="final")
    await client.reactions_add(channel=dm, timestamp=posted["ts"], name="art")
    again = client.reactions_add(channel=dm, timestamp=posted["ts"], name="art")
    assert await api_error(again) == "already_reacted"
    message = standin.messages(dm)[-1]
    assert (message["text"], message["reactions"][0]["name"]) == ("final", "art")
    await client.reactions_remove(channel=dm, timestamp=posted["ts"], name="art")
    gone = client.reactions_remove(channel=dm, timestamp=posted["ts"], name="art")
    assert await api_error(gone) == "no_reaction"
    missing = client.chat_update(channel=dm, ts="1.000001", text="x")
    assert await api_error(missing) == "message_not_found"


def test_thread_mode_with_sync_client() -> None:
    standin = SlackStandIn(bot_token="xoxb-sync")
    standin.start_in_thread()
    try:
        client = WebClient(token="xoxb-sync", base_url=standin.api_url)
        client.chat_postMessage(channel=GENERAL, text="from another thread")
        calls = standin.wait_for_sync(lambda: standin.calls_to("chat.postMessage"), timeout=15)
        assert calls[0].args["text"] == "from another thread"
        standin.reset()
        assert standin.calls == []
        assert standin.messages(GENERAL) == []
    finally:
        standin.stop_in_thread()


async def test_context_manager_and_wait_for() -> None:
    async with SlackStandIn(port=0) as standin:
        client = AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)
        with pytest.raises(TimeoutError):
            await standin.wait_for(lambda: standin.calls_to("chat.postMessage"), timeout=0.1)
        await client.chat_postMessage(channel=GENERAL, text="now")
        calls = await standin.wait_for(lambda: standin.calls_to("chat.postMessage"))
        assert calls[0].args["channel"] == GENERAL


def section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize(
    ("blocks", "where"),
    [
        ([section("x" * 3001)], "/blocks/0"),
        ([section("&" * 601)], "/blocks/0/text"),  # a raw & is stored as &amp;: 3,005
        ([section(">" * 751)], "/blocks/0/text"),  # a quote mark is stored as &gt;
        ([section("😀" * 1501)], "/blocks/0/text"),  # two UTF-16 units each
        ([section("")], "/blocks/0/text"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "/blocks/0"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "/blocks/0"),
        ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}], "fields/0"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3001}]}], "elements/0"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "/blocks/0"),
        ([section("x")] * 51, "/blocks"),
        ([section("a") | {"block_id": "b"}, section("b") | {"block_id": "b"}], "/blocks/1/block_id"),
        (
            [{"type": "actions", "elements": [{"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b" * 76}}]}],
            "/blocks/0",
        ),
        ([{"type": "image", "image_url": "https://example.com/x.png", "alt_text": "a" * 2001}], "alt_text"),
        ([{"type": "no_such_block"}], "/blocks/0"),
    ],
    ids=[
        "section 3001", "escaped ampersands", "quote marks", "astral characters", "empty text",
        "header 151", "mrkdwn header", "field 2001", "context 3001", "11 context elements",
        "51 blocks", "duplicate block_id", "button 76", "alt_text 2001", "unknown type",
    ],
)  # fmt: skip
async def test_blocks_past_slacks_limits_are_refused(
    standin: SlackStandIn, client: AsyncWebClient, blocks: list[dict[str, object]], where: str
) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel=GENERAL, text="x", blocks=blocks)
    assert info.value.response["error"] == "invalid_blocks"
    assert where in info.value.response["errors"][0]
    assert standin.messages(GENERAL) == []


async def test_blocks_at_slacks_limits_are_accepted(client: AsyncWebClient) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        section("&amp;" * 600),
        section("😀" * 1500),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3000}] * 10},
        *[section("x")] * 45,
    ]
    await client.chat_postMessage(channel=GENERAL, text="x", blocks=blocks)
    view = {"type": "home", "blocks": [section("x")] * 100}
    await client.views_publish(user_id="U0ALICE", view=view)
    with pytest.raises(SlackApiError) as info:
        await client.views_publish(
            user_id="U0ALICE", view={"type": "home", "blocks": [section("x")] * 101}
        )
    assert info.value.response["error"] == "invalid_blocks"


async def test_an_image_from_a_slack_file_must_be_shared_where_the_viewer_sees_it(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    def home(file_id: str) -> dict[str, object]:
        image = {"type": "image", "slack_file": {"id": file_id}, "alt_text": "chart"}
        return {"type": "home", "blocks": [image]}

    unshared = await client.files_upload_v2(content=PNG, filename="chart.png")
    bob_dm = (await client.conversations_open(users="U0BOB"))["channel"]["id"]
    in_dm = await client.files_upload_v2(content=PNG, filename="chart.png", channel=bob_dm)
    # Until Slack has shared it (a moment after the upload), it cannot be shown.
    early = client.views_publish(user_id="U0BOB", view=home(in_dm["file"]["id"]))
    assert await api_error(early) == "invalid_blocks"
    await standin.wait_for(lambda: standin.messages(bob_dm))

    await client.views_publish(user_id="U0BOB", view=home(in_dm["file"]["id"]))
    for user, file_id in (("U0BOB", unshared["file"]["id"]), ("U0ALICE", in_dm["file"]["id"])):
        refused = client.views_publish(user_id=user, view=home(file_id))
        assert await api_error(refused) == "invalid_blocks"
    text = standin.host_file(b"notes", name="notes.txt", mimetype="text/plain")
    standin.add_message(GENERAL, "notes", files=[text])
    assert await api_error(client.views_publish(user_id="U0BOB", view=home(text["id"]))) == (
        "invalid_blocks"
    )
    photo = standin.host_file(PNG, name="cat.png", mimetype="image/png")
    standin.add_message(GENERAL, "a cat", files=[photo])
    by_url = {"type": "image", "slack_file": {"url": photo["url_private"]}, "alt_text": "cat"}
    await client.chat_postMessage(channel=GENERAL, text="cat", blocks=[by_url])
    assert [v.user_id for v in standin.views] == ["U0BOB"]


async def test_a_deleted_file_leaves_a_tombstone(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    done = await client.files_upload_v2(content=PNG, filename="x.png", channel=GENERAL)
    await standin.wait_for(lambda: standin.messages(GENERAL))
    await client.files_delete(file=done["file"]["id"])
    assert standin.messages(GENERAL)[0]["files"] == [
        {"id": done["file"]["id"], "mode": "tombstone"}
    ]
    assert await api_error(client.files_info(file=done["file"]["id"])) == "file_not_found"
    theirs = standin.host_file(PNG, name="theirs.png", mimetype="image/png")
    assert await api_error(client.files_delete(file=theirs["id"])) == "cant_delete_file"


async def test_a_server_error_may_follow_a_call_that_landed(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    standin.server_error("chat.postMessage", landed=True)
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel=GENERAL, text="maybe")
    assert info.value.response.status_code == 500
    assert [m["text"] for m in standin.messages(GENERAL)] == ["maybe"]


async def test_a_response_url_takes_five_answers_within_thirty_minutes(
    standin: SlackStandIn,
) -> None:
    body = {"text": "hi", "response_type": "ephemeral"}
    many, late = standin.response_url(), standin.response_url()
    async with aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(6):
            async with session.post(many, json=body) as res:
                statuses.append((res.status, await res.text()))
        standin.advance(29 * 60)
        async with session.post(late, json=body) as res:
            assert res.status == 200
        standin.advance(2 * 60)
        async with session.post(late, json=body) as res:
            assert (res.status, await res.text()) == (404, "expired_url")
    assert statuses == [(200, "ok")] * 5 + [(404, "used_url")]


async def test_a_custom_step_run_ends_once_and_only_with_its_own_workflow_token(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    step = {"output_parameters": [{"name": "permalink", "type": "string", "is_required": True}]}
    event = standin.function_executed("generate_image", {"prompt": "a kite"}, step, "A0APP")
    execution, token = event["function_execution_id"], event["bot_access_token"]
    assert token.startswith("xwfp-") and event["function"]["callback_id"] == "generate_image"
    workflow = AsyncWebClient(token=token, base_url=standin.api_url)

    # The app's bot token is not the run's token.
    assert (
        await api_error(
            client.functions_completeSuccess(function_execution_id=execution, outputs={})
        )
        == "invalid_auth"
    )
    assert (
        await api_error(
            workflow.functions_completeSuccess(function_execution_id="Fx0NONE", outputs={})
        )
        == "function_execution_not_found"
    )
    for outputs in ({}, {"permalink": 3}, {"permalink": "x", "other": "y"}):
        assert (
            await api_error(
                workflow.functions_completeSuccess(function_execution_id=execution, outputs=outputs)
            )
            == "parameter_validation_failed"
        )
    await workflow.functions_completeSuccess(
        function_execution_id=execution, outputs={"permalink": "https://x"}
    )
    assert (
        await api_error(
            workflow.functions_completeError(function_execution_id=execution, error="late")
        )
        == "execution_not_in_running_state"
    )
    (run,) = standin.function_runs
    assert run.state == "completed" and run.outputs == {"permalink": "https://x"}
