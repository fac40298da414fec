"""One socket write per response: uvicorn's httptools protocol with its writes coalesced per loop tick.

uvicorn writes a response's status line and headers when the app sends `http.response.start`, and the
body in a second `transport.write` when it sends `http.response.body`: two `send()` system calls, and
on loopback two wake-ups of the client, which then reads the response in two parts. Under 16 clients
on 2 cores, py-spy put half of the event loop's samples on the header write alone (card and message
list alike: the kernel's loopback delivery and the client's wake-up happen inside that call, and on
a busy machine the server is descheduled there). Here a connection's transport keeps what is written
during one turn of the event loop and hands it to the socket as one write at the end of that turn
(`loop.call_soon`): the headers and body of a plain response, sent back to back, leave together.
A streamed response (chat's server-sent events) still goes out chunk by chunk, one tick each.
Measured in docs/decisions/001-message-list.md.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport whose `write`s within one event-loop turn reach the real transport as one write."""

    __slots__ = ("_transport", "_loop", "_chunks")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._chunks:
            self._loop.call_soon(self.flush)
        self._chunks.append(data)

    def flush(self) -> None:
        chunks = self._chunks
        if not chunks:
            return
        self._chunks = []
        if not self._transport.is_closing():
            self._transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpTools(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol over a `CoalescingTransport` (`uvicorn.Config(http=...)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
