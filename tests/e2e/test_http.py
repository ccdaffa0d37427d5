"""HTTP/1.x end to end: real servers (a Python keep-alive server, nginx) and
real clients (curl, raw sockets) under the real tracer."""
import os
import socket
import subprocess
import tempfile
import time

from conftest import PY, Server, free_port, run, within


def kinds(spans, kind, service=None):
    return [s for s in spans if s["kind"] == kind and (service is None or s["service"] == service)]


def test_keepalive_curl_one_connection(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    base = "http://127.0.0.1:%d" % app.port
    run("curl", "-s", "-o", "/dev/null", base + "/hello", base + "/status/404", base + "/status/500",
        base + "/hello?q=widgets&page=2")
    spans = t.stop()
    client, server = kinds(spans, "client", "curl"), kinds(spans, "server", "httpapp")
    assert len(client) == 4 and len(server) == 4, spans
    assert len(spans) == 8
    assert [s["name"] for s in server] == ["GET /hello", "GET /status/404", "GET /status/500", "GET /hello"]
    assert [s["name"] for s in client] == ["GET"] * 4
    assert [s["tags"]["http.response.status_code"] for s in server] == [200, 404, 500, 200]
    assert [s["tags"]["http.status_code"] for s in client] == [200, 404, 500, 200]
    # a server's 4xx is not its error; a client's is
    assert [s["error"] for s in server] == [False, False, True, False]
    assert [s["error"] for s in client] == [False, True, True, False]
    assert server[2]["tags"]["error"] is True and server[2]["tags"]["error.type"] == "500"
    assert server[3]["tags"]["url.query"] == "q=widgets&page=2"
    assert server[3]["tags"]["http.target"] == "/hello?q=widgets&page=2"
    assert client[3]["tags"]["url.full"] == base + "/hello?q=widgets&page=2"
    # keep-alive: one connection, so one client port for all four
    assert len({s["tags"]["network.local.port"] for s in client}) == 1
    for c, s in zip(client, server):
        assert c["tags"]["network.local.port"] == s["tags"]["client.port"]
        assert s["tags"]["server.port"] == app.port and c["tags"]["server.port"] == app.port
        assert s["tags"]["client.address"] == "127.0.0.1"
        assert c["tags"]["peer.address"] == "127.0.0.1:%d" % app.port
        assert s["tags"]["span.kind"] == "server" and c["tags"]["span.kind"] == "client"
        assert c["tags"]["http.request.method"] == "GET" and c["tags"]["http.method"] == "GET"
        assert s["tags"]["user_agent.original"].startswith("curl/")
        assert within(s, c), (s, c)
        assert 0 < s["duration_us"] < 2_000_000 and 0 < c["duration_us"] < 2_000_000
        assert len(c["trace_id"]) == 32 and len(c["span_id"]) == 16 and c["span_id"] != "0" * 16
    assert len({s["span_id"] for s in spans}) == 8
    assert t.counter("parse_errors") == 0


def test_pipelined_requests_on_raw_socket(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: pipe\r\n\r\n" % p for p in (b"/hello", b"/status/201", b"/big?size=70000"))
    with socket.create_connection(("127.0.0.1", app.port)) as s:
        s.sendall(reqs)  # all three before the first response
        got = b""
        while got.count(b"HTTP/1.1 ") < 3 or not got.endswith(b"x" * 100):
            chunk = s.recv(65536)
            assert chunk
            got += chunk
    spans = t.stop()
    server = kinds(spans, "server", "httpapp")
    assert [s["name"] for s in server] == ["GET /hello", "GET /status/201", "GET /big"]
    assert [s["tags"]["http.status_code"] for s in server] == [200, 201, 200]
    assert all(s["tags"]["server.address"] == "pipe" for s in server)
    client = kinds(spans, "client")
    assert [c["tags"]["url.path"] for c in client] == ["/hello", "/status/201", "/big"]
    assert [c["tags"]["http.status_code"] for c in client] == [200, 201, 200]
    # pipelined requests start together; responses end in order
    ends = [c["start_us"] + c["duration_us"] for c in client]
    assert ends == sorted(ends)


def test_chunked_response(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    base = "http://127.0.0.1:%d" % app.port
    out = run("curl", "-s", base + "/chunked?n=5", base + "/hello").stdout
    assert out.count(b"chunk") == 5
    spans = t.stop()
    server, client = kinds(spans, "server", "httpapp"), kinds(spans, "client", "curl")
    assert [s["name"] for s in server] == ["GET /chunked", "GET /hello"]
    assert [c["tags"]["url.path"] for c in client] == ["/chunked", "/hello"]
    # five chunks 10 ms apart: the span lasts until the last chunk
    assert server[0]["duration_us"] >= 45_000 and client[0]["duration_us"] >= 45_000
    assert within(server[0], client[0])


def test_bodies_larger_than_capture_window(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    base = "http://127.0.0.1:%d" % app.port
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"y" * 3_000_000)
        f.flush()
        run("curl", "-s", "-o", "/dev/null", base + "/big?size=5000000", "-o", "/dev/null",
            base + "/hello")
        out = run("curl", "-s", "--data-binary", "@" + f.name, base + "/upload", "--next", "-s", base + "/hello").stdout
    assert out.startswith(b"3000000\n")
    spans = t.stop()
    server = kinds(spans, "server", "httpapp")
    assert [s["name"] for s in server] == ["GET /big", "GET /hello", "POST /upload", "GET /hello"]
    assert all(s["tags"]["http.status_code"] == 200 for s in server)
    client = kinds(spans, "client", "curl")
    assert [c["tags"]["url.path"] for c in client] == ["/big", "/hello", "/upload", "/hello"]
    for c, s in zip(client, server):
        assert within(s, c, slack_us=5000)
    assert t.counter("parse_errors") == 0


def test_non_http_bytes_make_no_span(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    payloads = [os.urandom(512), b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + os.urandom(100),
                b"GET \x00\x01\x02 garbage\r\n\r\n", b"SSH-2.0-OpenSSH_9.2\r\n", b"*1\r\n$4\r\nPING\r\n"]
    for p in payloads:
        with socket.create_connection(("127.0.0.1", app.port)) as s:
            s.sendall(p)
            s.settimeout(2)
            try:
                while s.recv(4096):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass
    # the server still works, and only the real request is a span
    run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
    spans = t.stop()
    assert [s["name"] for s in kinds(spans, "server")] == ["GET /hello"], spans
    assert len(kinds(spans, "client")) == 1
    assert t.counter("parse_errors") >= 1


def test_client_connected_before_spantap(tracer, httpapp):
    app = httpapp()
    code = r"""
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", %d)
c.request("GET", "/hello"); c.getresponse().read()
print("ready", flush=True)
sys.stdin.readline()
for p in ("/status/202", "/hello?n=2"):
    c.request("GET", p); c.getresponse().read()
print("done", flush=True)
""" % app.port
    p = subprocess.Popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    t = tracer("--port", str(app.port))
    p.stdin.write("go\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "done"
    p.wait(timeout=10)
    spans = t.stop()
    assert [s["name"] for s in kinds(spans, "server", "httpapp")] == ["GET /status/202", "GET /hello"]
    client = kinds(spans, "client")
    assert [c["tags"]["http.target"] for c in client] == ["/status/202", "/hello?n=2"]
    assert [c["tags"]["http.status_code"] for c in client] == [202, 200]


def test_secrets_never_printed(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    run("curl", "-s", "-o", "/dev/null", "-H", "Authorization: Bearer SECRETBEARER1",
        "-H", "Cookie: session=SECRETCOOKIE2", "-H", "X-Api-Key: SECRETAPIKEY3",
        "-H", "Proxy-Authorization: Basic SECRETPROXY4",
        "http://127.0.0.1:%d/hello?user=bob&password=SECRETPASS5&access_token=SECRETTOKEN6" % app.port)
    spans = t.stop()
    assert len(spans) == 2
    for secret in ("SECRETBEARER1", "SECRETCOOKIE2", "SECRETAPIKEY3", "SECRETPROXY4", "SECRETPASS5",
                   "SECRETTOKEN6"):
        assert secret not in t.raw and secret not in t.stderr
    server = kinds(spans, "server")[0]
    assert server["tags"]["url.query"] == "user=bob&password=?&access_token=?"


def test_service_name_from_environment(tracer, httpapp):
    app = httpapp({"OTEL_SERVICE_NAME": "frontend"})
    t = tracer("--port", str(app.port))
    run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
    spans = t.stop()
    assert [s["service"] for s in kinds(spans, "server")] == ["frontend"]
    assert [s["service"] for s in kinds(spans, "client")] == ["curl"]


def test_pid_filter(tracer, httpapp):
    a, b = httpapp(), httpapp()
    t = tracer("--pid", str(a.proc.pid))
    for app in (a, b):
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
    spans = t.stop()
    assert [(s["kind"], s["pid"], s["tags"]["server.port"]) for s in spans] == [("server", a.proc.pid, a.port)]


NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
user root;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(dir)s;
    proxy_temp_path %(dir)s;
    fastcgi_temp_path %(dir)s;
    uwsgi_temp_path %(dir)s;
    scgi_temp_path %(dir)s;
    server {
        listen 127.0.0.1:%(port)d;
        root %(dir)s/www;
        location /api/ { return 503 "busy\\n"; }
        location /chunky { proxy_pass http://127.0.0.1:%(up)d/chunked; proxy_http_version 1.1; proxy_buffering off; }
    }
}
"""


def test_nginx(tracer, httpapp):
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
            t = tracer("--port", str(port), "--port", str(app.port))
            base = "http://127.0.0.1:%d" % port
            run("curl", "-s", "-o", "/dev/null", base + "/index.html", "-o", "/dev/null", base + "/large.bin",
                "-o", "/dev/null", base + "/missing", "-o", "/dev/null", base + "/api/x", "-o", "/dev/null",
                base + "/chunky?n=3", "-o", "/dev/null", base + "/index.html")
            spans = t.stop()
        finally:
            ngx.stop()
    ngx_server = kinds(spans, "server", "nginx")
    assert [s["name"] for s in ngx_server] == ["GET /index.html", "GET /large.bin", "GET /missing", "GET /api/x",
                                               "GET /chunky", "GET /index.html"]
    assert [s["tags"]["http.status_code"] for s in ngx_server] == [200, 200, 404, 503, 200, 200]
    assert [s["error"] for s in ngx_server] == [False, False, False, True, False, False]
    client = kinds(spans, "client", "curl")
    assert [c["tags"]["http.status_code"] for c in client] == [200, 200, 404, 503, 200, 200]
    # nginx's own upstream call, and the app's side of it
    up = kinds(spans, "client", "nginx")
    assert [(u["name"], u["tags"]["url.path"], u["tags"]["http.status_code"]) for u in up] == [("GET", "/chunked", 200)]
    assert [s["name"] for s in kinds(spans, "server", "httpapp")] == ["GET /chunked"]
    assert within(up[0], ngx_server[4])
    # nginx's worker served exactly that request when it called upstream
    assert up[0]["parent_span_id"] == ngx_server[4]["span_id"] and up[0]["trace_id"] == ngx_server[4]["trace_id"]


def test_ipv6_and_v4_mapped(tracer, httpapp):
    app = httpapp(bind="::")  # dual stack: IPv4 clients appear v4-mapped
    t = tracer("--port", str(app.port))
    run("curl", "-s", "-g", "-o", "/dev/null", "http://[::1]:%d/hello" % app.port)
    run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/status/204" % app.port)
    spans = t.stop()
    server = kinds(spans, "server", "httpapp")
    assert [s["name"] for s in server] == ["GET /hello", "GET /status/204"]
    assert server[0]["tags"]["client.address"] == "::1"
    assert server[0]["tags"]["network.type"] == "ipv6" and server[0]["tags"]["peer.ipv6"] == "::1"
    assert server[0]["tags"]["peer.address"] == "[::1]:%d" % server[0]["tags"]["client.port"]
    # ::ffff:127.0.0.1 is shown as the IPv4 address it is
    assert server[1]["tags"]["client.address"] == "127.0.0.1"
    assert server[1]["tags"]["peer.ipv4"] == "127.0.0.1"
    client = kinds(spans, "client", "curl")
    assert [c["tags"]["network.peer.address"] for c in client] == ["::1", "127.0.0.1"]
    assert [c["tags"]["http.status_code"] for c in client] == [200, 204]


def test_http10(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    base = "http://127.0.0.1:%d" % app.port
    run("curl", "-s", "--http1.0", "-o", "/dev/null", base + "/hello", "-o", "/dev/null", base + "/big?size=200000")
    # a server that answers HTTP/1.0 with no length: the body ends at close
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        t2 = tracer("--port", str(port))
        cl = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/old" % port])
        conn, _ = srv.accept()
        while b"\r\n\r\n" not in conn.recv(4096):
            pass
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        time.sleep(0.2)
        conn.sendall(b"z" * 10000)
        conn.close()
        cl.wait(timeout=10)
        old = t2.stop()
    spans = t.stop(settle=0)
    assert [s["name"] for s in kinds(spans, "server", "httpapp")] == ["GET /hello", "GET /big"]
    client = kinds(spans, "client", "curl")
    # The server answers 1.0 requests with an HTTP/1.1 status line, then
    # closes: depending on timing curl writes the second request into the
    # dying connection, reads EOF and retries on a new one. That write was
    # real, and spantap reports it as a failed request, never as a success.
    retried = [c for c in client if c["tags"].get("error.type") == "no_response"]
    assert len(retried) <= 1 and all(c["tags"]["url.path"] == "/big" for c in retried), client
    ok = [c for c in client if c not in retried]
    assert [c["tags"]["network.protocol.version"] for c in ok] == ["1.0", "1.0"], client
    assert [c["tags"]["http.status_code"] for c in ok] == [200, 200]
    # HTTP/1.0: one connection per request
    assert len({c["tags"]["network.local.port"] for c in ok}) == 2
    oc = kinds(old, "client", "curl")
    assert [(c["tags"]["url.path"], c["tags"]["http.status_code"]) for c in oc] == [("/old", 200)]
    assert oc[0]["duration_us"] >= 150_000  # until the close, after the 200 ms pause


def test_head_larger_than_capture_window(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port), "--capture-bytes", "1024")
    hdrs = []
    for i in range(40):
        hdrs += ["-H", "X-Filler-%02d: %s" % (i, "f" * 100)]
    run("curl", "-s", "-o", "/dev/null", *hdrs, "http://127.0.0.1:%d/status/202?x=1" % app.port,
        "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
    spans = t.stop()
    server = kinds(spans, "server", "httpapp")
    # the 4 KiB head is cut at 1 KiB: its request line still names the span
    assert [s["name"] for s in server] == ["GET /status/202", "GET /hello"]
    assert [s["tags"]["http.status_code"] for s in server] == [202, 200]
    client = kinds(spans, "client", "curl")
    assert [c["tags"]["url.path"] for c in client] == ["/status/202", "/hello"]
    assert t.counter("truncated_heads") >= 1


def test_incoming_and_outgoing_trace_context(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port))
    base = "http://127.0.0.1:%d" % app.port
    cases = [
        ("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
         "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "0000000000000000"),
        ("uber-trace-id: abc123%3A5e3ac9a4f6e3b90%3A1234%3A1",
         "00000000000000000000000000abc123", "05e3ac9a4f6e3b90", "0000000000001234"),
        ("b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
         "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", "05e3ac9a4f6e3b90"),
    ]
    for hdr, _, _, _ in cases:
        run("curl", "-s", "-o", "/dev/null", "-H", hdr, base + "/hello")
    # multi-header B3, and an invalid traceparent (version ff) that is ignored
    run("curl", "-s", "-o", "/dev/null", "-H", "X-B3-TraceId: 463ac35c9f6413ad48485a3953bb6124",
        "-H", "X-B3-SpanId: a2fb4a1d1a96d312", "-H", "X-B3-Sampled: 1", base + "/hello")
    run("curl", "-s", "-o", "/dev/null", "-H",
        "traceparent: ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", base + "/hello")
    spans = t.stop()
    server, client = kinds(spans, "server", "httpapp"), kinds(spans, "client", "curl")
    assert len(server) == 5 and len(client) == 5
    cases.append(("", "463ac35c9f6413ad48485a3953bb6124", "a2fb4a1d1a96d312", "0000000000000000"))
    for (_, trace, sid, parent), s, c in zip(cases, server, client):
        # the server continues the caller's trace, under the caller's span
        assert s["trace_id"] == trace and s["parent_span_id"] == sid
        # the instrumented client's request names its span: spantap's client
        # span is that span, so the server span is its child
        assert c["trace_id"] == trace and c["span_id"] == sid and c["parent_span_id"] == parent
    # the invalid header starts nothing: fresh, unrelated ids
    assert server[4]["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert client[4]["span_id"] != "00f067aa0ba902b7" and client[4]["parent_span_id"] == "0" * 16
    # ...but the two ends are still linked on this host, by their 4-tuple
    assert server[4]["parent_span_id"] == client[4]["span_id"] and server[4]["trace_id"] == client[4]["trace_id"]


def test_client_calls_nest_under_the_request_being_served(tracer, httpapp, redis_server):
    front, back = httpapp(), httpapp()
    t = tracer("--port", str(front.port), "--port", str(back.port), "--port", str(redis_server.port))
    url = "http://127.0.0.1:%d/call?port=%d&path=/hello&redis=%d" % (front.port, back.port, redis_server.port)
    # two requests on one keep-alive connection: one thread serves both
    run("curl", "-s", "-o", "/dev/null", url + "&n=1", "-o", "/dev/null", url + "&n=2")
    run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % back.port)
    spans = t.stop()
    fs = [s for s in spans if s["kind"] == "server" and s["pid"] == front.proc.pid]
    fc = [s for s in spans if s["kind"] == "client" and s["pid"] == front.proc.pid]
    assert [s["tags"]["url.query"][-3:] for s in fs] == ["n=1", "n=2"]
    assert [(c["name"], c["tags"].get("url.path", c["tags"].get("db.query.text"))) for c in fc] == [
        ("GET", "/hello"), ("GET", "GET counter"), ("GET", "/hello"), ("GET", "GET counter")]
    for i, server in enumerate(fs):
        kids = fc[2 * i:2 * i + 2]
        # each call is a child of the request its thread was serving, in its trace
        assert all(k["parent_span_id"] == server["span_id"] for k in kids), (server, kids)
        assert all(k["trace_id"] == server["trace_id"] for k in kids)
        assert all(k["tid"] == server["tid"] for k in kids)
        assert all(within(k, server) for k in kids)
    # no context leaks from one request into the next
    assert fs[0]["trace_id"] != fs[1]["trace_id"]
    # a request outside any server request stays a root
    curl = [s for s in spans if s["kind"] == "client" and s["service"] == "curl"]
    assert len(curl) == 3 and all(c["parent_span_id"] == "0" * 16 for c in curl)
    # curl's requests and the front end's are linked across processes: each
    # server span is the child of the client span that reached it
    for c, s in zip(curl[:2], fs):
        assert s["parent_span_id"] == c["span_id"] and s["trace_id"] == c["trace_id"]
    back_spans = [s for s in spans if s["kind"] == "server" and s["pid"] == back.proc.pid]
    assert len(back_spans) == 3
    for s, c in zip(back_spans[:2], fc[0::2]):
        assert s["parent_span_id"] == c["span_id"] and s["trace_id"] == c["trace_id"]
    assert back_spans[2]["parent_span_id"] == curl[2]["span_id"]
    rs = [s for s in spans if s["service"] == "redis-server"]
    assert [s["parent_span_id"] for s in rs] == [c["span_id"] for c in fc[1::2]]
    # linked by the TCP option (by address where no option came)
    assert t.counter("links") + t.counter("links_option") == 7
