#!/bin/bash
# How the typed/json goldens were captured from haproxy 2.6.12: haproxy.cfg
# with its stats socket on ipv4@127.0.0.1:29300 (the CLI answers the same),
# app1/app3/app4/app5 listening (app2 refused), four clients through
# localnodes, app3 drained and app4 in maintenance, then one socat per
# command. Run from an empty directory: ./capture.sh /path/to/testdata
set -u
T=$1
cli() { echo "$1" | socat -t 5 - TCP:127.0.0.1:29300; }
cat > servers.py <<'PY'
import socket, sys, threading, time
def handle(c):
    data = b""
    while len(data) < 19 and b"\r\n\r\n" not in data:
        d = c.recv(4096)
        if not d: break
        data += d
    if data.startswith(b"GET /healthcheck"):
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    elif len(data) >= 19:
        c.sendall(b"x" * 94 + b"\n")
    c.close()
def serve(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p)); s.listen(64)
    while True:
        threading.Thread(target=handle, args=(s.accept()[0],), daemon=True).start()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
time.sleep(60)
PY
sed 's#stats socket .*#stats socket ipv4@127.0.0.1:29300 level admin#' "$T/haproxy.cfg" > h.cfg
python3 servers.py 29101 29103 29104 29105 & SRV=$!
haproxy -f h.cfg -db & HAP=$!
sleep 6.5
for _ in 1 2 3 4; do
  python3 -c 'import socket; c=socket.create_connection(("127.0.0.1",29091)); c.sendall(b"hello from client!\n"); [None for _ in iter(lambda: c.recv(4096), b"")]'
done
cli "set server app/app3 state drain"; cli "set server app/app4 state maint"
sleep 1
cli "show stat typed" > "$T/stat_typed.txt"
cli "show info typed" > "$T/info_typed.txt"
cli "show info json" > "$T/info.json"
cli "show stat 3 -1 2 typed" > "$T/stat_iid3_sid2_typed.txt"
cli "show stat other 2 -1 json" > "$T/stat_other_be.json"
cli "show stat app -1 -1 typed no-maint" > "$T/stat_app_nomaint_typed.txt"
cli "show info typed desc" > "$T/info_typed_desc.txt"
# One line per field (its first row), to keep the file small.
cli "show stat typed desc" | awk -F. 'NF > 1 && !seen[$4]++' > "$T/stat_typed_desc_by_field.txt"
cli "show schema json" | head -c -1 > schema.json  # core/src/stats/schema.json
kill "$HAP" "$SRV"
