"""The Bot API transport: CPU per call of bot.transport.AiohttpRequest against PTB's HTTPXRequest.

Both go through PTB's own `BaseRequest.post` (the path every Bot method takes: parameters to
a body, the call, the JSON answer parsed) to one local HTTP/1.1 server in another process
that answers every request at once with a `sendMessage`-sized result, on kept connections.
Calls are made one at a time (as a handler does), in alternating rounds; the figure is the
CPU time of this process per call, the median of the rounds, and the ratio of the two.

    python bench/bench_transport.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import InlineKeyboardButton  # noqa: E402
from telegram import InlineKeyboardMarkup  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402
from telegram.request import RequestData  # noqa: E402
from telegram.request._requestparameter import RequestParameter  # noqa: E402

from bot.transport import AiohttpRequest  # noqa: E402

SERVER = r"""
import asyncio, sys
BODY = (b'{"ok":true,"result":{"message_id":77,"date":1700000000,"chat":{"id":5001,'
        b'"type":"private","first_name":"x"},"text":"' + b'x' * 400 + b'"}}')
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
          % len(BODY)) + BODY
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            size = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    size = int(line[15:])
            if size:
                await reader.readexactly(size)
            writer.write(ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def request_data() -> RequestData:
    """The parameters of a card redraw: text and a keyboard of six buttons."""
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(f"button {i}", callback_data="t" * 16)] for i in range(6)]
    )
    params = {"chat_id": 5001, "message_id": 77, "text": "x" * 400, "reply_markup": markup}
    return RequestData([RequestParameter.from_input(k, v) for k, v in params.items()])


async def per_call(request: object, url: str, calls: int) -> float:
    post = request.post  # type: ignore[attr-defined]
    for _ in range(20):  # warm: connection made, code paths loaded
        await post(url, request_data())
    started = time.process_time()
    for _ in range(calls):
        await post(url, request_data())
    return (time.process_time() - started) / calls


async def run(url: str, calls: int, rounds: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"httpx": [], "aiohttp": []}
    for r in range(rounds):
        order = ("httpx", "aiohttp") if r % 2 == 0 else ("aiohttp", "httpx")
        for name in order:
            request = HTTPXRequest() if name == "httpx" else AiohttpRequest()
            await request.initialize()
            try:
                found[name].append(await per_call(request, url, calls))
            finally:
                await request.shutdown()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/bot123:abc/editMessageText"
        found = asyncio.run(run(url, args.calls, args.rounds))
    finally:
        server.terminate()
        server.wait()
    httpx_us = statistics.median(found["httpx"]) * 1e6
    aio_us = statistics.median(found["aiohttp"]) * 1e6
    rounds = ", ".join(
        f"{a / h:.2f}" for h, a in zip(found["httpx"], found["aiohttp"], strict=True)
    )  # fmt: skip
    print(f"Bot API call through PTB's BaseRequest.post, CPU of this process per call, "
          f"median of {args.rounds} alternating rounds x {args.calls:,} calls:")  # fmt: skip
    print(f"  PTB's HTTPXRequest (baseline) : {httpx_us:6.0f} us")
    print(f"  bot.transport.AiohttpRequest  : {aio_us:6.0f} us = {aio_us / httpx_us:.2f} of the "
          f"baseline (rounds {rounds})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
