"""A minimal DNS client: one A query over UDP, for CoreDNS's readiness probe and the tests.

The platform has no resolver library, and asking the machine's resolver would send the
question off the machine; this asks the node's CoreDNS directly, and nothing else.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct


async def resolve_a(server: str, name: str, *, port: int = 53, timeout: float = 2.0) -> list[str]:
    """The A records `server` answers for `name`; [] for an empty or failed answer."""
    ident = secrets.randbelow(1 << 16)
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (server, port))
        await loop.sock_sendall(sock, query(ident, name))
        while True:
            response = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)
            if len(response) >= 12 and struct.unpack(">H", response[:2])[0] == ident:
                return a_records(response)


def query(ident: int, name: str) -> bytes:
    header = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)  # recursion desired, 1 question
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return header + labels + b"\0" + struct.pack(">HH", 1, 1)  # type A, class IN


def a_records(response: bytes) -> list[str]:
    _, flags, questions, answers, _, _ = struct.unpack(">HHHHHH", response[:12])
    if flags & 0x000F:  # any rcode but NOERROR
        return []
    offset = 12
    for _ in range(questions):
        offset = _skip_name(response, offset) + 4
    found = []
    for _ in range(answers):
        offset = _skip_name(response, offset)
        record_type, _, _, length = struct.unpack(">HHIH", response[offset : offset + 10])
        offset += 10
        if record_type == 1 and length == 4:
            found.append(socket.inet_ntoa(response[offset : offset + 4]))
        offset += length
    return found


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:  # a compression pointer ends the name
            return offset + 2
        offset += 1 + length
