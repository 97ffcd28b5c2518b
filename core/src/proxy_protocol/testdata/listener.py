#!/usr/bin/env python3
"""Records what HAProxy sends to a server: one file per listening port.

Usage: listener.py OUTDIR NAME=HOST:PORT...  Each connection's bytes (until
the peer closes, or 3 s of silence) go to OUTDIR/NAME.bin; the first
connection of each port wins. Exits after 20 s."""
import os, select, socket, sys, time

out = sys.argv[1]
socks = {}
for arg in sys.argv[2:]:
    name, addr = arg.split("=")
    host, port = addr.rsplit(":", 1)
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, int(port)))
    except OSError as e:
        sys.exit(f"{addr}: {e}")
    s.listen(16)
    socks[s] = name
conns = {}
deadline = time.monotonic() + 20
open(os.path.join(out, "ready"), "w").close()
while time.monotonic() < deadline:
    ready, _, _ = select.select(list(socks) + list(conns), [], [], 0.2)
    for s in ready:
        if s in socks:
            c, _ = s.accept()
            conns[c] = (socks[s], bytearray())
            continue
        name, data = conns[s]
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:
            chunk = b""  # health checks end with a reset
        data += chunk
        path = os.path.join(out, name + ".bin")
        if not chunk or data.endswith(b"hello\n"):
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(bytes(data))
            s.close()
            del conns[s]
