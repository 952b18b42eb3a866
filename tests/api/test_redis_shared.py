"""Cross-worker state through the machine's real Redis (127.0.0.1:6379): the shared rate budget and the
live-page bridge. Two clients stand for two worker processes. Redis being down is a failure, never a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from didit_portal.didit.ratelimit import EndpointClass, RedisRateLimiter, budget
from didit_portal.services import notify

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def _client() -> aioredis.Redis:
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.execute_command("PING")
    except Exception as exc:
        await client.aclose()
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}); start redis-server to run "
            "the shared rate-limit and live-update tests",
            pytrace=False,
        )
    return client


@pytest.fixture
async def workers() -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
    """Two independent Redis connections, as two worker processes would have."""
    first, second = await _client(), await _client()
    yield first, second
    await first.aclose()
    await second.aclose()


async def test_two_limiters_share_one_budget(workers: tuple[aioredis.Redis, aioredis.Redis]) -> None:
    first, second = workers
    prefix = f"test:rl:{uuid.uuid4().hex}:"  # isolated from other users of this Redis
    limits = dict.fromkeys(EndpointClass, 4)
    allowed = budget(EndpointClass.GENERIC_GET, limits)
    assert allowed == 3  # 90 % of 4, rounded down
    a = RedisRateLimiter(first, limits=limits, prefix=prefix)
    b = RedisRateLimiter(second, limits=limits, prefix=prefix)
    try:
        await asyncio.wait_for(a.acquire(EndpointClass.GENERIC_GET), 10)
        await asyncio.wait_for(a.acquire(EndpointClass.GENERIC_GET), 10)
        await asyncio.wait_for(b.acquire(EndpointClass.GENERIC_GET), 10)
        # The budget is spent across both workers: a fourth call on either one waits for the 60 s window.
        for limiter in (a, b):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(limiter.acquire(EndpointClass.GENERIC_GET), 0.5)
        key = prefix + EndpointClass.GENERIC_GET.value
        assert await first.zcard(key) == allowed  # refused attempts gave their slot back
        # Another scope has its own budget.
        await asyncio.wait_for(b.acquire(EndpointClass.GENERIC_WRITE), 10)
    finally:
        keys = [prefix + scope.value for scope in EndpointClass]
        await first.delete(*keys)


async def _wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_redis_bridge_delivers_published_changes(workers: tuple[aioredis.Redis, aioredis.Redis]) -> None:
    other_worker, _ = workers
    session_id = str(uuid.uuid4())
    received: list[notify.SessionChanged] = []
    # Other users of this Redis may publish on the channel too: keep only this test's session.
    unsubscribe = notify.subscribe(lambda change: received.append(change) if change.session_id == session_id else None)
    bridge = asyncio.create_task(notify.redis_bridge(REDIS_URL))

    async def subscribed() -> bool:
        counts = dict(await other_worker.pubsub_numsub(notify.REDIS_CHANNEL))
        return notify._redis is not None and counts.get(notify.REDIS_CHANNEL.encode(), 0) >= 1

    try:
        await _wait_until(subscribed)
        # A change published by another worker reaches this worker's listeners.
        from_other = notify.SessionChanged(session_id, "Approved", "status")
        await other_worker.publish(
            notify.REDIS_CHANNEL, json.dumps({"session_id": session_id, "status": "Approved", "kind": "status"})
        )
        await _wait_until(lambda: len(received) >= 1)
        assert received == [from_other]
        # This worker's own publish goes through Redis and comes back once (not also delivered locally).
        own = notify.SessionChanged(session_id, "Declined", "decision")
        await notify.publish(own)
        await _wait_until(lambda: len(received) >= 2)
        await asyncio.sleep(0.2)  # a duplicate local delivery would have landed by now
        assert received == [from_other, own]
    finally:
        bridge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bridge
        unsubscribe()
    assert notify._redis is None  # the bridge closed its connection
