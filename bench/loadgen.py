"""Bounded HTTP/1.1 load generator on loopback, run in its own process.

``N`` keep-alive connections each send one request, read the whole response, and send the
next (closed loop), for a duration or until a list of request bodies is used up. It records
the status of every response and, when asked, every latency. Being a separate process, it
does not share a core's GIL with the server it measures.

Example:
    >>> spec = LoadSpec(url="http://127.0.0.1:8001/summarize", seconds=5.0)
    >>> result = run_load(spec)  # doctest: +SKIP
    >>> result.requests_per_second  # doctest: +SKIP
    4210.5
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["LoadResult", "LoadSpec", "run_load"]


@dataclass
class LoadSpec:
    """What to send: one request repeated for ``seconds`` (or ``max_requests`` times), or
    each body of ``bodies_file`` once."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    bodies_file: str | None = None  # JSON list of bodies, each sent exactly once
    connections: int = 16
    seconds: float = 5.0
    warmup_seconds: float = 0.5
    record_latency: bool = False
    max_requests: int | None = None  # stop after this many (counted) requests


@dataclass
class LoadResult:
    requests: int
    elapsed_s: float
    statuses: dict[str, int]
    transport_errors: int
    latencies_ms: list[float]

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def count(self, predicate: str) -> int:
        """Responses whose status starts with ``predicate`` (``"2"``, ``"5"``, ``"202"``)."""
        return sum(n for status, n in self.statuses.items() if status.startswith(predicate))


def _encode(spec: LoadSpec, host: str, path: str, body: str | None) -> bytes:
    lines = [f"{spec.method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in spec.headers.items()]
    payload = (body or "").encode()
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked responses are not supported by the load generator")
    if length:
        await reader.readexactly(length)
    return status


class _Run:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        parts = urlsplit(spec.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.statuses: dict[str, int] = {}
        self.errors = 0
        self.latencies: list[float] = []
        self.bodies: list[str] | None = None
        if spec.bodies_file:
            self.bodies = json.loads(Path(spec.bodies_file).read_text())
            self.bodies.reverse()  # pop() from the end keeps the file's order
        self.fixed = _encode(spec, self.host, self.path, spec.body)
        self.budget = spec.max_requests

    def _next(self) -> bytes | None:
        if self.budget is not None:
            if self.budget <= 0:
                return None
            self.budget -= 1
        if self.bodies is None:
            return self.fixed
        if not self.bodies:
            return None
        return _encode(self.spec, self.host, self.path, self.bodies.pop())

    async def connection(self, stop_at: float, record: bool) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        clock = time.perf_counter
        try:
            while clock() < stop_at:
                request = self._next()
                if request is None:
                    return
                started = clock()
                try:
                    writer.write(request)
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError):
                    self.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    continue
                if record:
                    self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
                    if self.spec.record_latency:
                        self.latencies.append((clock() - started) * 1000)
        finally:
            writer.close()

    async def run(self) -> LoadResult:
        if self.bodies is None and self.spec.warmup_seconds > 0:
            budget, self.budget = self.budget, None
            warm_until = time.perf_counter() + self.spec.warmup_seconds
            await asyncio.gather(
                *[
                    self.connection(warm_until, record=False)
                    for _ in range(min(4, self.spec.connections))
                ]
            )
            self.budget = budget
        started = time.perf_counter()
        bounded = self.bodies is not None or self.budget is not None
        stop_at = float("inf") if bounded else started + self.spec.seconds
        await asyncio.gather(
            *[self.connection(stop_at, record=True) for _ in range(self.spec.connections)]
        )
        elapsed = time.perf_counter() - started
        return LoadResult(
            requests=sum(self.statuses.values()),
            elapsed_s=elapsed,
            statuses=self.statuses,
            transport_errors=self.errors,
            latencies_ms=self.latencies,
        )


def run_load(spec: LoadSpec, timeout_s: float | None = None) -> LoadResult:
    """Run the load in a child process (``python -m bench.loadgen``) and return its result."""
    limit = timeout_s or (spec.seconds + spec.warmup_seconds + 120.0)
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", json.dumps(asdict(spec))],
        capture_output=True,
        text=True,
        timeout=limit,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    return LoadResult(**json.loads(done.stdout))


def main() -> None:
    spec = LoadSpec(**json.loads(sys.argv[1]))
    result = asyncio.run(_Run(spec).run())
    sys.stdout.write(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
