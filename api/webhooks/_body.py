"""Reading a request body up to a size limit, refusing early rather than buffering too much."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLargeError(Exception):
    """The body is larger than the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The raw body, read chunk by chunk; BodyTooLargeError as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    # A declared length over the limit is refused before a byte is read.
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        # Chunked uploads declare nothing, and a declared length may lie: count what arrives.
        if size > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    return b"".join(chunks)
