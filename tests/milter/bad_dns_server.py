#!/usr/bin/env python3
"""A MOCK name server for tests/milter/fault_dns_check.sh: it produces faults
knotd cannot, answers that are garbage or truncated. Over UDP and TCP (same
port, chosen by the kernel), by the query name:

  *dane-ok.test.   garbage: random octets (UDP: 40 of them; TCP: a length
                   prefix and that many random octets)
  *partner.test.   truncated: UDP an empty reply with TC=1 (go to TCP); TCP a
                   length prefix promising the whole answer, then only its
                   first 20 octets, then the connection closes
  *mixed.test.     cut: knotd's real answer cut in the middle of its records,
                   without TC (UDP; TCP with the length of what is sent)
  anything else    relayed to knotd unchanged

While RELAY_FILE exists every query is relayed to knotd unchanged (the fault
has gone away). Usage: bad_dns_server.py LISTEN_ADDR UPSTREAM_ADDR PORT_FILE
RELAY_FILE COUNT_FILE. Writes the port to PORT_FILE once UDP and TCP are
bound, and after every faulty answer the number of them to COUNT_FILE.
Runs until killed.
"""
import asyncio
import os
import socket
import struct
import sys

listen, upstream, port_file, relay_file, count_file = sys.argv[1:6]
faulty = 0


def qname(query):
    labels, i = [], 12
    while i < len(query) and query[i] != 0:
        n = query[i]
        labels.append(query[i + 1 : i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    return ".".join(labels) + "."


def mode(query):
    if os.path.exists(relay_file):
        return "relay"
    name = qname(query)
    for suffix, m in (("dane-ok.test.", "garbage"), ("partner.test.", "truncated"),
                      ("mixed.test.", "cut")):
        if name == suffix or name.endswith("." + suffix):
            return m
    return "relay"


def count():
    global faulty
    faulty += 1
    with open(count_file + ".tmp", "w") as f:
        f.write(f"{faulty}\n")
    os.replace(count_file + ".tmp", count_file)


async def ask_upstream(query):
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    try:
        await loop.sock_connect(s, (upstream, 53))
        await loop.sock_sendall(s, query)
        return await asyncio.wait_for(loop.sock_recv(s, 65535), 5)
    finally:
        s.close()


async def ask_upstream_tcp(query):
    r, w = await asyncio.open_connection(upstream, 53)
    w.write(struct.pack("!H", len(query)) + query)
    await w.drain()
    n = struct.unpack("!H", await r.readexactly(2))[0]
    reply = await r.readexactly(n)
    w.close()
    return reply


def cut(reply):
    # Past the header and the question, half-way into the records.
    return reply[: max(12, (len(reply) + 12) // 2)]


class Udp(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        asyncio.get_running_loop().create_task(self.answer(data, addr))

    async def answer(self, query, addr):
        m = mode(query)
        if m == "garbage":
            self.transport.sendto(os.urandom(40), addr)
        elif m == "truncated":
            # The query's header and question, QR and TC set, no records.
            flags = struct.unpack("!H", query[2:4])[0] | 0x8000 | 0x0200
            self.transport.sendto(query[:2] + struct.pack("!H", flags) + query[4:], addr)
        else:
            try:
                reply = await ask_upstream(query)
            except (OSError, asyncio.TimeoutError):
                return
            self.transport.sendto(cut(reply) if m == "cut" else reply, addr)
        if m != "relay":
            count()


async def tcp_client(reader, writer):
    try:
        while True:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
            query = await reader.readexactly(n)
            m = mode(query)
            if m == "garbage":
                junk = os.urandom(60)
                writer.write(struct.pack("!H", len(junk)) + junk)
            else:
                reply = await ask_upstream_tcp(query)
                if m == "truncated":
                    writer.write(struct.pack("!H", len(reply)) + reply[:20])
                    await writer.drain()
                    count()
                    break  # and close, the rest never comes
                if m == "cut":
                    reply = cut(reply)
                writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
            if m != "relay":
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
