#!/usr/bin/env python3
"""Stands in for systemd's NOTIFY_SOCKET (sd_notify(3)) in tests.

    notify_recorder.py SOCKET LOG [--probe unix:PATH | --probe tcp:HOST:PORT]...

Binds an AF_UNIX datagram socket at SOCKET and appends one line to LOG per
datagram: "<monotonic seconds> <payload, newlines as |>". Right after a
datagram with READY=1 it connects to every --probe address and logs
"<t> PROBE <address> connect=ok|refused": READY=1 promises that the daemon's
sockets already take connections, and this checks it at that very moment
rather than when the test gets round to it. Writes LOG.bound once SOCKET
exists. Runs until killed.
"""

import os
import socket
import sys
import time


def probe(address):
    kind, _, rest = address.partition(":")
    try:
        if kind == "unix":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = rest
        else:
            host, _, port = rest.rpartition(":")
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target = (host, int(port))
        s.settimeout(2)
        with s:
            s.connect(target)
        return "ok"
    except OSError as e:
        return "refused(%s)" % e.__class__.__name__


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, log_path = args[0], args[1]
    probes = []
    rest = args[2:]
    while rest:
        if rest[0] != "--probe" or len(rest) < 2:
            print(__doc__, file=sys.stderr)
            return 2
        probes.append(rest[1])
        rest = rest[2:]
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    # The daemon may drop privileges before it notifies.
    os.chmod(path, 0o777)
    with open(log_path + ".bound", "w"):
        pass
    with open(log_path, "a", buffering=1) as log:
        while True:
            data = sock.recv(65536)
            now = time.monotonic()
            text = data.decode("utf-8", "replace").strip("\n").replace("\n", "|")
            log.write("%.6f %s\n" % (now, text))
            if "READY=1" in data.decode("utf-8", "replace").split("\n"):
                for address in probes:
                    log.write("%.6f PROBE %s connect=%s\n"
                              % (time.monotonic(), address, probe(address)))


if __name__ == "__main__":
    sys.exit(main())
