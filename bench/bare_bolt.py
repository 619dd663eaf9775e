"""The baseline for ack latency: a Bolt app whose /image listener only acks, served by Bolt's
own aiohttp server. Run: python bench/bare_bolt.py PORT SLACK_API_URL SIGNING_SECRET"""

from __future__ import annotations

import sys

from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient


def main() -> None:
    port, api_url, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    client = AsyncWebClient(token="xoxb-test-token", base_url=api_url)
    app = AsyncApp(client=client, signing_secret=secret)

    async def image(ack: AsyncAck) -> None:
        await ack()

    app.command("/image")(image)
    AsyncSlackAppServer(port=port, path="/slack/events", app=app, host="127.0.0.1").start()


if __name__ == "__main__":
    main()
