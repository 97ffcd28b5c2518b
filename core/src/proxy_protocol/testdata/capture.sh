#!/bin/sh
# Captures the PROXY headers HAProxy sends to servers, for the byte-exact
# tests of weir's encoder (see ../tests.rs). Run from this directory:
#   ./capture.sh [/usr/sbin/haproxy]
# Clients connect from fixed source ports, so the headers are fixed too;
# health checks come from a port the kernel picks (only the v2 LOCAL one
# is fixed). Loopback only; every process is stopped by its PID.
set -eu
HAPROXY=${1:-/usr/sbin/haproxy}
OUT=$(mktemp -d)
cat > "$OUT/haproxy.cfg" <<CFG
global
    log stdout format raw local0 err
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
listen v1_ipv4
    bind 127.0.0.1:27101
    server s 127.0.0.1:27201 send-proxy
listen v1_ipv6
    bind [::1]:27102
    server s 127.0.0.1:27202 send-proxy
listen v2_ipv4
    bind 127.0.0.1:27103
    server s 127.0.0.1:27203 send-proxy-v2
listen v2_ipv6
    bind [::1]:27104
    server s [::1]:27204 send-proxy-v2
listen v2_options
    bind 127.0.0.1:27105
    server s 127.0.0.1:27205 send-proxy-v2 proxy-v2-options ssl,unique-id,authority,crc32c
listen v2_ssl_crc
    bind [::1]:27106
    server s 127.0.0.1:27206 send-proxy-v2-ssl proxy-v2-options crc32c
listen v1_and_v2
    bind 127.0.0.1:27107
    server s 127.0.0.1:27207 send-proxy send-proxy-v2
listen check_v1
    bind 127.0.0.1:27108
    server s 127.0.0.1:27208 check inter 10s send-proxy
listen check_v2
    bind 127.0.0.1:27109
    server s 127.0.0.1:27209 check inter 10s send-proxy-v2 proxy-v2-options crc32c
CFG
python3 listener.py "$OUT" v1_ipv4=127.0.0.1:27201 v1_ipv6=127.0.0.1:27202 \
    v2_ipv4=127.0.0.1:27203 v2_ipv6=[::1]:27204 v2_options=127.0.0.1:27205 \
    v2_ssl_crc=127.0.0.1:27206 v1_and_v2=127.0.0.1:27207 \
    check_v1=127.0.0.1:27208 check_v2=127.0.0.1:27209 &
LISTENER=$!
i=0; while [ ! -e "$OUT/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
"$HAPROXY" -f "$OUT/haproxy.cfg" -db &
HAPROXY_PID=$!
sleep 1
send() { printf 'hello\n' | socat -t2 - "TCP:$1,bind=$2,reuseaddr"; }
send 127.0.0.1:27101 127.0.0.1:26101
send [::1]:27102 [::1]:26102
send 127.0.0.1:27103 127.0.0.1:26103
send [::1]:27104 [::1]:26104
send 127.0.0.1:27105 127.0.0.1:26105
send [::1]:27106 [::1]:26106
send 127.0.0.1:27107 127.0.0.1:26107
wait "$LISTENER" || true
kill "$HAPROXY_PID"
wait "$HAPROXY_PID" || true
for f in "$OUT"/*.bin; do
    name=$(basename "$f")
    # The client's payload is not part of the header.
    python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.stdout.buffer.write(d[:-6] if d.endswith(b"hello\n") else d)' "$f" > "$name"
done
rm -r "$OUT"
ls -l ./*.bin
