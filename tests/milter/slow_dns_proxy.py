#!/usr/bin/env python3
"""A MOCK name server for tests/milter/slow_ns_check.sh: it produces a fault
knotd cannot, a name server that answers late. It relays DNS over UDP and TCP
to the test bed's knotd, unchanged (so DNSSEC still validates), and holds each
answer until DELAY seconds after the query arrived.

Usage: slow_dns_proxy.py LISTEN_ADDR UPSTREAM_ADDR DELAY PORT_FILE COUNT_FILE

Listens on LISTEN_ADDR (UDP and TCP, same port, chosen by the kernel: only
127.0.0.0/8 in the tests), writes that port to PORT_FILE once both are bound,
and after every answer writes to COUNT_FILE how many it has answered so far
(the test reads it to see that lookups really went through the slow server).
Upstream is UPSTREAM_ADDR port 53. Runs until killed.
"""
import asyncio
import os
import socket
import struct
import sys

listen, upstream, delay, port_file, count_file = sys.argv[1:6]
delay = float(delay)
answered = 0


def count():
    global answered
    answered += 1
    with open(count_file + ".tmp", "w") as f:
        f.write(f"{answered}\n")
    # Atomic: the test never reads a half-written number.
    os.replace(count_file + ".tmp", count_file)


async def ask_upstream_udp(query):
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    try:
        await loop.sock_connect(s, (upstream, 53))
        await loop.sock_sendall(s, query)
        return await asyncio.wait_for(loop.sock_recv(s, 65535), 5)
    finally:
        s.close()


class Udp(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        asyncio.get_running_loop().create_task(self.answer(data, addr))

    async def answer(self, query, addr):
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            reply = await ask_upstream_udp(query)
        except (OSError, asyncio.TimeoutError):
            return  # like a server that does not answer
        await asyncio.sleep(max(0.0, start + delay - loop.time()))
        self.transport.sendto(reply, addr)
        count()


async def tcp_client(reader, writer):
    loop = asyncio.get_running_loop()
    try:
        while True:
            head = await reader.readexactly(2)
            query = await reader.readexactly(struct.unpack("!H", head)[0])
            start = loop.time()
            ur, uw = await asyncio.open_connection(upstream, 53)
            uw.write(head + query)
            await uw.drain()
            uhead = await ur.readexactly(2)
            reply = await ur.readexactly(struct.unpack("!H", uhead)[0])
            uw.close()
            await asyncio.sleep(max(0.0, start + delay - loop.time()))
            writer.write(uhead + reply)
            await writer.drain()
            count()
    except (asyncio.IncompleteReadError, OSError):
        pass
    finally:
        writer.close()


async def main():
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=(listen, 0))
    port = transport.get_extra_info("sockname")[1]
    server = await asyncio.start_server(tcp_client, listen, port)
    with open(port_file, "w") as f:
        f.write(f"{port}\n")
    async with server:
        await server.serve_forever()


asyncio.run(main())
