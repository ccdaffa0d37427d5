"""Hostile traffic on traced sockets: garbage, huge header lines, a client
sending a byte at a time, half-closed sockets and 10,000 open connections.
spantap must not crash, must stay within its bounds and must not invent
spans; the servers must answer as they would untraced."""
import os
import random
import resource
import socket
import subprocess
import tempfile
import time

from conftest import Server, by, free_port, run
from test_http import NGINX_CONF


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def exchange(port, data, shut=False, timeout=2.0):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(timeout)
        got = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except (socket.timeout, ConnectionResetError):
            pass
        return got


def test_garbage_on_http_and_redis_ports(tracer, httpapp, redis_server):
    app = httpapp()
    t = tracer("--port", str(app.port), "--port", str(redis_server.port))
    rnd = random.Random(7)
    for _ in range(20):
        blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 3000)))
        exchange(app.port, blob, timeout=0.3)
        exchange(redis_server.port, blob, timeout=0.3)
    # things that start right and go wrong
    exchange(redis_server.port, b"*3\r\n$3\r\nSET\r\n$999999999999\r\nx", timeout=0.3)
    exchange(redis_server.port, b"*2\r\n$3\r\nGET\r\n:notbulk\r\n", timeout=0.3)
    exchange(app.port, b"GET /hello HTTP/1.1\r\nContent-Length: -5\r\n\r\n", timeout=0.3)
    exchange(app.port, b"POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", timeout=0.3)
    # then real traffic, which still works and is traced
    run("curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
    run("redis-cli", "-p", str(redis_server.port), "PING")
    spans = t.stop()
    real = [(s["kind"], s["name"]) for s in spans if s["name"] in ("GET /hello", "GET", "PING")
            and s["service"] in ("httpapp", "curl", "redis-server", "redis-cli")]
    assert ("server", "GET /hello") in real and ("client", "PING") in real and ("server", "PING") in real
    # anything else that was emitted is a request that was really made by
    # the garbage senders (a random blob is never one), and it is marked
    others = [s for s in spans if s["service"] not in ("curl", "redis-cli") and s["name"] not in ("GET /hello", "PING")]
    for s in others:
        assert s["name"] in ("SET", "GET", "POST", "POST /upload"), s
    assert t.counter("parse_errors") > 0


def test_64k_header_lines(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    big = "X-Big: " + "b" * 65536
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", big,
                        "http://127.0.0.1:%d/hello" % app.port], capture_output=True, text=True)
    status_big = int(r.stdout)
    long_line = b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    exchange(app.port, long_line, timeout=1.0)
    run("curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/hello?after=1" % app.port)
    spans = t.stop()
    servers = by(spans, kind="server")
    # the request with a 64 KiB header is one span named by its request
    # line, with the status the server gave it
    big_spans = [s for s in servers if s["tags"].get("http.status_code") == status_big and s["name"] == "GET /hello"
                 and "url.query" not in s["tags"]]
    assert len(big_spans) == 1
    # the 64 KiB request line: no span claims a path it did not see whole
    # (truncated heads are counted), and the request after works
    assert [s for s in servers if s["tags"].get("url.query") == "after=1"]
    assert t.counter("truncated_heads") + t.counter("reasm_full") + t.counter("parse_errors") >= 1
    assert len(spans) <= 6


def test_client_sending_a_byte_at_a_time(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    req = b"GET /hello?slow=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    t0 = time.time()
    with socket.create_connection(("127.0.0.1", app.port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(req)):
            s.send(req[i:i + 1])
            time.sleep(0.1)
        s.settimeout(3)
        got = s.recv(65536)
    elapsed = time.time() - t0
    assert got.startswith(b"HTTP/1.1 200")
    spans = t.stop()
    # the kernel keeps a start too short to classify and decides with the
    # next bytes: one exchange, both ends, timed from the first byte
    assert sorted((s["kind"], s["name"]) for s in spans) == [("client", "GET"), ("server", "GET /hello")]
    client, server = by(spans, kind="client")[0], by(spans, kind="server")[0]
    assert client["tags"]["url.query"] == server["tags"]["url.query"] == "slow=1"
    assert client["duration_us"] >= (len(req) - 1) * 0.1 * 1e6 * 0.9
    assert client["duration_us"] <= elapsed * 1e6
    assert server["parent_span_id"] == client["span_id"]
    assert all(not s["error"] for s in spans)


def test_half_closed_sockets(tracer, httpapp, redis_server):
    app = httpapp()
    t = tracer("--port", str(app.port), "--port", str(redis_server.port))
    # HTTP/1.0 style: the client closes its side after the request
    got = exchange(app.port, b"GET /hello?half=1 HTTP/1.0\r\n\r\n", shut=True)
    assert got.startswith(b"HTTP/1.1 200")
    got = exchange(redis_server.port, b"*1\r\n$4\r\nPING\r\n", shut=True)
    assert got == b"+PONG\r\n"
    spans = t.stop()
    names = sorted((s["kind"], s["name"]) for s in spans)
    assert names == [("client", "GET"), ("client", "PING"), ("server", "GET /hello"), ("server", "PING")]
    assert all(not s["error"] for s in spans)


NGINX_10K = NGINX_CONF.replace("worker_connections 256;", "worker_connections 12000;").replace(
    "worker_processes 1;", "worker_processes 1;\nworker_rlimit_nofile 30000;")


def test_10000_connections_held_open(tracer, httpapp):
    n = 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # raise the hard limit if allowed (CAP_SYS_RESOURCE), else use it all;
    # nginx inherits it
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 30000), max(hard, 30000)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, hard), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= n + 1000, "needs 11,000 file descriptors"
    app = httpapp()
    socks = []
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(d + "/www")
        with open(d + "/www/index.html", "w") as f:
            f.write("hi\n")
        port = free_port()
        with open(d + "/nginx.conf", "w") as f:
            f.write(NGINX_10K % {"dir": d, "port": port, "up": app.port})
        ngx = Server(["nginx", "-c", d + "/nginx.conf", "-e", d + "/error.log"], port)
        try:
            t = tracer("--port", str(port))
            rss0 = rss_kb(t.proc.pid)
            req = b"GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n"
            for i in range(n):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(req)
                socks.append(s)
                if i % 500 == 499:
                    for s2 in socks[-500:]:
                        s2.settimeout(5)
                        assert s2.recv(4096).startswith(b"HTTP/1.1 200")
            time.sleep(1)
            rss1 = rss_kb(t.proc.pid)
            # all of them still open; one more request on each of 100
            for s in socks[:100]:
                s.sendall(req)
                assert s.recv(4096).startswith(b"HTTP/1.1 200")
            spans = t.stop()
        finally:
            for s in socks:
                s.close()
            ngx.stop()
    assert len(by(spans, kind="server")) == n + 100
    assert len(by(spans, kind="client")) == n + 100
    assert all(not s["error"] for s in spans)
    assert t.counter("conns_evicted") == 0 and t.counter("lost_events") == 0
    # 20,000 followed connections (both ends) cost bounded memory
    assert rss1 - rss0 < 64 * 1024, (rss0, rss1)
