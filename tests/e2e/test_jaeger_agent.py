"""Export to a Jaeger agent over UDP, judged by Apache Thrift's own decoder:
every span printed with --print arrives exactly once, field for field."""
import time

from conftest import run
from jaeger_rx import UdpAgent, assert_same_as_json


def workload(app_port, redis_port):
    base = "http://127.0.0.1:%d" % app_port
    run("curl", "-s", "-o", "/dev/null", base + "/hello", base + "/status/500", base + "/hello?token=x")
    run("redis-cli", "-p", str(redis_port), "SET", "k", "v")
    run("redis-cli", "-p", str(redis_port), "INCR", "k")


def check_protocol(tracer, httpapp, redis_server, protocol):
    app = httpapp()
    agent = UdpAgent(protocol)
    try:
        args = ["--port", str(app.port), "--port", str(redis_server.port), "--print",
                "--jaeger-agent", "127.0.0.1:%d" % agent.port]
        if protocol == "binary":
            args += ["--jaeger-agent-protocol", "binary"]
        t = tracer(*args)
        workload(app.port, redis_server.port)
        spans = t.stop()
        time.sleep(0.3)
    finally:
        agent.close()
    assert agent.errors == []
    assert len(spans) == 10  # 3 HTTP exchanges and 2 Redis commands, both sides
    assert_same_as_json(spans, agent.spans())
    assert all(len(d) <= 65000 for d in agent.datagrams)
    # one batch per process per flush: a process's spans share a datagram
    services = [b.process.serviceName for b in agent.batches]
    assert sorted(services) == sorted(set(services)) or len(agent.batches) <= 10
    assert t.counter("export_spans") == 10 and t.counter("export_dropped") == 0


def test_agent_compact(tracer, httpapp, redis_server):
    check_protocol(tracer, httpapp, redis_server, "compact")


def test_agent_binary(tracer, httpapp, redis_server):
    check_protocol(tracer, httpapp, redis_server, "binary")


def test_burst_of_10000_spans(tracer, redis_server):
    agent = UdpAgent("compact")
    try:
        t = tracer("--port", str(redis_server.port), "--print", "--jaeger-agent", "127.0.0.1:%d" % agent.port)
        run("redis-benchmark", "-p", str(redis_server.port), "-n", "5000", "-c", "2", "-t", "set", "-q")
        spans = t.stop(settle=1.0)
        time.sleep(0.5)
    finally:
        agent.close()
    assert agent.errors == []
    sets = [s for s in spans if s["name"] == "SET"]
    assert len(sets) == 10000
    assert max(len(d) for d in agent.datagrams) <= 65000
    assert len(agent.datagrams) >= 10000 * 300 // 65000  # really split, not one giant batch
    assert t.counter("export_dropped") == 0 and t.counter("lost_events") == 0
    assert t.counter("export_spans") == len(spans)
    assert_same_as_json(spans, agent.spans())


def test_agent_down_then_up(tracer, httpapp):
    app = httpapp()
    probe = UdpAgent("compact")
    port = probe.port
    probe.close()  # nothing listens on `port` now
    t = tracer("--port", str(app.port), "--jaeger-agent", "127.0.0.1:%d" % port)
    base = "http://127.0.0.1:%d" % app.port
    for _ in range(3):  # three flushes into the void: the first send "succeeds", later ones get ECONNREFUSED
        run("curl", "-s", "-o", "/dev/null", base + "/hello")
        time.sleep(1.3)
    agent = UdpAgent("compact", port=port)
    try:
        run("curl", "-s", "-o", "/dev/null", base + "/status/201")
        spans_seen = None
        deadline = time.time() + 5
        while time.time() < deadline:
            spans_seen = agent.spans()
            if len(spans_seen) >= 2:
                break
            time.sleep(0.1)
        t.stop()
    finally:
        agent.close()
    # tracing went on; what the agent missed is counted, what came after arrived
    assert t.proc.returncode == 0
    names = sorted(s.operationName for _, s in agent.spans())
    assert names == ["GET", "GET /status/201"]
    assert t.counter("export_dropped") >= 2
    assert t.counter("export_spans") + t.counter("export_dropped") == 8
