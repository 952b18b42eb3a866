"""Open-loop load at a fixed rate, in its own process: ack latency percentiles of pre-signed deliveries.

Raw asyncio streams over a pool of keep-alive HTTP/1.1 connections (an httpx client could not itself reach the
rates measured here). Latency is measured from each request's *scheduled* send time, so a slow server cannot
hide queueing by delaying the generator (no coordinated omission).

Usage: python bench/openloop.py URL BODIES_FILE RATE SECONDS [CONNECTIONS] → JSON {sent, ok, p50_ms, p99_ms}
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ is sys.path[0] when run as a script; bench/queue.py would shadow the stdlib ``queue`` asyncio needs.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import asyncio  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> int:
    writer.write(head + body)
    await writer.drain()
    status_and_headers = await reader.readuntil(b"\r\n\r\n")
    lines = status_and_headers.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def main(url: str, lines: list[list[str]], rate: float, seconds: float, connections: int) -> dict[str, float]:
    """Send ``rate`` requests/s for ``seconds`` and return the latency percentiles."""
    parts = urlsplit(url)
    total = min(len(lines), int(rate * seconds))
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection(parts.hostname, parts.port))
    latencies: list[float] = []
    ok = 0

    async def one(n: int, scheduled: float) -> None:
        nonlocal ok
        ts, v2, raw, simple, body = lines[n]
        data = body.encode("ascii")
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nX-Timestamp: {ts}\r\nX-Signature-V2: {v2}\r\n"
            f"X-Signature: {raw}\r\nX-Signature-Simple: {simple}\r\n\r\n"
        ).encode("ascii")
        conn = await idle.get()
        try:
            status = await _request(*conn, head, data)
        finally:
            idle.put_nowait(conn)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        ok += status == 200

    tasks = []
    start = time.perf_counter()
    for n in range(total):
        scheduled = start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, scheduled)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait()[1].close()
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    return {"sent": total, "ok": ok, "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


if __name__ == "__main__":
    conns = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    # Read before the loop starts, so the blocking read cannot skew a measurement.
    bodies = [line.split("\t", 4) for line in Path(sys.argv[2]).read_text(encoding="ascii").splitlines()]
    result = asyncio.run(main(sys.argv[1], bodies, float(sys.argv[3]), float(sys.argv[4]), conns))
    print(json.dumps(result))
