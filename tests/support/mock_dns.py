#!/usr/bin/env python3
"""A MOCK name server for the shell checks, for faults knotd cannot produce.
It sits in front of the test bed's knotd (UPSTREAM_ADDR port 53), over UDP
and TCP on one port chosen by the kernel (only 127.0.0.0/8 in the tests).

  --relay          (tests/milter/stale_check.sh) every answer is knotd's,
                   unchanged: a name server of the test's own that it can
                   freeze (SIGSTOP) without freezing the shared knotd.
  --slow DELAY     (tests/milter/slow_ns_check.sh) every answer is knotd's,
                   unchanged (DNSSEC still validates), held until DELAY
                   seconds after the query arrived.
  --faults RELAY_FILE
                   (tests/milter/fault_dns_check.sh) by the query name:
      *dane-ok.test.  garbage: random octets (UDP: 40 of them; TCP: a length
                      prefix and that many random octets)
      *partner.test.  truncated: UDP an empty reply with TC=1 (go to TCP); TCP
                      a length prefix promising the whole answer, then only
                      its first 20 octets, then the connection closes
      *mixed.test.    cut: knotd's real answer cut in the middle of its
                      records, without TC (UDP; TCP with the length of what
                      is sent)
      anything else   relayed to knotd unchanged
                   While RELAY_FILE exists every query is relayed unchanged
                   (the fault has gone away).

Usage: mock_dns.py (--relay | --slow DELAY | --faults RELAY_FILE) LISTEN_ADDR
UPSTREAM_ADDR PORT_FILE COUNT_FILE. Writes the port to PORT_FILE once UDP and
TCP are bound, and after every slow or faulty answer how many it has made so
far to COUNT_FILE (the test reads it to see that lookups really went through
the mock). Runs until killed.
"""
import argparse
import asyncio
import os
import socket
import struct

parser = argparse.ArgumentParser()
how = parser.add_mutually_exclusive_group(required=True)
how.add_argument("--relay", action="store_true")
how.add_argument("--slow", type=float, metavar="DELAY")
how.add_argument("--faults", metavar="RELAY_FILE")
for name in ("listen", "upstream", "port_file", "count_file"):
    parser.add_argument(name)
args = parser.parse_args()
made = 0


def qname(query):
    labels, i = [], 12
    while i < len(query) and query[i] != 0:
        n = query[i]
        labels.append(query[i + 1 : i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    return ".".join(labels) + "."


def mode(query):
    """slow, relay, garbage, truncated or cut: what this answer gets."""
    if args.relay:
        return "relay"
    if args.slow is not None:
        return "slow"
    if os.path.exists(args.faults):
        return "relay"
    name = qname(query)
    for suffix, m in (("dane-ok.test.", "garbage"), ("partner.test.", "truncated"),
                      ("mixed.test.", "cut")):
        if name == suffix or name.endswith("." + suffix):
            return m
    return "relay"


def count():
    global made
    made += 1
    with open(args.count_file + ".tmp", "w") as f:
        f.write(f"{made}\n")
    # Atomic: the test never reads a half-written number.
    os.replace(args.count_file + ".tmp", args.count_file)


async def hold(m, start):
    if m == "slow":
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, start + args.slow - loop.time()))


async def ask_upstream_udp(query):
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    try:
        await loop.sock_connect(s, (args.upstream, 53))
        await loop.sock_sendall(s, query)
        return await asyncio.wait_for(loop.sock_recv(s, 65535), 5)
    finally:
        s.close()


async def ask_upstream_tcp(query):
    r, w = await asyncio.open_connection(args.upstream, 53)
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
        start = asyncio.get_running_loop().time()
        m = mode(query)
        if m == "garbage":
            reply = os.urandom(40)
        elif m == "truncated":
            # The query's header and question, QR and TC set, no records.
            flags = struct.unpack("!H", query[2:4])[0] | 0x8000 | 0x0200
            reply = query[:2] + struct.pack("!H", flags) + query[4:]
        else:
            try:
                reply = await ask_upstream_udp(query)
            except (OSError, asyncio.TimeoutError):
                return  # like a server that does not answer
            if m == "cut":
                reply = cut(reply)
            await hold(m, start)
        self.transport.sendto(reply, addr)
        if m != "relay":
            count()


async def tcp_client(reader, writer):
    loop = asyncio.get_running_loop()
    try:
        while True:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
            query = await reader.readexactly(n)
            start = loop.time()
            m = mode(query)
            if m == "garbage":
                reply = os.urandom(60)
            else:
                reply = await ask_upstream_tcp(query)
                if m == "truncated":
                    writer.write(struct.pack("!H", len(reply)) + reply[:20])
                    await writer.drain()
                    count()
                    break  # and close, the rest never comes
                if m == "cut":
                    reply = cut(reply)
                await hold(m, start)
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
    transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=(args.listen, 0))
    port = transport.get_extra_info("sockname")[1]
    server = await asyncio.start_server(tcp_client, args.listen, port)
    with open(args.port_file, "w") as f:
        f.write(f"{port}\n")
    async with server:
        await server.serve_forever()


asyncio.run(main())
