#!/usr/bin/env python3
"""Hostile clients for the milter and policy-map ports (issue 14), for
tests/milter/hostile_clients_check.sh. Every mode prints key=value lines.

  idle MPORT PPORT N PID DOMAIN
      opens N idle connections to each port (half of the policy-map ones stop
      in the middle of a request), then, while they are held, asks the policy
      map for DOMAIN and sends one RCPT to DOMAIN over a fresh milter session;
      prints how long each took, the answers, and the daemon's open
      descriptors and resident memory (kB) before, during and after.
  flood PPORT N
      opens N connections to the policy map and prints how many the server
      closed at once (over its max_connections), unanswered.
  garbage MPORT
      sends each malformed milter packet of GARBAGE on a fresh connection and
      prints, for each, how the milter ended the connection.
  noread MPORT PPORT SECONDS
      one client pipelines policy-map requests and one pipelines RCPTs, both
      for SECONDS without reading a byte; prints how much each could send.
  rcpt MPORT DOMAIN / query PPORT DOMAIN
      one well-behaved RCPT or policy-map query: code, text and time.
"""
import os
import resource
import socket
import struct
import sys
import time


def raise_nofile():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def netstring(s):
    b = s.encode()
    return str(len(b)).encode() + b":" + b + b","


def query(pport, domain, timeout=10):
    """One socketmap request; (answer or None, milliseconds)."""
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", pport), timeout=timeout)
        s.sendall(netstring("postfix " + domain))
        buf = b""
        while True:
            head, sep, rest = buf.partition(b":")
            if sep and len(rest) > int(head):
                answer = rest[: int(head)].decode()
                break
            chunk = s.recv(4096)
            if not chunk:
                answer = None
                break
            buf += chunk
        s.close()
    except (OSError, ValueError):
        answer = None
    return answer, (time.monotonic() - t0) * 1000


def milter_packet(cmd, data=b""):
    return struct.pack("!I", len(data) + 1) + cmd + data


def milter_reply(s):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    while True:
        body = exact(struct.unpack("!I", exact(4))[0])
        if body[:1] != b"p":
            return body[:1].decode(), body[1:].rstrip(b"\0").decode(errors="replace")


NEGOTIATE = milter_packet(b"O", struct.pack("!III", 6, 0x1FF, 0x1 | 0x2 | 0x10 | 0x20 | 0x40))


def rcpt(mport, domain, timeout=10):
    """One session up to one RCPT; (code or None, text, milliseconds)."""
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", mport), timeout=timeout)
        s.sendall(NEGOTIATE)
        milter_reply(s)
        s.sendall(milter_packet(b"C", b"client.test\0" + b"4" + struct.pack("!H", 25) + b"127.0.0.1\0"))
        milter_reply(s)
        s.sendall(milter_packet(b"H", b"client.test\0"))
        milter_reply(s)
        s.sendall(milter_packet(b"M", b"<sender@example.test>\0"))
        milter_reply(s)
        s.sendall(milter_packet(b"R", b"<user@" + domain.encode() + b">\0"))
        code, text = milter_reply(s)
        s.sendall(milter_packet(b"A") + milter_packet(b"Q"))
        s.close()
    except (OSError, EOFError):
        code, text = None, ""
    return code, text, (time.monotonic() - t0) * 1000


def proc_state(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    threads = len(os.listdir(f"/proc/{pid}/task"))
    return fds, rss, threads


def connect_many(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def accepted(pid, ports):
    """How many established TCP connections on `ports` the daemon holds: its
    descriptors' socket inodes found in /proc/net/tcp{,6}. Unlike a count of
    all its descriptors, descriptors that come and go meanwhile (a DNS query,
    the store) do not change it."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            col = row.split()
            # local address "HEX:PORT", state 01 = ESTABLISHED, inode column 9
            if col[3] == "01" and int(col[1].split(":")[1], 16) in ports and col[9] in inodes:
                n += 1
    return n


def wait_accepted(pid, ports, want, seconds):
    """Polls until the daemon holds `want` connections on `ports`, at most
    SECONDS."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and accepted(pid, ports) < want:
        time.sleep(0.05)


def wait_fds(pid, done, seconds):
    """Polls the daemon's open descriptors every 20 ms until done(count) or
    SECONDS have passed."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if done(len(os.listdir(f"/proc/{pid}/fd"))):
            return
        time.sleep(0.02)


def mode_idle(mport, pport, n, pid, domain):
    raise_nofile()
    fds, rss, threads = proc_state(pid)
    before_fds = fds
    print(f"before_fds={fds} before_rss_kb={rss} before_threads={threads}")
    milter_socks = connect_many(mport, n)
    policy_socks = connect_many(pport, n)
    for s in policy_socks[::2]:
        s.sendall(b"30:postfix ")  # a request that never ends
    # Until both servers have accepted them all, at most 5 s: the checks
    # below then run beside every connection.
    wait_accepted(pid, {mport, pport}, 2 * n, 5.0)
    answer, ms = query(pport, domain)
    print(f"query_ms={ms:.0f} query_answer={answer}")
    code, text, ms = rcpt(mport, domain)
    print(f"rcpt_ms={ms:.0f} rcpt_code={code} rcpt_text={text!r}")
    fds, rss, threads = proc_state(pid)
    print(f"during_fds={fds} during_rss_kb={rss} during_threads={threads}")
    print(f"during_accepted={accepted(pid, {mport, pport})}")
    for s in milter_socks + policy_socks:
        s.close()
    # Until the daemon's descriptors are back within 50 of where they
    # started, at most 3 s.
    wait_fds(pid, lambda count: count - before_fds < 50, 3.0)
    fds, rss, threads = proc_state(pid)
    print(f"after_fds={fds} after_rss_kb={rss} after_threads={threads}")


def mode_flood(pport, n):
    raise_nofile()
    socks = connect_many(pport, n)
    time.sleep(1.0)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except ConnectionResetError:
            closed += 1
    print(f"opened={n} closed_at_once={closed}")
    answer, _ = query(pport, "flood-probe.test", timeout=3)
    print(f"query_while_full={answer}")
    for s in socks:
        s.close()


# Malformed milter packets: (name, bytes). libmilter reads a 4-octet length
# and a command octet (mfdef.h); everything here breaks that or the order.
GARBAGE = [
    ("zero_length", b"\0\0\0\0"),
    ("huge_length", b"\xff\xff\xff\xff" + b"O" * 64),
    ("length_16MiB_short_body", struct.pack("!I", 1 << 24) + b"B" + b"x" * 1024),
    ("truncated_header", b"\0\0"),
    ("truncated_body", struct.pack("!I", 100) + b"R" + b"<a@b"),
    ("unknown_command", milter_packet(b"Z", b"nonsense\0")),
    ("rcpt_before_negotiate", milter_packet(b"R", b"<user@dane-ok.test>\0")),
    ("body_before_mail", NEGOTIATE + milter_packet(b"B", b"x" * 100)),
    ("eom_before_mail", NEGOTIATE + milter_packet(b"E")),
    ("rcpt_without_nul", NEGOTIATE + milter_packet(b"M", b"<s@t.test>\0") + milter_packet(b"R", b"<user@dane-ok.test>")),
    ("macro_garbage", NEGOTIATE + milter_packet(b"D", b"R" + b"\xff\0" * 500)),
    ("negotiate_short", milter_packet(b"O", b"\0\0")),
    ("random_64KiB", os.urandom(65536)),
]


def mode_garbage(mport):
    for name, data in GARBAGE:
        s = socket.create_connection(("127.0.0.1", mport), timeout=5)
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            outcome = "closed"
        except socket.timeout:
            outcome = "timeout"
        except OSError:  # reset, or not connected any more when we shut down
            outcome = "reset"
        s.close()
        print(f"garbage={name} outcome={outcome}")
    print(f"garbage_cases={len(GARBAGE)}")


def mode_noread(mport, pport, seconds):
    p = socket.create_connection(("127.0.0.1", pport))
    p.setblocking(False)
    m = socket.create_connection(("127.0.0.1", mport))
    m.sendall(NEGOTIATE + milter_packet(b"M", b"<s@t.test>\0"))
    m.setblocking(False)
    pdata = b"".join(netstring(f"postfix flood{i}.test") for i in range(2000))
    mdata = milter_packet(b"R", b"<user@dane-ok.test>\0") * 2000
    # Each stream is sent in order, cyclically, so that framing stays intact
    # however the kernel splits the sends.
    streams = {"policy": [p, pdata, 0], "milter": [m, mdata, 0]}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        progressed = False
        for st in streams.values():
            s, data, pos = st
            try:
                n = s.send(data[pos % len(data):])
                st[2] += n
                progressed = True
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
        if not progressed:
            time.sleep(0.05)
    sent = {k: v[2] for k, v in streams.items()}
    print(f"noread_policy_sent={sent['policy']} noread_milter_sent={sent['milter']}")
    # Keep them open (not reading) while the shell checks the others.
    sys.stdout.flush()
    time.sleep(float(os.environ.get("HOLD", "0")))


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "idle":
        mode_idle(int(args[0]), int(args[1]), int(args[2]), int(args[3]), args[4])
    elif mode == "flood":
        mode_flood(int(args[0]), int(args[1]))
    elif mode == "garbage":
        mode_garbage(int(args[0]))
    elif mode == "noread":
        mode_noread(int(args[0]), int(args[1]), float(args[2]))
    elif mode == "rcpt":
        code, text, ms = rcpt(int(args[0]), args[1])
        print(f"rcpt_ms={ms:.0f} rcpt_code={code} rcpt_text={text!r}")
    elif mode == "query":
        answer, ms = query(int(args[0]), args[1])
        print(f"query_ms={ms:.0f} query_answer={answer}")
    else:
        raise SystemExit(__doc__)


main()
