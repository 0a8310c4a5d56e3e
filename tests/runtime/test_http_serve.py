"""The shared uvicorn start-up used by `anima runtime serve` and `anima log serve`."""

from __future__ import annotations

import asyncio
import socket

from anima_runtime.http_serve import bind


async def test_accepted_connections_have_tcp_nodelay_set() -> None:
    # Regression: a listening socket made without IPPROTO_TCP left Nagle on for every
    # connection asyncio accepted on it, and each HTTP response waited ~40 ms for a
    # delayed ACK. uvicorn serves through asyncio's accept path, as here.
    with bind("127.0.0.1", 0) as listener:
        nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            nodelay.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
            assert await asyncio.wait_for(nodelay, 10) == 1
            writer.close()
