#!/usr/bin/env python3
"""Hostile-load measurements against a running server (`just bench-hostile`; API.md §14).

Usage: hostile.py BASE PID PHASE [args…]; prints one line per figure with its target. Stdlib
only. PHASE is one of:
  flood NEW_KEY CACHED_KEY SECONDS   while a wrong-secret flood runs (started by the caller):
                                     a new key's first request, a cached key's p99
  stalled N PATH BYTES               N connections that send the headers and BYTES of a body
                                     promising 255 KB more, then stall: RSS added, closed in time
  methods N                          N requests with random long methods, then /metrics' size
  heavy OTHER_KEY SECONDS HEAVY_URL HEAVY_AUTH LABEL
                                     16 clients loading HEAVY_URL in a loop; meanwhile another
                                     org's /track p99 and /reports/usage p50
"""

import http.client
import json
import os
import random
import socket
import statistics
import string
import sys
import threading
import time
import urllib.parse


def host_port(base):
    u = urllib.parse.urlparse(base)
    return u.hostname, u.port


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def request(base, method, path, headers=None, body=None, timeout=30):
    host, port = host_port(base)
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    started = time.perf_counter()
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    took = (time.perf_counter() - started) * 1000
    c.close()
    return r.status, data, took


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def line(label, value, target, ok):
    print(f"{label:<66} {value:>14}   target {target:<12} {'met' if ok else 'MISSED'}", flush=True)


def flood(base, pid, new_key, cached_key, seconds):
    auth = lambda k: {"Authorization": f"Bearer {k}"}
    status, _, first = request(base, "GET", "/api/v1/reports/usage", auth(new_key))
    line(f"new key's first request during the flood (HTTP {status})", f"{first:.1f} ms", "< 1000 ms",
         status == 200 and first < 1000)
    lat, statuses = [], {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status, _, took = request(base, "GET", "/api/v1/reports/usage", auth(cached_key))
        statuses[status] = statuses.get(status, 0) + 1
        lat.append(took)
        time.sleep(0.005)
    ok = statuses.get(200, 0) == len(lat)
    line(f"cached key p99 during the flood ({len(lat)} requests, {statuses})",
         f"{pct(lat, 0.99):.1f} ms", "< 50 ms", ok and pct(lat, 0.99) < 50)


def stalled(base, pid, n, path, first_bytes):
    host, port = host_port(base)
    before = rss_mb(pid)
    socks = []
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: 255000\r\n\r\n").encode()
    chunk = b"a" * first_bytes
    started = time.monotonic()
    for _ in range(n):
        s = socket.create_connection((host, port))
        s.setblocking(False)
        try:
            s.send(head + chunk)
        except BlockingIOError:
            pass
        socks.append(s)
    time.sleep(1.5)
    peak = rss_mb(pid)
    # Every connection must be answered and closed by the server within the deadline (10 s
    # as shipped) plus a margin, while the client keeps it open and sends nothing more.
    open_ = set(range(n))
    closed_at = {}
    deadline = started + 14
    while open_ and time.monotonic() < deadline:
        for i in list(open_):
            try:
                data = socks[i].recv(65536)
                if data == b"":
                    closed_at[i] = time.monotonic() - started
                    open_.discard(i)
            except BlockingIOError:
                pass
            except OSError:
                closed_at[i] = time.monotonic() - started
                open_.discard(i)
        time.sleep(0.05)
    for s in socks:
        s.close()
    time.sleep(0.5)
    after = rss_mb(pid)
    line(f"RSS added by {n} stalled bodies on {path} (peak)", f"{peak - before:.1f} MB", "< 50 MB",
         peak - before < 50)
    slowest = max(closed_at.values()) if closed_at else float("nan")
    line(f"  of them closed by the server within 14 s (slowest {slowest:.1f} s)",
         f"{len(closed_at)}/{n}", f"{n}/{n}", len(closed_at) == n)
    print(f"  RSS before {before:.0f} MB, peak {peak:.0f} MB, after close {after:.0f} MB", flush=True)


def methods(base, pid, n):
    host, port = host_port(base)
    rnd = random.Random(7)
    for i in range(n):
        m = "".join(rnd.choice(string.ascii_uppercase) for _ in range(21))
        s = socket.create_connection((host, port))
        s.settimeout(5)
        s.sendall(f"{m} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
    _, data, _ = request(base, "GET", "/metrics")
    line(f"/metrics size after {n} random 21-character methods", f"{len(data) / 1024:.1f} KB",
         "< 200 KB", len(data) < 200 * 1024)


def heavy(base, pid, other_key, seconds, heavy_url, heavy_auth, label):
    stop = threading.Event()
    heavy_status = {}
    lock = threading.Lock()

    def load():
        headers = {"Authorization": heavy_auth} if heavy_auth != "-" else {}
        while not stop.is_set():
            try:
                status, _, _ = request(base, "GET", heavy_url, headers, timeout=60)
            except OSError:
                status = 0
            with lock:
                heavy_status[status] = heavy_status.get(status, 0) + 1

    threads = [threading.Thread(target=load, daemon=True) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    auth = {"Authorization": f"Bearer {other_key}", "Content-Type": "application/json"}
    track, usage, bad = [], [], 0
    end = time.monotonic() + seconds
    i = 0
    peak = 0.0
    while time.monotonic() < end:
        i += 1
        body = json.dumps({"agent_id": "victim", "task_type": "email_classification",
                           "outcome": "success", "agent_duration_seconds": 3})
        status, _, took = request(base, "POST", "/api/v1/track", auth, body)
        bad += status != 201
        track.append(took)
        status, _, took = request(base, "GET", "/api/v1/reports/usage", auth)
        bad += status != 200
        usage.append(took)
        peak = max(peak, rss_mb(pid))
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    print(f"  {label}: heavy answers {dict(sorted(heavy_status.items()))}, peak RSS {peak:.0f} MB",
          flush=True)
    line(f"other org's /track p99 during 16 {label} ({len(track)} requests)",
         f"{pct(track, 0.99):.1f} ms", "< 50 ms", bad == 0 and pct(track, 0.99) < 50)
    line(f"other org's /reports/usage p50 during 16 {label}",
         f"{statistics.median(usage):.1f} ms", "< 100 ms", bad == 0 and statistics.median(usage) < 100)


def main():
    base, pid, phase, *args = sys.argv[1:]
    pid = int(pid)
    if phase == "flood":
        flood(base, pid, args[0], args[1], float(args[2]))
    elif phase == "stalled":
        stalled(base, pid, int(args[0]), args[1], int(args[2]))
    elif phase == "methods":
        methods(base, pid, int(args[0]))
    elif phase == "heavy":
        heavy(base, pid, args[0], float(args[1]), args[2], args[3], args[4])
    else:
        sys.exit(f"unknown phase {phase}")


if __name__ == "__main__":
    main()
