"""Captures HAProxy 2.6's log datagrams for weir's golden tests.

Run: TZ=Asia/Kolkata python3 capture.py haproxy.cfg > haproxy-local.txt
     TZ=America/St_Johns python3 capture.py haproxy.cfg hostname > haproxy-hostname.txt
(the second adds `log-send-hostname` and `log-tag gtag` to `global`).
Each output line: the target (UDP port or `unix`), a space, the datagram
without its final newline; then `stdout-null` lines tell which sessions
were logged. Sessions: fe (3 bytes in, "hello abc" back), fe2 (4 bytes
in), fe3 with no byte (dontlognull: not logged), fe3 with 2 bytes.
"""
import os, select, socket, subprocess, sys, tempfile, threading, time

cfg = open(sys.argv[1]).read()
if len(sys.argv) > 2 and sys.argv[2] == "hostname":
    cfg = cfg.replace("global\n", "global\n    log-send-hostname\n    log-tag gtag\n", 1)
os.makedirs("/tmp/weir-golden", exist_ok=True)
path = "/tmp/weir-golden/log.sock"
if os.path.exists(path):
    os.unlink(path)
socks = {}
for port in range(5514, 5524):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    socks[s] = str(port)
u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
u.bind(path)
socks[u] = "unix"

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 7100))
srv.listen(16)

def serve():
    while True:
        c, _ = srv.accept()
        def talk(c):
            try:
                d = c.recv(100)
                if d:
                    c.sendall(b"hello " + d)
                c.recv(100)
            except OSError:
                pass
            c.close()
        threading.Thread(target=talk, args=(c,), daemon=True).start()

threading.Thread(target=serve, daemon=True).start()
with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
    f.write(cfg)
hap = subprocess.Popen(["haproxy", "-f", f.name, "-db"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
time.sleep(1.5)

def client(port, data):
    c = socket.create_connection(("127.0.0.1", port))
    if data:
        c.sendall(data)
        c.recv(100)
    c.close()
    time.sleep(0.2)

client(7000, b"abc")
client(7001, b"abcd")
client(7002, b"")
client(7002, b"xy")
time.sleep(0.3)
hap.terminate()
hap.wait()
lines = []
end = time.time() + 0.5
while time.time() < end:
    ready, _, _ = select.select(list(socks), [], [], 0.1)
    for s in ready:
        d = s.recv(70000)
        assert d.endswith(b"\n") and d.count(b"\n") == 1, d
        lines.append(socks[s] + " " + d[:-1].decode())
for line in sorted(lines, key=lambda l: l.split(" ")[0]):
    print(line)
