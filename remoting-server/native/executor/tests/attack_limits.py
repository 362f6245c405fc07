#!/usr/bin/env python3
"""The attacks of issue 9, replayed against `avec-executor --listen` (emulated device), with figures.

    python3 remoting-server/native/executor/tests/attack_limits.py build/native/avec-executor

Each line: what was tried, what the server held while it lasted, and the outcome. `make attack-native`
runs it; results of a run are kept in bench/results/ (not a timed test: figures vary by machine).
"""
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

EXE = sys.argv[1] if len(sys.argv) > 1 else "build/native/avec-executor"
MAGIC, OP_HELLO, OP_GOODBYE, OP_CTX_SYNC, OP_STREAM_CREATE, OP_MODULE_IMAGE, OP_MODULE_LOAD = 0x43455641, 1, 2, 12, 40, 60, 61


def frame(op, payload=b"", rid=0, ctx=1):
    return struct.pack("<IHHIIII", MAGIC, 1, op, 0, rid, ctx, len(payload)) + payload


def hello(ticket=b"", flags=0):
    body = struct.pack("<IIII", 1, flags, os.getpid(), len(ticket)) + b"attack".ljust(64, b"\0")
    return frame(OP_HELLO, body + ticket, 1, 0)


def read_reply(s):
    hdr = b""
    while len(hdr) < 24:
        c = s.recv(24 - len(hdr))
        if not c:
            return None
        hdr += c
    n = struct.unpack("<I", hdr[20:24])[0]
    p = b""
    while len(p) < n:
        c = s.recv(n - len(p))
        if not c:
            return None
        p += c
    return p


def status(p):
    return None if p is None else struct.unpack("<I", p[:4])[0]


def refusal(p):
    if p is None or len(p) < 48:
        return None
    reason, n = struct.unpack("<II", p[40:48])
    return reason, p[48:48 + n].decode(errors="replace")


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    except (OSError, AttributeError):
        return 0


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    st = f.read()
                if int(st[st.rfind(")") + 2:].split()[1]) == pid:
                    out.append(int(p))
            except OSError:
                pass
    return out


class Listener:
    def __init__(self, *extra):
        self.log = tempfile.NamedTemporaryFile(prefix="avec-attack-", suffix=".log", delete=False).name
        self.p = subprocess.Popen([EXE, "--listen", "127.0.0.1:0", "--backend", "emulated", "--emulated-memory", str(1 << 30),
                                   *extra], stderr=open(self.log, "w"))
        self.port = 0
        for _ in range(200):
            m = re.search(r'"event":"listening","address":"127\.0\.0\.1:(\d+)"', open(self.log).read())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.02)

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.settimeout(20)
        return s

    def lines(self, event):
        return [json.loads(l) for l in open(self.log) if f'"event":"{event}"' in l]

    def close(self):
        self.p.terminate()
        self.p.wait()
        os.unlink(self.log)


def silent_connections():
    l = Listener("--max-pending-per-peer", "1000", "--max-pending", "1000")
    base = rss_kib(l.p.pid)
    socks = [l.connect() for _ in range(500)]
    time.sleep(1.0)
    kids, rss = len(children(l.p.pid)), rss_kib(l.p.pid)
    answered = sum(1 for s in socks if refusal(read_reply(s)) is not None)
    print(f"500 silent connections: {kids} session processes, listener RSS {base} -> {rss} KiB while held; "
          f"{answered} answered REFUSED/HELLO_TIMEOUT after 5 s and closed")
    for s in socks:
        s.close()
    l.close()


def slow_loris():
    l = Listener()
    s = l.connect()
    h, t0, sent = hello(), time.time(), 0
    try:
        for b in h:
            s.send(bytes([b]))
            sent += 1
            time.sleep(1.0)
            if len(children(l.p.pid)):
                break
    except OSError:
        pass
    print(f"slow-loris HELLO (1 byte/s): cut after {time.time() - t0:.1f} s and {sent} bytes, "
          f"{len(children(l.p.pid))} session processes")
    l.close()


def module_images(*extra):
    l = Listener("--memory-limit", str(64 << 20), *extra)
    s = l.connect()
    s.sendall(hello())
    read_reply(s)
    for i in range(48):
        img = bytes([0x7F]) + bytes([i]) * ((4 << 20) - 1)
        h = hashlib.sha256(img).digest()
        s.sendall(frame(OP_MODULE_LOAD, struct.pack("<II32sQ", 100 + i, 0, h, len(img))))
        for off in range(0, len(img), 1 << 20):
            s.sendall(frame(OP_MODULE_IMAGE, h + struct.pack("<Q", len(img)) + img[off:off + (1 << 20)]))
        s.sendall(frame(OP_CTX_SYNC, b"", 7))
        read_reply(s)
    kid = children(l.p.pid)
    rss = rss_kib(kid[0]) if kid else 0
    s.sendall(frame(OP_GOODBYE))
    s.recv(1)
    time.sleep(0.3)
    end = l.lines("session_end")[-1]
    print(f"48 distinct 4 MiB module images, 64 MiB device limit {' '.join(extra) or '(defaults)'}: session RSS {rss // 1024} MiB before GOODBYE, "
          f"module store {end.get('module_store_bytes', 0) >> 20} MiB (bound 64 MiB), loads refused {end.get('objects_refused')}")
    l.close()


def handle_flood():
    l = Listener("--memory-limit", str(64 << 20))
    s = l.connect()
    s.sendall(hello())
    read_reply(s)
    t0 = time.time()
    batch = b"".join(frame(OP_STREAM_CREATE, struct.pack("<IIiI", 16 + i, 0, 0, 0)) for i in range(300000))
    s.sendall(batch)
    s.sendall(frame(OP_CTX_SYNC, b"", 7))
    st = status(read_reply(s))
    kid = children(l.p.pid)
    rss = rss_kib(kid[0]) if kid else 0
    print(f"300,000 stream creations in {time.time() - t0:.1f} s: session RSS {rss // 1024} MiB, "
          f"first sync answered {st} (2 = CUDA_ERROR_OUT_OF_MEMORY at the 65,537th), "
          f"{len(l.lines('session_table_full'))} session_table_full line")
    l.close()


def replays():
    keys = tempfile.mkdtemp(prefix="avec-attack-keys-")
    key = b"k" * 32
    open(os.path.join(keys, "k1"), "wb").write(key)
    import base64
    import hmac
    now = int(time.time())
    payload = json.dumps({"v": 1, "kid": "k1", "uid": "u", "ns": "n", "claim": "c", "node": "gpu-test", "dev": "",
                          "mem": 256 << 20, "cpct": 100, "iat": now, "exp": now + 600}).encode()
    b = base64.urlsafe_b64encode(payload).rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(key, b"avec1." + b, hashlib.sha256).digest()).rstrip(b"=")
    ticket = b"avec1." + b + b"." + mac
    l = Listener("--ticket-keys", keys, "--node", "gpu-test", "--memory-limit", str(1 << 30))
    admitted, limits, reasons, socks = 0, set(), {}, []
    for _ in range(20):
        s = l.connect()
        s.sendall(hello(ticket))
        p = read_reply(s)
        if status(p) == 0:
            admitted += 1
            limits.add(struct.unpack("<Q", p[16:24])[0])
            socks.append(s)
        else:
            r = refusal(p)
            reasons[r[0] if r else None] = r[1] if r else ""
    print(f"one ticket (mem 256 MiB) under --memory-limit 1 GiB, 20 concurrent sessions: {admitted} admitted with "
          f"limits {sorted(limits)}, the rest refused {reasons}")
    for s in socks:
        s.close()
    l.close()
    os.unlink(os.path.join(keys, "k1"))
    os.rmdir(keys)


if __name__ == "__main__":
    print(f"# issue 9 attacks against {EXE} (emulated device), {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    for f in (silent_connections, slow_loris, module_images, handle_flood, replays):
        f()
    module_images("--max-module-bytes", str(64 << 20))
