#!/usr/bin/env python3
"""The MTA side of one milter session, for the shell tests: MAIL FROM, then
RCPT TO each recipient, against a dane-sts-milter on 127.0.0.1:PORT.

Usage: milter_rcpt.py [--every SECONDS --for SECONDS] PORT RCPT...

Prints one line per recipient, in order: "RCPT CODE TEXT", CODE the milter's
answer ('c' continue = accept, 't' tempfail, 'r' reject, or for a 'y' reply
its 3-digit SMTP code) and TEXT that reply's text as sent ("450 4.7.5 ...";
empty for the others). With --every, the recipients are sent again every
SECONDS for --for SECONDS, in the same transaction, and each line starts
with how long its answer took in milliseconds ("MS RCPT CODE TEXT"). The protocol (version 6) and its constants are
libmilter's (mfdef.h). Test-only; the C++ tests use tests/support/milter_client.
"""
import socket
import struct
import sys
import time

args = sys.argv[1:]
every = duration = None
if args[:1] == ["--every"]:
    every, duration, args = float(args[1]), float(args[3]), args[4:]
    assert sys.argv[3] == "--for", "usage: --every SECONDS --for SECONDS PORT RCPT..."
port, rcpts = int(args[0]), args[1:]
s = socket.create_connection(("127.0.0.1", port), timeout=15)


def send(cmd, data=b""):
    s.sendall(struct.pack("!I", len(data) + 1) + cmd + data)


def exact(n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("milter closed the connection")
        buf += chunk
    return buf


def reply():
    while True:
        body = exact(struct.unpack("!I", exact(4))[0])
        if body[:1] != b"p":  # progress: keep waiting
            return body[:1].decode(), body[1:].rstrip(b"\0")


# Version 6, all actions; the MTA may skip connect, helo, headers, body, data.
send(b"O", struct.pack("!III", 6, 0x1FF, 0x1 | 0x2 | 0x10 | 0x20 | 0x40 | 0x100 | 0x200))
code, body = reply()
assert code == "O", code
steps = struct.unpack("!I", body.ljust(12, b"\0")[8:12])[0]
if not steps & 0x1:
    send(b"C", b"client.test\0" + b"4" + struct.pack("!H", 25) + b"127.0.0.1\0")
    reply()
if not steps & 0x2:
    send(b"H", b"client.test\0")
    reply()
send(b"M", b"<sender@example.test>\0")
reply()
begin = time.monotonic()
rounds = 0
while True:
    for r in rcpts:
        t0 = time.monotonic()
        send(b"R", b"<" + r.encode() + b">\0")
        code, text = reply()
        ms = (time.monotonic() - t0) * 1000
        text = text.decode(errors="replace")
        code = text[:3] if code == "y" and text else code
        line = f"{r} {code} {text}" if text else f"{r} {code}"
        print(f"{ms:.1f} {line}" if every is not None else line, flush=True)
    rounds += 1
    if every is None or rounds * every > duration:
        break
    time.sleep(max(0.0, begin + rounds * every - time.monotonic()))
send(b"A")
send(b"Q")
