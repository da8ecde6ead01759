"""Rate-limit counters: fixed windows per key, in this process or shared through Redis.

A window opens with a key's first request and lasts `window` seconds; its count decides. In
Redis the increment, the window's expiry and the read of what is left happen in one Lua script,
so concurrent instances cannot both take the last request of a quota. When Redis cannot be
reached the limiter answers None ("unknown") and the caller serves the request (fail open);
after a failure Redis is left alone for a moment so an outage costs no latency per request.
"""

import logging
import time
from typing import NamedTuple, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from backend.config import Settings

logger = logging.getLogger("backend.rate_limit")

REDIS_RETRY_AFTER_FAILURE_SECONDS = 1.0

# INCR the key, give it the window's expiry if it has none, return [count, milliseconds left].
_FIXED_WINDOW_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class Policy:
    """A quota: `quota` requests per `window` seconds, with the IETF httpapi-ratelimit-headers
    it is named in, built once (they go on every response)."""

    __slots__ = ("name", "policy_header", "quota", "state_format", "window")

    def __init__(self, name: str, quota: int, window: int) -> None:
        self.name = name
        self.quota = quota
        self.window = window
        self.policy_header = (b"ratelimit-policy", f'"{name}";q={quota};w={window}'.encode())
        # The `RateLimit` value, given what is left and the seconds until the window resets.
        self.state_format = f'"{name}";r=%d;t=%d'.encode()


class Decision(NamedTuple):
    """One request's verdict (a tuple: made on every request, it must be cheap to build)."""

    allowed: bool
    remaining: int
    reset_after: int


def decide(policy: Policy, count: int, seconds_left: float) -> Decision:
    reset_after = max(1, int(seconds_left + 0.999))
    return Decision(count <= policy.quota, max(policy.quota - count, 0), reset_after)


class RateLimiter(Protocol):
    async def hit(self, key: str, policy: Policy) -> Decision | None: ...

    async def close(self) -> None: ...


class MemoryRateLimiter:
    """Counters in this process: right for one instance; each instance counts on its own."""

    def __init__(self) -> None:
        self._windows: dict[str, list[float]] = {}
        self._next_sweep = 0.0

    async def hit(self, key: str, policy: Policy) -> Decision:
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or window[1] <= now:
            if now >= self._next_sweep:
                self._sweep(now, policy.window)
            window = [0, now + policy.window]
            self._windows[key] = window
        window[0] += 1
        return decide(policy, int(window[0]), window[1] - now)

    async def close(self) -> None:
        self._windows.clear()

    def _sweep(self, now: float, window: int) -> None:
        """Forget closed windows, at most once per window length, so memory stays bounded."""
        self._windows = {key: value for key, value in self._windows.items() if value[1] > now}
        self._next_sweep = now + window


class RedisRateLimiter:
    """Counters in Redis, shared by every instance; fails open when Redis is unreachable."""

    def __init__(self, url: str, key_prefix: str, timeout: float) -> None:
        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._redis.register_script(_FIXED_WINDOW_SCRIPT)
        self._prefix = key_prefix
        self._skip_until = 0.0
        self._down = False

    async def hit(self, key: str, policy: Policy) -> Decision | None:
        now = time.monotonic()
        if now < self._skip_until:
            return None
        try:
            count, milliseconds_left = await self._script(
                keys=[f"{self._prefix}{key}"], args=[policy.window * 1000]
            )
        except (RedisError, OSError) as error:
            self._skip_until = now + REDIS_RETRY_AFTER_FAILURE_SECONDS
            if not self._down:
                self._down = True
                logger.warning(
                    "Redis unreachable (%s): serving requests without rate limits until it "
                    "answers again",
                    type(error).__name__,
                )
            return None
        if self._down:
            self._down = False
            logger.warning("Redis answers again: rate limits are enforced")
        return decide(policy, int(count), int(milliseconds_left) / 1000)

    async def close(self) -> None:
        await self._redis.aclose()


def build_rate_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url is None:
        return MemoryRateLimiter()
    return RedisRateLimiter(
        settings.redis_url.get_secret_value(),
        settings.redis_key_prefix,
        settings.redis_timeout_seconds,
    )
