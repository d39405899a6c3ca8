#!/usr/bin/env python3
"""A tiny SMTP sink for the test bed: accepts every message and keeps it.

Usage: smtp_sink.py --listen ADDR:PORT --dir DIR [--pidfile FILE] [--name NAME]

Each message is written, exactly as received after dot-unstuffing (headers
and body, CRLF line ends), to a new file DIR/msg-<n>.eml; the envelope goes
next to it in DIR/msg-<n>.env ("MAIL FROM:<...>" then one "RCPT TO:<...>"
line per recipient).  Both are written under a temporary name and renamed,
so a reader polling DIR never sees half a message.  The pid file is written
once the socket listens and removed on SIGTERM/SIGINT.

Standard library only (asyncio); speaks EHLO/HELO/MAIL/RCPT/DATA/RSET/NOOP/
QUIT/VRFY/HELP, no STARTTLS, no AUTH.  Bounded: lines over 4 KiB get 500,
messages over --max-size bytes get 552 (and are not kept).
"""

import argparse
import asyncio
import itertools
import os

from server_life import pid_file, run, stop_event

MAX_LINE = 4096


class Sink:
    def __init__(self, directory, name, max_size):
        self.directory = directory
        self.name = name
        self.max_size = max_size
        self.counter = itertools.count(1)

    def store(self, mail_from, rcpts, data):
        n = next(self.counter)
        base = os.path.join(self.directory, f"msg-{os.getpid()}-{n:06d}")
        envelope = f"MAIL FROM:<{mail_from}>\n" + "".join(
            f"RCPT TO:<{r}>\n" for r in rcpts)
        for suffix, payload in ((".env", envelope.encode()), (".eml", data)):
            tmp = base + suffix + ".tmp"
            with open(tmp, "wb") as f:
                f.write(payload)
            os.rename(tmp, base + suffix)
        return os.path.basename(base)

    async def session(self, reader, writer):
        async def reply(text):
            writer.write(text.encode() + b"\r\n")
            await writer.drain()

        async def readline():
            """One line without its CRLF, or None at EOF/overlong line."""
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return None
            except asyncio.LimitOverrunError:
                return b"\0overlong"
            return line.rstrip(b"\r\n")

        mail_from, rcpts = None, []
        try:
            await reply(f"220 {self.name} ESMTP test sink")
            while True:
                line = await readline()
                if line is None:
                    return
                if line == b"\0overlong":
                    await reply("500 5.5.2 line too long")
                    return
                text = line.decode("latin-1")
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                if verb == "EHLO":
                    mail_from, rcpts = None, []
                    await reply(f"250-{self.name}\r\n250-8BITMIME\r\n"
                                f"250-SIZE {self.max_size}\r\n250 PIPELINING")
                elif verb == "HELO":
                    mail_from, rcpts = None, []
                    await reply(f"250 {self.name}")
                elif verb == "MAIL" and arg.upper().startswith("FROM:"):
                    addr = arg[5:].strip()
                    mail_from = addr.split(">", 1)[0].lstrip("<")
                    rcpts = []
                    await reply("250 2.1.0 ok")
                elif verb == "RCPT" and arg.upper().startswith("TO:"):
                    if mail_from is None:
                        await reply("503 5.5.1 MAIL first")
                        continue
                    rcpts.append(arg[3:].strip().split(">", 1)[0].lstrip("<"))
                    await reply("250 2.1.5 ok")
                elif verb == "DATA":
                    if mail_from is None or not rcpts:
                        await reply("503 5.5.1 MAIL and RCPT first")
                        continue
                    await reply("354 end data with <CR><LF>.<CR><LF>")
                    chunks, size, too_big = [], 0, False
                    bol = True  # the next piece starts a line
                    while True:
                        try:
                            raw = await reader.readuntil(b"\n")
                        except asyncio.IncompleteReadError:
                            return
                        except asyncio.LimitOverrunError as e:
                            # A long body line: take it in pieces.
                            raw = await reader.readexactly(max(e.consumed, 1))
                        starts_line, bol = bol, raw.endswith(b"\n")
                        if starts_line and raw in (b".\r\n", b".\n"):
                            break
                        if starts_line and raw.startswith(b"."):
                            raw = raw[1:]
                        size += len(raw)
                        if size > self.max_size:
                            too_big = True
                            chunks = []
                        elif not too_big:
                            chunks.append(raw)
                    if too_big:
                        await reply("552 5.3.4 message too big")
                    else:
                        name = self.store(mail_from, rcpts, b"".join(chunks))
                        await reply(f"250 2.0.0 ok queued as {name}")
                    mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    await reply("250 2.0.0 ok")
                elif verb == "NOOP":
                    await reply("250 2.0.0 ok")
                elif verb == "VRFY":
                    await reply("252 2.5.2 cannot VRFY")
                elif verb == "HELP":
                    await reply("214 2.0.0 test sink")
                elif verb == "QUIT":
                    await reply("221 2.0.0 bye")
                    return
                else:
                    await reply("502 5.5.2 command not recognized")
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="ADDR:PORT")
    p.add_argument("--dir", required=True, help="where messages are written")
    p.add_argument("--pidfile", help="written once listening")
    p.add_argument("--name", default="sink.test", help="greeting host name")
    p.add_argument("--max-size", type=int, default=10 * 1024 * 1024)
    args = p.parse_args()

    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        p.error("--listen wants ADDR:PORT")
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir, args.name, args.max_size)

    server = await asyncio.start_server(sink.session, host.strip("[]"),
                                        int(port), limit=MAX_LINE,
                                        reuse_address=True)
    stop = stop_event()
    with pid_file(args.pidfile):
        async with server:
            await stop.wait()


if __name__ == "__main__":
    run(main, "smtp_sink.py")
