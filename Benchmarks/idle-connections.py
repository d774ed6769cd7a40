#!/usr/bin/env python3
"""Opens N idle HTTP/2 connections to HOST:PORT (client preface + an empty SETTINGS frame, then
nothing), waits until the server has answered each with its SETTINGS, prints the server's RSS
(VmRSS of PID) before and with them open, then closes them. For scripts/bench's memory figures.

usage: idle-connections.py HOST PORT PID N"""

import resource
import socket
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    host, port, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 256)), hard))
    time.sleep(0.5)
    before = rss_kib(pid)
    conns = []
    for _ in range(n):
        s = socket.create_connection((host, port))
        s.sendall(PREFACE)
        conns.append(s)
    for s in conns:  # each answers with its SETTINGS: the connection is set up server-side
        s.settimeout(30)
        if not s.recv(9):
            raise SystemExit("a connection was closed by the server")
    time.sleep(1.0)
    during = rss_kib(pid)
    print(f"{n} idle connections: RSS {before // 1024} MiB -> {during // 1024} MiB "
          f"(+{(during - before) / 1024:.1f} MiB, {(during - before) / n:.1f} KiB each)")
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
