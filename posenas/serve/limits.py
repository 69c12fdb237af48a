"""Request-size limits enforced while the body streams in, so an oversized upload is refused (413) without
the server ever holding it: by Content-Length up front, and by counting for chunked bodies."""

from __future__ import annotations

import json
from typing import Any, Callable


class BodyTooLarge(Exception):
    """Raised from `receive` when the streamed body passes the limit; the app answers 413."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(limit)


def _too_large_body(limit: int) -> bytes:
    return json.dumps({"error": f"body: request exceeds the server's limit of {limit} bytes", "field": "body",
                       "clip": None, "status": 413, "errors": []}).encode()


class BodyLimitMiddleware:
    """ASGI middleware: `default` bytes per request, or the limit of the longest matching path prefix."""

    def __init__(self, app: Callable, default: int, per_prefix: dict[str, int] | None = None):
        self.app = app
        self.default = default
        self.per_prefix = sorted((per_prefix or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.per_prefix:
            if path.startswith(prefix):
                return limit
        return self.default

    async def _reply_413(self, send: Callable, limit: int) -> None:
        body = _too_large_body(limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    too_big = int(v) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reply_413(send, limit)
                    return
        seen = 0
        started = False

        async def counted_receive() -> dict[str, Any]:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return msg

        async def tracked_send(msg: dict[str, Any]) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await self._reply_413(send, limit)
