"""Export over OTLP/HTTP (protobuf, optionally gzip), judged by the
OpenTelemetry project's own decoder (otlp_rx.py); every span field against
--output json of the same run; faults as for the Jaeger collector."""
import os
import subprocess
import time

from conftest import SPANTAP, free_port, run
from otlp_rx import OtlpReceiver, assert_same_as_json, attrs, decode, spans_of


def wait_for(pred, timeout=8.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def http_workload(port):
    base = "http://127.0.0.1:%d" % port
    run("curl", "-s", "-o", "/dev/null", base + "/hello", base + "/status/404", base + "/status/503",
        base + "/hello?session=s")


def redis_workload(port):
    cli = ["redis-cli", "-p", str(port)]
    run(*cli, "SET", "greeting", "hello")
    run(*cli, "INCR", "greeting")  # an error reply
    run(*cli, "LPUSH", "jobs", "job-1")
    run(*cli, "BRPOP", "jobs", "1")  # follows from the push


def test_otlp_every_field_plain_and_gzip(tracer, httpapp, redis_server):
    for gzip in (False, True):
        app = httpapp()
        rx = OtlpReceiver()
        try:
            args = ["--port", str(app.port), "--port", str(redis_server.port), "--print",
                    "--otlp-endpoint", rx.base]  # no path: /v1/traces
            if gzip:
                args += ["--compress", "gzip"]
            t = tracer(*args)
            http_workload(app.port)
            redis_workload(redis_server.port)
            spans = t.stop()
            received = rx.spans()
        finally:
            rx.close()
        assert len(spans) == 16
        # what the workload must have produced, so that every branch is compared
        assert any(s["error"] and s["kind"] == "server" for s in spans)
        assert any(s["error"] and s["tags"].get("db.system") == "redis" for s in spans)
        assert any("follows_from" in s for s in spans)
        assert any(s["parent_span_id"] != "0" * 16 for s in spans)
        assert_same_as_json(spans, received)
        for status, headers, path, _ in rx.requests:
            assert path == "/v1/traces"
            assert headers["Content-Type"] == "application/x-protobuf"
            assert headers["User-Agent"].startswith("spantap/")
            assert (headers.get("Content-Encoding") == "gzip") == gzip
        assert t.counter("export_spans") == 16 and t.counter("export_dropped") == 0
        assert t.counter("export_batches") == len(rx.requests)


def test_otlp_503_then_200_with_retry_after(tracer, httpapp):
    app = httpapp()
    rx = OtlpReceiver(statuses=[(503, {"Retry-After": "2"}), 503, 429])
    try:
        t = tracer("--port", str(app.port), "--print", "--otlp-endpoint", rx.url)
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
        assert wait_for(lambda: rx.count() >= 2, timeout=12)
        spans = t.stop()
        received = rx.spans()
    finally:
        rx.close()
    codes = [r[0] for r in rx.requests]
    times = [r[3] for r in rx.requests]
    assert codes[:3] == [503, 503, 429] and codes[3:] == [200] * (len(codes) - 3)
    # the peer's Retry-After held the first retry back; the backoff (100 ms
    # doubling, with jitter) paced the others
    assert times[1] - times[0] >= 1.9
    assert times[2] - times[1] < 1.0 and times[3] - times[2] < 1.0
    # retried until accepted: each span exactly once
    assert_same_as_json(spans, received)
    assert t.counter("export_dropped") == 0 and t.counter("export_spans") == 2


def test_otlp_400_dropped_and_counted(tracer, httpapp):
    app = httpapp()
    rx = OtlpReceiver(statuses=[400])
    try:
        # a password in the URL is sent (basic auth), never printed
        t = tracer("--port", str(app.port), "--otlp-endpoint", rx.url.replace("://", "://u:pa55word@"))
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
        time.sleep(2.0)
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
        t.stop()
    finally:
        rx.close()
    # two processes (curl, the server): two requests per flush; the one
    # refused with 400 is dropped, not retried, and said once
    assert [r[0] for r in rx.requests] == [400, 200, 200, 200]
    assert t.counter("export_dropped") == 1 and t.counter("export_spans") == 3
    assert len(spans_of(decode(rx.accepted))) == 3
    assert "refused a batch of 1 spans (HTTP 400)" in t.stderr
    assert "u:***@127.0.0.1" in t.stderr and "pa55word" not in t.stderr
    assert all(h["Authorization"] == "Basic dTpwYTU1d29yZA==" for _, h, _, _ in rx.requests)


def test_otlp_collector_down_then_up(tracer, httpapp):
    app = httpapp()
    port = free_port()  # nothing listens yet
    t = tracer("--port", str(app.port), "--otlp-endpoint", "http://127.0.0.1:%d/v1/traces" % port)
    run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port,
        "http://127.0.0.1:%d/status/404" % app.port)
    time.sleep(2.5)  # several refused attempts, backing off
    rx = OtlpReceiver(port=port)
    try:
        assert wait_for(lambda: len(rx.spans()) >= 4, timeout=10)
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/status/201" % app.port)
        assert wait_for(lambda: len(rx.spans()) >= 6)
        t.stop()
        received = rx.spans()
    finally:
        rx.close()
    assert len(received) == 6 and len({s["spanId"] for _, _, s in received}) == 6
    assert t.counter("export_dropped") == 0 and t.counter("export_spans") == 6


def test_otlp_partial_success_counted(tracer, httpapp):
    """a 200 whose ExportTraceServiceResponse (encoded by OpenTelemetry's
    code) rejects spans: those are counted as dropped, not retried"""
    body = encode_response(rejected=1, message="span too old")
    app = httpapp()
    rx = OtlpReceiver(response_body=body)
    try:
        t = tracer("--port", str(app.port), "--otlp-endpoint", rx.url)
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
        t.stop()
    finally:
        rx.close()
    assert len(rx.requests) == 2
    assert t.counter("export_dropped") == 2 and t.counter("export_spans") == 0
    assert "rejected 1 of 1 spans: span too old" in t.stderr


def encode_response(rejected, message):
    from otlp_rx import DECODE_JS, ensure_decoder
    module = ensure_decoder()
    code = """
const path = require("path");
const root = require(path.join(process.argv[1], "build/src/generated/root.js"));
const T = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
process.stdout.write(Buffer.from(T.encode(T.fromObject({partialSuccess: {rejectedSpans: %d, errorMessage: %r}})).finish()));
""" % (rejected, message)
    p = subprocess.run(["node", "-e", code, module], capture_output=True, check=True, timeout=30)
    assert p.stdout and os.path.exists(DECODE_JS)
    return p.stdout


def test_otlp_environment(tracer, httpapp, monkeypatch):
    """OTEL_EXPORTER_OTLP_*: the endpoint (general: v1/traces appended; per
    signal: as is), headers (percent-decoded), compression; flags win"""
    app = httpapp()
    rx = OtlpReceiver()
    secret = "k3y-SECRET-value"
    cases = [
        # (environment, flags, expected path, gzip, expected headers)
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": rx.base + "/prefix/",
          "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=%s, x-team = a%%20b%%2Cc ,," % secret,
          "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
         [], "/prefix/v1/traces", True, {"x-api-key": secret, "x-team": "a b,c"}),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": rx.base + "/ignored",
          "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rx.base + "/custom/path",
          "OTEL_EXPORTER_OTLP_HEADERS": "x-team=general",
          "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "X-Team=traces"},
         [], "/custom/path", False, {"x-team": "traces"}),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": rx.base + "/ignored",
          "OTEL_EXPORTER_OTLP_HEADERS": "x-team=env",
          "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
         ["--otlp-endpoint", rx.base + "/", "--otlp-header", "x-team=flag", "--compress", "none"],
         "/v1/traces", False, {"x-team": "flag"}),
    ]
    try:
        for env, flags, path, gz, headers in cases:
            with monkeypatch.context() as m:
                for k, v in env.items():
                    m.setenv(k, v)
                n = len(rx.requests)
                t = tracer("--port", str(app.port), "-v", *flags)
                run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
                spans = t.stop()
            # with an exporter configured, nothing is printed unless --print
            assert spans == []
            assert secret not in t.stderr
            reqs = rx.requests[n:]
            assert len(reqs) == 2, (env, reqs)
            for status, h, p, _ in reqs:
                assert p == path
                assert (h.get("Content-Encoding") == "gzip") == gz
                lower = {k.lower(): v for k, v in h.items()}
                for k, v in headers.items():
                    assert lower[k] == v
    finally:
        rx.close()
    assert len(rx.spans()) == 6


def test_otlp_bad_settings_one_line():
    for env, args, words in [
        ({}, ["--otlp-endpoint", "ftp://x:4318"], "invalid OTLP endpoint 'ftp://x:4318'"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"}, [], "invalid OTLP endpoint 'localhost:4318'"),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ["--otlp-endpoint", "http://x:4317"],
         "OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported"),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, ["--otlp-endpoint", "http://x"],
         "invalid value 'zstd' for OTEL_EXPORTER_OTLP_COMPRESSION"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "api-key"}, ["--otlp-endpoint", "http://x"],
         "invalid header in OTEL_EXPORTER_OTLP_HEADERS"),
        ({}, ["--otlp-endpoint", "http://x", "--otlp-header", "bad name=1"], "invalid header name in --otlp-header"),
        ({"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"}, ["--otlp-endpoint", "https://x"],
         "failed to read '/nonexistent/ca.pem' (from OTEL_EXPORTER_OTLP_CERTIFICATE)"),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "x-k=a%0d%0aInjected: 1"}, ["--otlp-endpoint", "http://x"],
         "invalid value for header 'x-k' in OTEL_EXPORTER_OTLP_HEADERS: control characters"),
        ({}, ["--otlp-endpoint", "http://x", "--otlp-header", "x-k=a%0d%0aInjected: 1"], None),
    ]:
        e = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        e.update(env)
        p = subprocess.run([SPANTAP, *args, "-d", "1", "--port", "1"], capture_output=True, text=True, timeout=30,
                           env=e)
        err = p.stderr.strip().splitlines()
        if words is None:  # flags are not percent-decoded: a literal %0d%0a is a harmless value
            assert p.returncode == 0, err
            continue
        assert p.returncode == 2 and len(err) == 1 and words in err[0], (args, env, err)


def test_encoder_golden_through_opentelemetry_decoder(tmp_path):
    """the unit test's edge-case request (tests/unit/test_otlp.c --golden):
    varints of 1 to 10 bytes, nested lengths, UTF-8 repair, a cut value,
    the resource hook's attributes, decoded by OpenTelemetry's code"""
    unit = os.path.join(os.path.dirname(SPANTAP), "tests", "test_otlp")
    out = tmp_path / "golden.bin"
    subprocess.run([unit, "--golden", str(out)], check=True)
    [req] = decode([out.read_bytes()])
    assert "error" not in req, req
    [rs] = req["resourceSpans"]
    assert attrs(rs["resource"]["attributes"]) == {
        "service.name": "checkout", "process.pid": 4242, "host.name": "node-1",
        "process.executable.path": "/usr/bin/python3.11", "k8s.pod.name": "checkout-7d9f", "container.id": "abc123"}
    [ss] = rs["scopeSpans"]
    assert ss["scope"]["name"] == "spantap"
    server, client, cut = ss["spans"]
    common = {"traceId": "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf", "spanId": "0102030405060708",
              "startTimeUnixNano": "1795364882405323123", "endTimeUnixNano": str(1795364882405323123 + 712345)}
    for s in (server, client, cut):
        for k, v in common.items():
            assert s[k] == v, k
    want = {"http.request.method": "GET", "url.query": "v" * 300, "http.response.status_code": 503,
            "peer.port": -5, "zero": 0, "big": 1 << 62, "flag.false": False,
            "bad.utf8": "a\ufffd\ufffdb\ufffd\ufffd\ufffdc\U0001F600d\ufffd\ufffd", "error.type": "503",
            "thread.id": 4243}
    assert attrs(server["attributes"]) == want
    assert server["name"] == "GET /caf\u00e9/\ufffd" and server["kind"] == 2
    assert server["parentSpanId"] == "1112131415161718"
    assert server["status"] == {"code": 2, "message": "503"}
    assert server["links"] == [{"traceId": "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf", "spanId": "2122232425262728",
                                "flags": 1}]
    assert server["flags"] == 0x301
    assert client["kind"] == 3 and client["name"] == "SET" and client["flags"] == 0x101
    assert attrs(client["attributes"]) == {"db.system.name": "redis", "thread.id": 4243}
    for k in ("parentSpanId", "status", "links"):
        assert not client.get(k)
    want.update({"url.query": "v" * 16, "spantap.truncated": True})
    assert attrs(cut["attributes"]) == want


def make_pki(d):
    """a CA, a server certificate for 127.0.0.1 and a client certificate"""
    def ossl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=spantap-test-ca")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        (d / (name + ".ext")).write_text(ext + "\n")
        ossl("req", *key, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=spantap-" + name)
        ossl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", name + ".pem", "-days", "1", "-extfile", name + ".ext")


def test_otlp_over_tls_with_client_certificate(tracer, httpapp, monkeypatch, tmp_path):
    """https with the CA and the client certificate of OTEL_EXPORTER_OTLP_*;
    without the CA the endpoint is not trusted and nothing is delivered"""
    import ssl
    make_pki(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tmp_path / "server.pem"), str(tmp_path / "server.key"))
    ctx.load_verify_locations(str(tmp_path / "ca.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    app = httpapp()
    rx = OtlpReceiver(tls=ctx)
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(tmp_path / "ca.pem"))
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", str(tmp_path / "client.pem"))
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", str(tmp_path / "client.key"))
        t = tracer("--port", str(app.port), "--print", "--otlp-endpoint", rx.base)
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
        spans = t.stop()
        assert_same_as_json(spans, rx.spans())
        assert rx.peer_certs and all(dict(x[0] for x in c["subject"])["commonName"] == "spantap-client"
                                     for c in rx.peer_certs)
        # not trusted without the CA: retried until exit, then dropped and counted
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_CERTIFICATE")
        n = rx.count()
        t = tracer("--port", str(app.port), "--otlp-endpoint", rx.base)
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
        t.stop(settle=1.5)
        assert rx.count() == n
        assert t.counter("export_dropped") == 2 and t.counter("export_spans") == 0
    finally:
        rx.close()
