"""The access log: one line per request, written off the request path.

The edge hands each finished exchange to `AccessLog.record`, which builds the line with one
`orjson` dump (JSON, the production format) or one f-string (text, for development), the same
fields and shape as the app's other log lines, and appends it to a bounded queue. A writer
thread writes what has queued every `FLUSH_SECONDS`, in as few writes as it can: no logging
machinery, lock or system call per request, which cost about a fifth of the API's throughput
on a `get` (docs/performance.md).

- When the sink is slower than the traffic, the queue stops at `ACCESS_LOG_BUFFER_LINES`:
  requests keep flowing, and a line that finds the queue full is dropped and counted
  (`access_log_dropped_lines_total`), never waited for.
- `close()`, at shutdown, after the last request, writes every line still queued.
- A write holds whole lines and at most `PIPE_BUF` bytes (or one longer line), so the lines
  of several workers sharing one stderr pipe never interleave mid-line.
"""

import collections
import select
import sys
import threading
import time
from typing import BinaryIO

import orjson

from backend.metrics import Metrics

FLUSH_SECONDS = 0.1
LOGGER_NAME = "backend.access"
_ATOMIC_WRITE_BYTES = select.PIPE_BUF


class AccessLog:
    def __init__(
        self,
        sink: BinaryIO | None,
        *,
        json: bool,
        capacity: int,
        metrics: Metrics | None,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._sink = sink
        self._flush_seconds = flush_seconds
        self._json = json
        self._capacity = capacity
        self._metrics = metrics
        self._queue: collections.deque[bytes] = collections.deque()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._second = -1
        self._second_prefix = ""

    def start(self) -> None:
        """Start the writer thread; lines recorded before it starts wait in the queue."""
        if self._sink is None:
            self._sink = sys.stderr.buffer
        self._writer = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._writer.start()

    def close(self) -> None:
        """Write every queued line and stop the writer."""
        self._stop.set()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        self._write_queued()

    def record(
        self,
        request_id: str,
        method: str,
        route: str,
        status: int,
        duration_ms: float,
        user_id: str | None,
    ) -> None:
        if len(self._queue) >= self._capacity:
            if self._metrics is not None:
                self._metrics.access_log_dropped.inc()
            return
        now = time.time()
        message = f"{method} {route} {status} {duration_ms:.1f}ms user={user_id or '-'}"
        if self._json:
            entry = {
                "time": self._timestamp(now, "%Y-%m-%dT%H:%M:%S.", "Z"),
                "level": "INFO",
                "logger": LOGGER_NAME,
                "message": message,
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "request_id": request_id,
            }
            if user_id is not None:
                entry["user_id"] = user_id
            line = orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)
        else:
            # Local time, as `logging`'s text lines beside it have.
            stamp = self._timestamp(now, "%Y-%m-%d %H:%M:%S,", "")
            line = f"{stamp} INFO {LOGGER_NAME}: {message} [request {request_id}]\n".encode()
        self._queue.append(line)

    def _timestamp(self, now: float, prefix_format: str, suffix: str) -> str:
        """`prefix_format` of the current second (formatted once a second) plus milliseconds."""
        second = int(now)
        if second != self._second:
            self._second = second
            as_time = time.gmtime if self._json else time.localtime
            self._second_prefix = time.strftime(prefix_format, as_time(second))
        return f"{self._second_prefix}{int((now - second) * 1000):03d}{suffix}"

    def _run(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self._write_queued()

    def _write_queued(self) -> None:
        sink = self._sink
        if sink is None:
            return
        chunk: list[bytes] = []
        size = 0
        while self._queue:
            line = self._queue.popleft()
            if chunk and size + len(line) > _ATOMIC_WRITE_BYTES:
                self._write(sink, chunk)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write(sink, chunk)

    def _write(self, sink: BinaryIO, lines: list[bytes]) -> None:
        try:
            sink.write(b"".join(lines))
            sink.flush()
        except (OSError, ValueError):
            # The sink is gone (closed stderr): the lines cannot be written anywhere.
            if self._metrics is not None:
                self._metrics.access_log_dropped.inc(len(lines))
