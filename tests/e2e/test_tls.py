"""TLS end to end: OpenSSL's plaintext seen through uprobes, for libssl 3
(curl, nginx, Python, redis) and for node.js, which carries OpenSSL
statically. Each HTTPS or Redis-over-TLS exchange must make exactly the
spans the plain one makes, and the ciphertext none. Certificates are made
here, in a temporary directory that is removed."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import APPS, PY, SPANTAP, Server, free_port, run

NODE = shutil.which("node")


@pytest.fixture
def certs():
    d = tempfile.mkdtemp(prefix="spantap-tls-")
    try:
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", d + "/key.pem", "-out", d + "/cert.pem", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tls_app(certs):
    """httpapp.py serving HTTPS"""
    servers = []

    def start():
        port = free_port()
        env = dict(os.environ, TLS_DIR=certs)
        env.pop("OTEL_SERVICE_NAME", None)
        s = Server([PY, os.path.join(APPS, "httpapp.py"), str(port)], port, env=env)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def kinds(spans, kind, service=None):
    return [s for s in spans if s["kind"] == kind and (service is None or s["service"] == service)]


def wait_probed(t, path, timeout=10.0):
    """until spantap says it probes OpenSSL in path"""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(t.err.name) as f:
            for line in f:
                line = line.rstrip("\n")
                if "probing OpenSSL in " in line and path in line.split("probing OpenSSL in ", 1)[1].split(", "):
                    return
        time.sleep(0.05)
    raise AssertionError("spantap never probed " + path)


def curl(cacert, *urls):
    """the bodies of the responses, fetched on one keep-alive connection"""
    argv = ["curl", "-s", "--cacert", cacert]
    outs = []
    with tempfile.TemporaryDirectory() as d:
        for i, u in enumerate(urls):
            argv += ["-o", "%s/%d" % (d, i), u]
        run(*argv)
        for i in range(len(urls)):
            with open("%s/%d" % (d, i), "rb") as f:
                outs.append(f.read())
    return outs


def assert_tls_client(s, url_prefix):
    assert s["tags"]["url.full"].startswith(url_prefix), s
    assert s["tags"]["url.scheme"] == "https" and s["tags"]["tls.established"] is True, s


def assert_child(child, parent):
    assert child["trace_id"] == parent["trace_id"] and child["parent_span_id"] == parent["span_id"], (child, parent)


NGINX_TLS_CONF = """
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
        listen 127.0.0.1:%(port)d ssl;
        ssl_certificate %(certs)s/cert.pem;
        ssl_certificate_key %(certs)s/key.pem;
        location / {
            proxy_pass https://127.0.0.1:%(up)d;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %(certs)s/cert.pem;
            proxy_ssl_name localhost;
        }
    }
}
"""


def test_curl_nginx_python_over_tls(tracer, certs, tls_app):
    app = tls_app()
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        with open(d + "/nginx.conf", "w") as f:
            f.write(NGINX_TLS_CONF % {"dir": d, "port": port, "up": app.port, "certs": certs})
        ngx = Server(["nginx", "-c", d + "/nginx.conf", "-e", d + "/error.log"], port)
        try:
            t = tracer("--port", str(port), "--port", str(app.port))
            base = "https://127.0.0.1:%d" % port
            bodies = curl(certs + "/cert.pem", base + "/hello", base + "/status/503",
                          base + "/hello?token=s3cr3t&q=1")
            spans = t.stop()
        finally:
            ngx.stop()
    # the responses are byte for byte what the app sent
    assert bodies == [b"hello\n", b"status 503\n", b"hello\n"]
    assert len(spans) == 12, spans
    cli, ngx_srv = kinds(spans, "client", "curl"), kinds(spans, "server", "nginx")
    up, app_srv = kinds(spans, "client", "nginx"), kinds(spans, "server", "httpapp")
    assert [s["tags"]["http.status_code"] for s in cli] == [200, 503, 200]
    assert [s["name"] for s in ngx_srv] == ["GET /hello", "GET /status/503", "GET /hello"]
    assert [s["tags"]["http.status_code"] for s in ngx_srv] == [200, 503, 200]
    assert [s["error"] for s in ngx_srv] == [False, True, False]
    assert [(s["tags"]["url.path"], s["tags"]["http.status_code"]) for s in up] == [
        ("/hello", 200), ("/status/503", 503), ("/hello", 200)]
    assert [s["name"] for s in app_srv] == ["GET /hello", "GET /status/503", "GET /hello"]
    for i in range(3):
        assert_tls_client(cli[i], base + "/")
        assert_tls_client(up[i], "https://127.0.0.1:%d/" % app.port)
        assert ngx_srv[i]["tags"]["url.scheme"] == "https" and app_srv[i]["tags"]["url.scheme"] == "https"
        # one trace per request, across three processes and two TLS hops
        assert_child(ngx_srv[i], cli[i])
        assert_child(up[i], ngx_srv[i])
        assert_child(app_srv[i], up[i])
        # the real sockets: ports of each end match
        assert ngx_srv[i]["tags"]["client.port"] == cli[i]["tags"]["network.local.port"]
        assert app_srv[i]["tags"]["client.port"] == up[i]["tags"]["network.local.port"]
    assert cli[2]["tags"]["url.full"] == base + "/hello?token=?&q=1"
    assert "s3cr3t" not in t.raw
    assert t.counter("tls_uprobes") >= 8 and t.counter("tls_failed") == 0
    assert t.counter("tls_conns") == 8  # curl-nginx once, nginx-app three times, each end
    assert t.counter("parse_errors") == 0


URLLIB = """
import ssl, sys, urllib.error, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
for path in sys.argv[2:]:
    try:
        body = urllib.request.urlopen(path, context=ctx).read()
    except urllib.error.HTTPError as e:
        body = e.read()
    sys.stdout.buffer.write(body)
"""


def test_python_urllib_over_tls(tracer, certs, tls_app):
    app = tls_app()
    t = tracer("--port", str(app.port))
    base = "https://127.0.0.1:%d" % app.port
    out = run(PY, "-c", URLLIB, certs + "/cert.pem", base + "/hello", base + "/status/404",
              base + "/big?size=100000").stdout
    spans = t.stop()
    assert out == b"hello\n" + b"status 404\n" + b"x" * 100000
    server, client = kinds(spans, "server", "httpapp"), kinds(spans, "client")
    assert len(spans) == 6, spans
    assert [s["name"] for s in server] == ["GET /hello", "GET /status/404", "GET /big"]
    assert [s["tags"]["http.status_code"] for s in client] == [200, 404, 200]
    assert [s["error"] for s in client] == [False, True, False]
    for c, s in zip(client, server):
        assert_tls_client(c, base + "/")
        assert_child(s, c)


def node_server(certs):
    port = free_port()
    return Server([NODE, os.path.join(APPS, "nodetls.js"), "server", certs, str(port)], port)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_static_openssl(tracer, certs):
    t = tracer()
    # started after spantap: found when it execs
    srv = node_server(certs)
    try:
        with open("/proc/%d/maps" % srv.proc.pid) as f:
            dynamic = "/libssl.so" in f.read()
        # node 20 from nodesource carries OpenSSL and exports it (the case
        # this test is for); Debian's own node links the system libssl
        if not dynamic:
            wait_probed(t, os.path.realpath(NODE))
        base = "https://127.0.0.1:%d" % srv.port
        bodies = curl(certs + "/cert.pem", base + "/hello", base + "/nope")
        out = run(NODE, os.path.join(APPS, "nodetls.js"), "client", certs, base + "/hello", "3").stdout
        spans = t.stop()
    finally:
        srv.stop()
    assert bodies == [b"hello from node\n", b"not found\n"]
    assert out == b"hello from node\n" * 3
    mine = [s for s in spans if s["tags"].get("server.port") == srv.port]
    server = kinds(mine, "server", "nodetls")
    # the node client's service may be its comm ("node") when it exited
    # before its spans were built: tell the clients apart by pid
    ccurl = kinds(mine, "client", "curl")
    cnode = [s for s in kinds(mine, "client") if s["pid"] not in {c["pid"] for c in ccurl}]
    assert len(mine) == 10, mine
    assert [s["tags"]["url.path"] for s in server] == ["/hello", "/nope", "/hello", "/hello", "/hello"]
    assert [s["tags"]["http.status_code"] for s in server] == [200, 404, 200, 200, 200]
    assert [s["tags"]["url.full"] for s in cnode] == [base + "/hello?i=%d" % i for i in range(3)]
    for c, s in zip(ccurl + cnode, server):
        assert_tls_client(c, base + "/")
        assert_child(s, c)
    assert t.counter("tls_nofd") == 0


def test_redis_over_tls(tracer, certs):
    port = free_port()
    cert = certs + "/cert.pem"
    srv = Server(["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--tls-cert-file", cert, "--tls-key-file", certs + "/key.pem",
                  "--tls-ca-cert-file", cert, "--tls-auth-clients", "no"], port)
    try:
        t = tracer("--port", str(port))
        cli = ["redis-cli", "--tls", "--cacert", cert, "-p", str(port)]
        assert run(*cli, "SET", "user:1", "alice").stdout == b"OK\n"
        assert run(*cli, "GET", "user:1").stdout == b"alice\n"
        run(*cli, "INCR", "user:1")
        py = ("import redis, sys; r = redis.Redis(port=int(sys.argv[1]), ssl=True, ssl_ca_certs=sys.argv[2]); "
              "r.set('apikey', 'hunter2'); sys.stdout.write(r.get('apikey').decode())")
        assert run(PY, "-c", py, str(port), cert).stdout == b"hunter2"
        spans = t.stop()
    finally:
        srv.stop()
    client, server = kinds(spans, "client"), kinds(spans, "server", "redis-server")
    assert [s["name"] for s in client] == ["SET", "GET", "INCR", "SET", "GET"], spans
    assert [s["name"] for s in server] == [s["name"] for s in client]
    assert [s["error"] for s in client] == [False, False, True, False, False]
    assert [s["tags"]["db.query.text"] for s in client] == [
        "SET user:1 ?", "GET user:1", "INCR user:1", "SET apikey ?", "GET apikey"]
    for c, s in zip(client, server):
        assert c["tags"]["tls.established"] is True and s["tags"]["tls.established"] is True
        assert_child(s, c)
    assert "alice" not in t.raw and "hunter2" not in t.raw


DLOPEN = """
import sys
sys.stdin.readline()
import ssl, urllib.request  # loads _ssl, and with it libssl
print("loaded", flush=True)
sys.stdin.readline()
ctx = ssl.create_default_context(cafile=sys.argv[1])
sys.stdout.write(urllib.request.urlopen(sys.argv[2], context=ctx).read().decode())
"""


def test_libssl_loaded_later_and_process_exit(tracer, certs, tls_app):
    app = tls_app()
    base = "https://127.0.0.1:%d" % app.port
    with tempfile.TemporaryDirectory() as libdir:
        # a libssl of its own (a new inode), loaded with dlopen after spantap started
        shutil.copy("/usr/lib/x86_64-linux-gnu/libssl.so.3", libdir)
        t = tracer("--port", str(app.port))
        p = subprocess.Popen([PY, "-c", DLOPEN, certs + "/cert.pem", base + "/hello"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=dict(os.environ, LD_LIBRARY_PATH=libdir))
        try:
            p.stdin.write(b"go\n")
            p.stdin.flush()
            assert p.stdout.readline() == b"loaded\n"
            with open("/proc/%d/maps" % p.pid) as f:
                assert libdir + "/libssl.so.3" in f.read()
            wait_probed(t, libdir + "/libssl.so.3")
            p.stdin.write(b"go\n")
            p.stdin.close()
            assert p.stdout.read() == b"hello\n"
            assert p.wait(timeout=10) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        # the process has exited; its probes (on its own libssl) stay
        # harmless, and spantap goes on tracing others
        assert curl(certs + "/cert.pem", base + "/hello") == [b"hello\n"]
        spans = t.stop()
    client = kinds(spans, "client")
    assert [s["pid"] for s in client[:1]] == [p.pid] and client[1]["service"] == "curl", spans
    assert len(client) == 2
    assert [s["name"] for s in kinds(spans, "server", "httpapp")] == ["GET /hello", "GET /hello"]
    for c in client:
        assert_tls_client(c, base + "/hello")
    assert t.counter("tls_files") >= 2


def ssl_progs():
    out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if "ssl_" in l]


def test_nothing_left_behind_and_tls_off(tracer, certs, tls_app):
    app = tls_app()
    base = "https://127.0.0.1:%d" % app.port
    assert ssl_progs() == []
    t = tracer("--port", str(app.port))
    assert ssl_progs()
    # killed: no chance to detach; the kernel drops the probes with the fds
    t.proc.send_signal(signal.SIGKILL)
    t.proc.wait()
    deadline = time.time() + 5
    while ssl_progs() and time.time() < deadline:
        time.sleep(0.1)
    assert ssl_progs() == []
    with open("/sys/kernel/tracing/uprobe_events") as f:
        assert "ssl" not in f.read().lower()
    assert curl(certs + "/cert.pem", base + "/hello") == [b"hello\n"]
    # --tls off: no probes, and the ciphertext makes no span of its own
    t = tracer("--port", str(app.port), "--tls", "off")
    assert curl(certs + "/cert.pem", base + "/hello", base + "/status/500") == [b"hello\n", b"status 500\n"]
    spans = t.stop()
    assert spans == []
    assert t.counter("tls_uprobes") == 0 and "probing OpenSSL" not in t.stderr
    assert t.counter("events") == 0


@pytest.fixture(scope="module")
def openssl11():
    """Debian 11's libssl1.1 and its openssl 1.1.1 command, downloaded with
    a private apt configuration (tests/kernels' Apt: the host's apt setup
    is untouched) and unpacked into a temporary directory, never
    installed: (root, env) for running that openssl."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "kernels"))
    import kernels
    d = tempfile.mkdtemp(prefix="spantap-ssl11-")
    try:
        apt = kernels.Apt(os.environ.get("SPANTAP_KERNEL_CACHE", "/var/cache/spantap-kernels"))
        apt.update()
        r = apt.run(["apt-get", "download", "-q", "libssl1.1/bullseye", "openssl/bullseye"], cwd=d)
        assert r.returncode == 0, r.stdout + r.stderr
        for deb in sorted(os.listdir(d)):
            run("dpkg-deb", "-x", os.path.join(d, deb), d + "/root")
        root = d + "/root"
        env = dict(os.environ, LD_LIBRARY_PATH=root + "/usr/lib/x86_64-linux-gnu")
        ver = subprocess.run([root + "/usr/bin/openssl", "version"], env=env, capture_output=True, text=True)
        assert ver.stdout.startswith("OpenSSL 1.1.1"), ver
        yield root, env
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_libssl_1_1(tracer, certs, tls_app, openssl11):
    """OpenSSL 1.1.1 (Debian 11's libssl.so.1.1), started after spantap:
    its s_client (SSL_write/SSL_read) calling an HTTPS app (libssl3) makes
    the spans curl does, linked. Its s_server -WWW answers through an SSL
    BIO, which 1.1.1 serves with its internal functions, not the exported
    SSL_read/SSL_write: that server is not seen (a documented limit), and
    its ciphertext makes no span either."""
    root, env = openssl11
    lib = root + "/usr/lib/x86_64-linux-gnu/libssl.so.1.1"
    ossl = root + "/usr/bin/openssl"
    app = tls_app()
    t = tracer()
    port = free_port()
    with open(certs + "/hello", "w") as f:
        f.write("hello 1.1\n")
    srv = Server([ossl, "s_server", "-accept", str(port), "-cert", certs + "/cert.pem", "-key", certs + "/key.pem",
                  "-WWW", "-quiet"], port, env=env, cwd=certs)
    try:
        wait_probed(t, lib)
        www = "https://127.0.0.1:%d" % port
        assert curl(certs + "/cert.pem", www + "/hello") == [b"hello 1.1\n"]
        base = "https://127.0.0.1:%d" % app.port
        req = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % app.port
        out = subprocess.run([ossl, "s_client", "-connect", "127.0.0.1:%d" % app.port, "-quiet", "-CAfile",
                              certs + "/cert.pem"], input=req, env=env, capture_output=True, timeout=20)
        spans = t.stop()
    finally:
        srv.stop()
    assert out.stdout.startswith(b"HTTP/1.") and out.stdout.endswith(b"hello\n"), out
    # the 1.1 client and the app it called
    mine = [s for s in spans if s["tags"].get("server.port") == app.port]
    server, client = kinds(mine, "server"), kinds(mine, "client")
    assert len(mine) == 2, mine
    assert server[0]["name"] == "GET /hello" and server[0]["tags"]["http.status_code"] == 200
    assert client[0]["name"] == "GET" and client[0]["tags"]["http.status_code"] == 200
    assert client[0]["pid"] != app.proc.pid and client[0]["tags"]["tls.established"] is True
    assert_tls_client(client[0], base + "/hello")
    assert_child(server[0], client[0])
    # s_server -WWW: curl's span only
    www_spans = [s for s in spans if s["tags"].get("server.port") == port]
    assert [(s["kind"], s["service"]) for s in www_spans] == [("client", "curl")], www_spans
    assert t.counter("tls_nofd") == 0
