"""A load generator for `POST /telegram`, run as its own process (no imports of ours).

    python bench/support/loadgen.py open URL SECRET BODIES OUT --rate 500 [--conns 64]
    python bench/support/loadgen.py saturate URL SECRET BODIES OUT --seconds 5 [--conns 32]

BODIES holds one update JSON per line (sent byte for byte). Raw HTTP/1.1 over keep-alive
asyncio connections: a few tens of microseconds of client CPU per request, so the server,
not the generator, is what gets measured.

- `open`: open loop at a fixed rate. Body i is due at t0 + i/rate whatever the server does
  (no coordinated omission: a slow answer does not delay later sends, it only takes another
  connection). OUT gets one JSON object: per update_id the due and sent wall-clock times
  (`time.time()`, the clock the ledger stamps with) and the status, plus the worst send lag.
- `saturate`: closed loop, `conns` connections each sending the next body as soon as the
  previous answer arrived, for `seconds`. OUT gets answers/s and the status counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from urllib.parse import urlparse


class Conn:
    """One keep-alive HTTP/1.1 connection that reconnects when the server closes it."""

    def __init__(self, host: str, port: int, head: bytes) -> None:
        self.host, self.port, self.head = host, port, head
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        for attempt in range(3):
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                assert self.reader is not None
                self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed")
                status = int(status_line.split()[1])
                length, close = 0, False
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value.strip())
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                if length:
                    await self.reader.readexactly(length)
                if close:
                    self.close()
                return status
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                self.close()
                if attempt == 2:
                    return 599
        return 599

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def request_head(url: str, secret: str) -> tuple[str, int, bytes]:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    head = (
        f"POST {parsed.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: {secret}\r\n"
        "Content-Length: "
    ).encode()
    return host, port, head


async def open_loop(url: str, secret: str, bodies: list[bytes], rate: float, conns: int) -> dict:
    host, port, head = request_head(url, secret)
    ids = [json.loads(b)["update_id"] for b in bodies]
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(conns):
        pool.put_nowait(Conn(host, port, head))
    due_at = [0.0] * len(bodies)
    sent_at = [0.0] * len(bodies)
    done_at = [0.0] * len(bodies)
    status = [0] * len(bodies)
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        conn = await pool.get()
        sent_at[i] = time.time()
        status[i] = await conn.post(bodies[i])
        done_at[i] = time.time()
        pool.put_nowait(conn)

    loop = asyncio.get_running_loop()
    t0_mono, t0_wall = loop.time() + 0.2, time.time() + 0.2
    for i in range(len(bodies)):
        due = t0_mono + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        due_at[i] = t0_wall + i / rate
        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*list(tasks))
    lag = [s - d for s, d in zip(sent_at, due_at, strict=True)]
    return {
        "mode": "open",
        "rate": rate,
        "ids": ids,
        "due": due_at,
        "sent": sent_at,
        "done": done_at,
        "status": status,
        "max_send_lag_s": max(lag),
        "p99_send_lag_s": sorted(lag)[int(0.99 * (len(lag) - 1))],
    }


async def saturate(url: str, secret: str, bodies: list[bytes], seconds: float, conns: int) -> dict:
    host, port, head = request_head(url, secret)
    counts: Counter[int] = Counter()
    latencies: list[float] = []
    next_index = 0
    warmup, stop_at = 1.0, 0.0
    start = time.perf_counter()
    measured_from = start + warmup
    stop_at = measured_from + seconds

    async def client() -> None:
        nonlocal next_index
        conn = Conn(host, port, head)
        while True:
            now = time.perf_counter()
            if now >= stop_at or next_index >= len(bodies):
                conn.close()
                return
            body = bodies[next_index]
            next_index += 1
            code = await conn.post(body)
            end = time.perf_counter()
            if now >= measured_from and end <= stop_at:
                counts[code] += 1
                latencies.append(end - now)

    await asyncio.gather(*(client() for _ in range(conns)))
    latencies.sort()
    total = sum(counts.values())
    return {
        "mode": "saturate",
        "seconds": seconds,
        "answers": total,
        "per_second": total / seconds,
        "status": {str(k): v for k, v in counts.items()},
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else None,
        "exhausted": next_index >= len(bodies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["open", "saturate"])
    parser.add_argument("url")
    parser.add_argument("secret")
    parser.add_argument("bodies")
    parser.add_argument("out")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--conns", type=int, default=32)
    args = parser.parse_args()
    with open(args.bodies, "rb") as f:
        bodies = [line.rstrip(b"\n") for line in f if line.strip()]
    if args.mode == "open":
        result = asyncio.run(open_loop(args.url, args.secret, bodies, args.rate, args.conns))
    else:
        result = asyncio.run(saturate(args.url, args.secret, bodies, args.seconds, args.conns))
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
