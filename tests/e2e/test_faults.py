"""Faults: a full ring buffer, a process killed mid-request, fd and pid
reuse, a restart; and traced programs see exactly what they saw untraced."""
import hashlib
import os
import signal
import socket
import subprocess
import tempfile
import time

from conftest import PY, Server, by, free_port, run
from test_http import NGINX_CONF


def test_ring_buffer_overflow_counted_exactly(tracer):
    """spantap stopped (SIGSTOP) while a burst fills its 1 MiB ring buffer:
    every event the kernel made is either received or counted lost, and the
    spans that come out are whole and correctly paired"""
    n = 3000
    code = r"""
import socket, sys, threading
n = int(sys.argv[1])
CODES = [200, 201, 202, 203, 206, 207, 208, 226, 250, 299]  # never 204: it has no body
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
print(srv.getsockname()[1], flush=True)
def serve():
    c, _ = srv.accept()
    while True:
        req = c.recv(65536)
        if not req:
            return
        i = int(req.split(b"i=")[1].split(b" ")[0])
        # the status names the request: a response paired with the wrong
        # request would show it
        c.sendall(b"HTTP/1.1 " + str(CODES[i % 10]).encode() + b" OK\r\nContent-Length: 1000\r\n\r\n" + b"r" * 1000)
threading.Thread(target=serve, daemon=True).start()
sys.stdin.readline()
s = socket.create_connection(srv.getsockname())
pad = "p" * 900
def ask(i):
    s.sendall(("GET /x?i=%d HTTP/1.1\r\nHost: h\r\nX-Pad: %s\r\n\r\n" % (i, pad)).encode())
    got = 0
    while got < 1000 + 40:
        got += len(s.recv(65536))
for i in range(n):
    ask(i)
print("done", flush=True)
sys.stdin.readline()
ask(n)  # one more, once spantap reads again
print("done", flush=True)
sys.stdin.readline()
"""
    # on one CPU: spantap has a ring per CPU, and a thread that moved
    # between a full ring and an empty one would lose events twice
    p = subprocess.Popen(["taskset", "-c", "0", PY, "-c", code, str(n)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        p.stdout.readline()
        t = tracer("--pid", str(p.pid), "--ringbuf-mb", "1", "--stats")
        t.proc.send_signal(signal.SIGSTOP)
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "done"
        t.proc.send_signal(signal.SIGCONT)
        time.sleep(0.5)
        p.stdin.write("one\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "done"
        spans = t.stop(settle=1.0)
    finally:
        p.stdin.write("exit\n")
        p.stdin.flush()
        p.wait(timeout=10)
    lost, received = t.counter("lost_events"), t.counter("events")
    # the ring buffer really overflowed
    assert lost > 0 and received > 0
    # 4 events per exchange (request write and read, response write and
    # read, each one syscall): all accounted for, none counted twice
    assert received + lost == 4 * (n + 1), (received, lost)
    for kind in ("client", "server"):
        ks = [s for s in spans if s["kind"] == kind]
        ids = [int(s["tags"]["url.query"].split("=")[1]) for s in ks]
        assert len(ids) == len(set(ids)) and 0 < len(ids) < n
        codes = [200, 201, 202, 203, 206, 207, 208, 226, 250, 299]
        for s, i in zip(ks, ids):
            if "http.status_code" in s["tags"]:
                assert s["tags"]["http.status_code"] == codes[i % 10], s
            else:
                # its response was lost, but its peer's span names it as
                # parent: emitted, marked
                assert s["tags"]["error.type"] == "events_lost"
        assert sum("http.status_code" not in s["tags"] for s in ks) <= 1
        # after the loss, the connection is picked up again at once
        assert ids[-1] == n
    assert t.counter("gaps") == 2
    # no orphans: every server span's parent is a client span that was emitted
    client_ids = {s["span_id"] for s in spans if s["kind"] == "client"}
    assert all(s["parent_span_id"] in client_ids for s in spans if s["kind"] == "server")


def test_process_killed_mid_request(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    curl = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/slow?ms=5000" % app.port])
    time.sleep(0.7)
    app.proc.kill()
    curl.wait(timeout=10)
    spans = t.stop()
    # the request happened: one span each side, both failed, none other
    assert [(s["kind"], s["name"]) for s in spans] == [("server", "GET /slow"), ("client", "GET")] or \
        sorted((s["kind"], s["name"]) for s in spans) == [("client", "GET"), ("server", "GET /slow")]
    for s in spans:
        assert s["error"] and s["tags"]["error.type"] == "no_response"
        assert 500_000 <= s["duration_us"] <= 3_000_000
    server = by(spans, kind="server")[0]
    assert server["pid"] == app.proc.pid


def test_fd_reused_by_dup2_is_a_new_connection(tracer, httpapp):
    a, b = httpapp(), httpapp()
    t = tracer("--port", str(a.port), "--port", str(b.port))
    code = r"""
import os, socket
def ask(fd, path):
    os.write(fd, b"GET %%s HTTP/1.1\r\nHost: h\r\n\r\n" %% path)
    got = b""
    while b"\r\n\r\n" not in got or not got.endswith(b"\n"):
        got += os.read(fd, 65536)
sa = socket.create_connection(("127.0.0.1", %d))
ask(sa.fileno(), b"/hello?to=a")
sb = socket.create_connection(("127.0.0.1", %d))
os.dup2(sb.fileno(), sa.fileno())  # sa's fd now names the connection to b
ask(sa.fileno(), b"/hello?to=b")
""" % (a.port, b.port)
    run(PY, "-c", code)
    spans = t.stop()
    clients = by(spans, kind="client")
    assert [(c["tags"]["url.query"], c["tags"]["peer.port"]) for c in clients] == [("to=a", a.port),
                                                                                     ("to=b", b.port)]
    assert all(not c["error"] for c in clients)
    # (a span may be held while its trace is decided: order by start)
    servers = sorted(by(spans, kind="server"), key=lambda s: s["start_us"])
    assert [s["pid"] for s in servers] == [a.proc.pid, b.proc.pid]
    assert [s["parent_span_id"] for s in servers] == [c["span_id"] for c in clients]


def test_pid_reuse_is_a_new_process(tracer, httpapp):
    """a process exits without closing its connection; a new process gets
    its pid and uses the same fd number for another connection"""
    app = httpapp()
    t = tracer("--port", str(app.port))
    first = r"""
import os, socket
s = socket.create_connection(("127.0.0.1", %d))
os.dup2(s.fileno(), 100)
os.write(100, b"GET /hello?who=first HTTP/1.1\r\nHost: h\r\n\r\n")
os.read(100, 65536)
os._exit(0)  # no close(): the kernel closes the fds
""" % app.port
    second = r"""
import os
os.write(100, b"GET /hello?who=second HTTP/1.1\r\nHost: h\r\n\r\n")
os.read(100, 65536)
"""
    s2 = socket.create_connection(("127.0.0.1", app.port))
    port2 = s2.getsockname()[1]
    os.dup2(s2.fileno(), 100)
    try:
        # another task may take the freed pid first: then start over
        for _ in range(10):
            a = subprocess.Popen([PY, "-c", first])
            a.wait(timeout=10)
            pid = a.pid
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(pid - 1))
            b = subprocess.Popen([PY, "-c", second], pass_fds=[100])
            b.wait(timeout=10)
            if b.pid == pid:
                break
        else:
            raise AssertionError("could not get a pid again")
    finally:
        os.close(100)
        s2.close()
    spans = t.stop()
    clients = {c["tags"]["url.query"]: c for c in by(spans, kind="client") if c["pid"] == pid}
    # the second process's request is on its own connection, not glued to
    # the first process's (whose pid and fd number it reuses)
    assert clients["who=second"]["tags"]["network.local.port"] == port2
    assert clients["who=first"]["tags"]["network.local.port"] != port2
    assert not clients["who=second"]["error"] and not clients["who=first"]["error"]


def test_restart_picks_up_open_connections(tracer, httpapp):
    app = httpapp()
    code = r"""
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", %d)
for line in sys.stdin:
    c.request("GET", "/hello?n=" + line.strip()); c.getresponse().read()
    print("ok", flush=True)
""" % app.port
    p = subprocess.Popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(n):
        p.stdin.write("%d\n" % n)
        p.stdin.flush()
        assert p.stdout.readline().strip() == "ok"
    try:
        t1 = tracer("--port", str(app.port))
        ask(1)
        first = t1.stop()
        ask(2)  # nobody tracing
        t2 = tracer("--port", str(app.port))
        ask(3)
        ask(4)
        second = t2.stop()
    finally:
        p.stdin.close()
        p.wait(timeout=10)
    assert sorted((s["kind"], s["tags"]["url.query"]) for s in first) == [("client", "n=1"), ("server", "n=1")]
    assert sorted((s["kind"], s["tags"]["url.query"]) for s in second) == [
        ("client", "n=3"), ("client", "n=4"), ("server", "n=3"), ("server", "n=4")]
    assert all(not s["error"] for s in first + second)


def workload(nginx_port, app_port, redis_port):
    """what each client saw: (label, exit code, sha256 of its output)"""
    out = []
    base, app = "http://127.0.0.1:%d" % nginx_port, "http://127.0.0.1:%d" % app_port
    for url in (base + "/index.html", base + "/large.bin", base + "/missing", base + "/chunky?n=3",
                app + "/hello", app + "/chunked?n=4", app + "/big?size=3000000", app + "/status/503"):
        r = subprocess.run(["curl", "-s", "-D", "-", url], capture_output=True)
        # Date headers differ from run to run; everything else must not
        body = b"\n".join(l for l in r.stdout.split(b"\n") if not l.lower().startswith(b"date:"))
        out.append((url.split(":", 2)[2][5:], r.returncode, hashlib.sha256(body).hexdigest()))
    r = subprocess.run(["curl", "-s", "--data-binary", "@/dev/stdin", app + "/upload"], input=os.urandom(0) +
                       b"u" * 2_000_000, capture_output=True)
    out.append(("upload", r.returncode, r.stdout))
    blob = bytes(range(1, 256)) * 64
    for args in (["SET", "blob", blob], ["GET", "blob"], ["RPUSH", "l", "a", "b\r\nc"], ["LRANGE", "l", "0", "-1"],
                 ["INCR", "blob"], ["DEL", "l"]):
        r = subprocess.run(["redis-cli", "-p", str(redis_port), "--no-raw"] + args, capture_output=True)
        out.append((str(args[:2])[:40], r.returncode, hashlib.sha256(r.stdout).hexdigest()))
    w = subprocess.run(["wrk", "-t1", "-c8", "-d1", base + "/index.html"], capture_output=True, text=True)
    errors = [l.strip() for l in w.stdout.splitlines() if "error" in l.lower() or "Non-2xx" in l]
    out.append(("wrk errors", w.returncode, errors))
    return out


def test_traced_programs_see_the_same_bytes(tracer, httpapp, redis_server):
    app = httpapp()
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(d + "/www")
        with open(d + "/www/index.html", "w") as f:
            f.write("<h1>hi</h1>\n")
        with open(d + "/www/large.bin", "wb") as f:
            f.write(os.urandom(2_000_000))
        port = free_port()
        with open(d + "/nginx.conf", "w") as f:
            f.write(NGINX_CONF % {"dir": d, "port": port, "up": app.port})
        ngx = Server(["nginx", "-c", d + "/nginx.conf", "-e", d + "/error.log"], port)
        try:
            untraced = workload(port, app.port, redis_server.port)
            t = tracer("--port", str(port), "--port", str(app.port), "--port", str(redis_server.port))
            traced = workload(port, app.port, redis_server.port)
            spans = t.stop()
        finally:
            ngx.stop()
    assert traced == untraced
    assert all(code == 0 for _, code, _ in traced)
    assert len(spans) > 1000  # wrk's requests too: spantap was really there
