#!/usr/bin/env python3
"""STARTTLS listeners for the probe tests: one asyncio process, many addresses.

Usage: starttls_server.py --config FILE --pidfile FILE [--log FILE]

FILE (written by start.sh) is JSON: {"listeners": [{"case", "address", "port",
"mode", "name", "chain", "key", "banner_lines"}, ...]}.  Every listener
speaks just enough SMTP for a probe (RFC 5321 greeting, EHLO/HELO, STARTTLS
per RFC 3207, NOOP, RSET, QUIT) and behaves as its `mode` says:

  starttls         offers STARTTLS and does TLS with `chain` (leaf first) and `key`
  no-starttls      EHLO without STARTTLS; STARTTLS gets 502
  silent           accepts the connection and never says anything
  hang-after-220   answers STARTTLS with 220, then never speaks TLS
  starttls-454     answers STARTTLS with 454 (TLS not available)
  inject           answers STARTTLS with 220 and, in the same write, a second
                   reply (the response injection of CVE-2011-0411)

A listener with "mail_dir" also takes whole messages, but only inside TLS
(RFC 3207 §4: before STARTTLS, MAIL gets 530): MAIL, RCPT, DATA, each message
kept as MAIL_DIR/msg-<pid>-<n>.eml (as received, dot-unstuffed) next to
msg-<pid>-<n>.env ("MAIL FROM:<...>", "RCPT TO:<...>" lines, then "TLS
<version> <cipher>" and "LISTENER <case>"), both written under a temporary
name and renamed.  For the end-to-end delivery tests
(tests/e2e/postfix_delivery_test.sh); without "mail_dir", MAIL, RCPT and
DATA get 502 as before.

The pid file is written once every listener listens (so a reader that sees
it can connect), and removed on SIGTERM/SIGINT.  Standard library only.
Bounded: lines over 4 KiB end the session, idle sessions end after 60 s.
"""

import argparse
import asyncio
import itertools
import json
import os
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from server_life import pid_file, run, stop_event  # noqa: E402 (after the path)

MAX_LINE = 4096
IDLE_SECONDS = 60
MAX_MESSAGE = 10 * 1024 * 1024
# Numbers the kept messages: one sequence for all listeners of the process.
MESSAGE_NUMBERS = itertools.count(1)


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None

    def __call__(self, case, peer, text):
        if self.f:
            self.f.write(f"{time.strftime('%H:%M:%S')} {case} {peer} {text}\n")


# Every open connection, so that a stop can end them at once.
WRITERS = set()


class Listener:
    def __init__(self, spec, log):
        self.case = spec["case"]
        self.mode = spec["mode"]
        self.name = spec.get("name", "mx.test")
        self.banner_lines = int(spec.get("banner_lines", 1))
        self.log = log
        self.mail_dir = spec.get("mail_dir")
        self.tls = None
        if self.mode == "starttls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(spec["chain"], spec["key"])
            self.tls = ctx

    async def reply(self, writer, code, *lines):
        text = "".join(
            f"{code}{'-' if i < len(lines) - 1 else ' '}{line}\r\n"
            for i, line in enumerate(lines)
        )
        writer.write(text.encode())
        await writer.drain()

    async def handle(self, reader, writer):
        peer = writer.get_extra_info("peername")
        peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.log(self.case, peer, "connect")
        WRITERS.add(writer)
        try:
            await self.session(reader, writer, peer)
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError, ssl.SSLError, OSError) as e:
            self.log(self.case, peer, f"ended: {type(e).__name__}: {e}")
        finally:
            WRITERS.discard(writer)
            writer.close()  # flushes what is buffered; never waited for
            self.log(self.case, peer, "closed")

    async def drain_until_eof(self, reader):
        # Never answer, but notice when the client gives up.
        while await asyncio.wait_for(reader.read(4096), IDLE_SECONDS):
            pass

    async def session(self, reader, writer, peer):
        if self.mode == "silent":
            await self.drain_until_eof(reader)
            return
        banner = [f"{self.name} ESMTP probe test bed"] + [
            f"line {i} of a multi-line greeting" for i in range(2, self.banner_lines + 1)
        ]
        await self.reply(writer, 220, *banner)
        in_tls = False
        envelope = None  # [mail_from, [rcpt...]] once MAIL was accepted
        while True:
            raw = await asyncio.wait_for(reader.readline(), IDLE_SECONDS)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            self.log(self.case, peer, f"{'tls ' if in_tls else ''}<<< {line}")
            if verb == "EHLO":
                caps = ["PIPELINING", "SIZE 10240000", "8BITMIME"]
                if self.mode != "no-starttls" and not in_tls:
                    caps.insert(1, "STARTTLS")
                await self.reply(writer, 250, f"{self.name} greets {line[5:].strip()}", *caps)
            elif verb == "HELO":
                await self.reply(writer, 250, self.name)
            elif verb == "STARTTLS" and self.mode != "no-starttls" and not in_tls:
                state = await self.starttls(reader, writer, peer)
                if state is None:
                    return
                in_tls = state
            elif verb == "QUIT":
                await self.reply(writer, 221, "2.0.0 bye")
                return
            elif verb in ("NOOP", "RSET"):
                envelope = None
                await self.reply(writer, 250, "2.0.0 ok")
            elif verb in ("MAIL", "RCPT", "DATA") and self.mail_dir:
                envelope = await self.mail_command(reader, writer, peer, verb, line,
                                                   in_tls, envelope)
            else:
                await self.reply(writer, 502, "5.5.1 not implemented here")

    async def mail_command(self, reader, writer, peer, verb, line, in_tls, envelope):
        """One of MAIL, RCPT, DATA on a listener that takes mail; the new envelope."""
        if not in_tls:
            await self.reply(writer, 530, "5.7.0 Must issue a STARTTLS command first")
            return None
        arg = line[len(verb):].strip()
        if verb == "MAIL":
            if not arg.upper().startswith("FROM:"):
                await self.reply(writer, 501, "5.5.4 syntax: MAIL FROM:<address>")
                return envelope
            await self.reply(writer, 250, "2.1.0 ok")
            return [arg[5:].strip().split(">", 1)[0].lstrip("<"), []]
        if verb == "RCPT":
            if envelope is None or not arg.upper().startswith("TO:"):
                await self.reply(writer, 503, "5.5.1 MAIL first")
                return envelope
            envelope[1].append(arg[3:].strip().split(">", 1)[0].lstrip("<"))
            await self.reply(writer, 250, "2.1.5 ok")
            return envelope
        if envelope is None or not envelope[1]:
            await self.reply(writer, 503, "5.5.1 MAIL and RCPT first")
            return envelope
        await self.reply(writer, 354, "end data with <CR><LF>.<CR><LF>")
        chunks, size = [], 0
        while True:
            raw = await asyncio.wait_for(reader.readline(), IDLE_SECONDS)
            if not raw:
                raise ConnectionError("EOF inside DATA")
            if raw in (b".\r\n", b".\n"):
                break
            if raw.startswith(b"."):
                raw = raw[1:]
            size += len(raw)
            if size > MAX_MESSAGE:
                raise ValueError("message too big")
            chunks.append(raw)
        name = self.store(envelope, b"".join(chunks), writer.get_extra_info("ssl_object"))
        self.log(self.case, peer, f"tls stored {name}")
        await self.reply(writer, 250, f"2.0.0 ok queued as {name}")
        return None

    def store(self, envelope, data, tls):
        base = os.path.join(self.mail_dir, f"msg-{os.getpid()}-{next(MESSAGE_NUMBERS):06d}")
        env = f"MAIL FROM:<{envelope[0]}>\n" + "".join(f"RCPT TO:<{r}>\n" for r in envelope[1])
        env += f"TLS {tls.version()} {tls.cipher()[0]}\nLISTENER {self.case}\n"
        for suffix, payload in ((".env", env.encode()), (".eml", data)):
            with open(base + suffix + ".tmp", "wb") as f:
                f.write(payload)
            os.rename(base + suffix + ".tmp", base + suffix)
        return os.path.basename(base)

    async def starttls(self, reader, writer, peer):
        """True: the session goes on inside TLS; False: in plain text; None: it ends."""
        if self.mode == "starttls-454":
            await self.reply(writer, 454, "4.7.0 TLS not available due to temporary reason")
            return False
        if self.mode == "inject":
            writer.write(b"220 2.0.0 ready to start TLS\r\n250 2.0.0 injected\r\n")
            await writer.drain()
            await self.drain_until_eof(reader)
            return None
        await self.reply(writer, 220, "2.0.0 ready to start TLS")
        if self.mode == "hang-after-220":
            await self.drain_until_eof(reader)
            return None
        await writer.start_tls(self.tls)
        obj = writer.get_extra_info("ssl_object")
        self.log(self.case, peer, f"tls {obj.version()} {obj.cipher()[0]}")
        return True


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--log")
    args = ap.parse_args()
    with open(args.config) as f:
        specs = json.load(f)["listeners"]
    log = Log(args.log)

    servers = []
    for spec in specs:
        if spec.get("mail_dir"):
            os.makedirs(spec["mail_dir"], exist_ok=True)
        listener = Listener(spec, log)
        servers.append(await asyncio.start_server(
            listener.handle, spec["address"], int(spec["port"]), limit=MAX_LINE,
            reuse_address=True))

    stop = stop_event()
    with pid_file(args.pidfile):
        log("-", "-", f"listening on {len(servers)} addresses")
        try:
            await stop.wait()
        finally:
            for s in servers:
                s.close()
            for w in list(WRITERS):
                w.transport.abort()
            await asyncio.sleep(0)  # let the aborted sessions run their finally


if __name__ == "__main__":
    run(main, "starttls_server.py")
