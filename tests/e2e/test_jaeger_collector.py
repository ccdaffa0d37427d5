"""Export to a Jaeger collector over HTTP (Thrift binary, optionally gzip),
judged by Apache Thrift's decoder; faults: 503s, a collector down then up."""
import socket
import time

from conftest import SPANTAP, free_port, run
from jaeger_rx import HttpCollector, assert_same_as_json


def workload(port):
    base = "http://127.0.0.1:%d" % port
    run("curl", "-s", "-o", "/dev/null", base + "/hello", base + "/status/404", base + "/hello?session=s")


def wait_for(pred, timeout=8.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_collector_plain_and_gzip(tracer, httpapp):
    for gzip in (False, True):
        app = httpapp()
        coll = HttpCollector()
        try:
            args = ["--port", str(app.port), "--print", "--jaeger-collector", coll.url]
            if gzip:
                args += ["--compress", "gzip"]
            t = tracer(*args)
            workload(app.port)
            spans = t.stop()
        finally:
            coll.close()
        assert coll.errors == []
        assert len(spans) == 6
        assert_same_as_json(spans, coll.spans())
        for status, headers, path in coll.requests:
            assert path == "/api/traces"
            assert headers["Content-Type"] == "application/vnd.apache.thrift.binary"
            assert (headers.get("Content-Encoding") == "gzip") == gzip
        assert t.counter("export_spans") == 6 and t.counter("export_dropped") == 0


def test_collector_503_then_202(tracer, httpapp):
    app = httpapp()
    coll = HttpCollector(statuses=[503, 503, 502])
    try:
        t = tracer("--port", str(app.port), "--print", "--jaeger-collector", coll.url)
        workload(app.port)
        assert wait_for(lambda: len(coll.spans()) >= 6)
        spans = t.stop()
    finally:
        coll.close()
    assert [r[0] for r in coll.requests][:3] == [503, 503, 502]
    # retried until accepted: each span exactly once
    assert_same_as_json(spans, coll.spans())
    assert t.counter("export_dropped") == 0


def test_collector_400_is_not_retried(tracer, httpapp):
    app = httpapp()
    coll = HttpCollector(statuses=[400])
    try:
        t = tracer("--port", str(app.port), "--jaeger-collector", coll.url)
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
        time.sleep(2.0)
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
        t.stop()
    finally:
        coll.close()
    # two processes (curl, the server): two batches per flush; the one
    # refused with 400 is dropped, not retried
    assert [r[0] for r in coll.requests] == [400, 202, 202, 202]
    assert t.counter("export_dropped") == 1 and t.counter("export_spans") == 3


def test_collector_down_then_up(tracer, httpapp):
    app = httpapp()
    port = free_port()  # nothing listens yet
    t = tracer("--port", str(app.port), "--jaeger-collector", "http://127.0.0.1:%d/api/traces" % port)
    workload(app.port)
    time.sleep(2.5)  # several refused attempts, backing off
    coll = HttpCollector(port=port)
    try:
        assert wait_for(lambda: len(coll.spans()) >= 6, timeout=10)
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/status/201" % app.port)
        assert wait_for(lambda: len(coll.spans()) >= 8)
        t.stop()
    finally:
        coll.close()
    assert t.proc.returncode == 0
    assert len(coll.spans()) == 8 and len({s.spanId for _, s in coll.spans()}) == 8
    assert t.counter("export_dropped") == 0


def test_environment_configures_exporters(tracer, httpapp, monkeypatch):
    app = httpapp()
    coll = HttpCollector()
    monkeypatch.setenv("JAEGER_ENDPOINT", coll.url)
    try:
        t = tracer("--port", str(app.port))
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app.port)
        spans = t.stop()
    finally:
        coll.close()
    # with an exporter configured, nothing is printed unless --print
    assert spans == []
    assert len(coll.spans()) == 2


def test_bad_exporter_settings_one_line():
    import subprocess
    for args, words in [
        (["--jaeger-collector", "ftp://x/api/traces"], "invalid Jaeger collector URL"),
        (["--jaeger-agent", "a:b:c"], "invalid Jaeger agent address"),
        (["--jaeger-agent", "host.invalid:6831"], "failed to resolve jaeger agent"),
        (["--jaeger-agent", "127.0.0.1:99999"], "invalid Jaeger agent address"),
    ]:
        p = subprocess.run([SPANTAP, *args], capture_output=True, text=True, timeout=20)
        err = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(err) == 1 and words in err[0], (args, err)


def test_secrets_never_reach_the_wire(tracer, httpapp, redis_server):
    """secrets in headers, cookies, query strings, Redis AUTH and values: in
    no datagram, no HTTP body, no output"""
    from jaeger_rx import UdpAgent
    secrets = ["SECRETBEARER1", "SECRETCOOKIE2", "SECRETAPIKEY3", "SECRETPASS4", "SECRETVALUE5", "SECRETAUTH6"]
    app = httpapp()
    coll = HttpCollector()
    agent = UdpAgent("compact")
    try:
        t = tracer("--port", str(app.port), "--port", str(redis_server.port), "--print",
                   "--jaeger-collector", coll.url, "--jaeger-agent", "127.0.0.1:%d" % agent.port)
        run("curl", "-s", "-o", "/dev/null", "-H", "Authorization: Bearer SECRETBEARER1",
            "-H", "Cookie: sid=SECRETCOOKIE2", "-H", "X-Api-Key: SECRETAPIKEY3",
            "http://127.0.0.1:%d/hello?password=SECRETPASS4" % app.port)
        run("redis-cli", "-p", str(redis_server.port), "SET", "k", "SECRETVALUE5")
        run("redis-cli", "-p", str(redis_server.port), "AUTH", "SECRETAUTH6")
        spans = t.stop()
        time.sleep(0.3)
    finally:
        coll.close()
        agent.close()
    assert len(spans) == 6 and len(agent.spans()) == 6 and len(coll.spans()) == 6
    wire = b"".join(agent.datagrams)
    for s in secrets:
        assert s not in t.raw and s not in t.stderr
        assert s.encode() not in wire
        for _, sp in coll.spans():
            assert s not in repr(sp)
