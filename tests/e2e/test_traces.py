"""Whole traces without code changes, judged on what a Jaeger agent decodes:
the OpenTracing tutorial demo (Flask front end -> Flask lookup service ->
Redis, a Redis list, a worker), uninstrumented, gives one trace per request."""
import os
import subprocess
import time

import pytest

from conftest import APPS, PY, Server, free_port, run, within
from jaeger_rx import UdpAgent, assert_same_as_json, hex_id, trace_id

ZERO = "0" * 16
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def app(role, service, *ports, port=None):
    env = dict(os.environ, OTEL_SERVICE_NAME=service)
    argv = [PY, os.path.join(APPS, "tutorial.py"), role] + [str(p) for p in ports]
    if port:
        return Server(argv, port, env=env)
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def redis_cli(port, *args):
    return run("redis-cli", "-p", str(port), *args).stdout.decode()


class Decoded:
    """a decoded Jaeger span, flattened"""

    def __init__(self, proc, s):
        tags = {t.key: t.vStr if t.vType == 0 else t.vLong for t in s.tags or []}
        self.service = proc.serviceName
        self.trace = trace_id(s)
        self.id = hex_id(s.spanId)
        self.parent = hex_id(s.parentSpanId)
        self.name = s.operationName
        self.kind = tags.get("span.kind")
        self.what = tags.get("url.path") or tags.get("db.query.text") or ""
        self.refs = [(r.refType, hex_id(r.traceIdHigh) + hex_id(r.traceIdLow), hex_id(r.spanId))
                     for r in s.references or []]

    def label(self):
        return (self.service, self.kind, self.name, self.what)


def tree(spans, root):
    """(label, sorted children) from root down, by parent ids"""
    kids = sorted((tree(spans, s) for s in spans if s.parent == root.id and s is not root), key=repr)
    return (root.label(), kids)


def expected_job(word):
    def redis(service, cmd):
        return ((service, "client", cmd.split()[0], cmd), [(("redis-server", "server", cmd.split()[0], cmd), [])])
    return (("curl", "client", "GET", "/job"), [
        (("frontend", "server", "GET /job", "/job"), sorted([
            (("frontend", "client", "GET", "/lookup"), [
                (("lookup", "server", "GET /lookup", "/lookup"), sorted([
                    redis("lookup", "GET cache:%s" % word),
                    redis("lookup", "SET cache:%s ?" % word),
                ], key=repr)),
            ]),
            redis("frontend", "LPUSH jobs ?"),
        ], key=repr)),
    ])


@pytest.fixture
def tutorial(redis_server):
    front_port, lookup_port = free_port(), free_port()
    procs = []
    yield front_port, lookup_port, procs
    for p in procs:
        if isinstance(p, Server):
            p.stop()
        else:
            p.terminate()
            p.wait(timeout=10)


def test_tutorial_demo_gives_one_trace_per_request(tracer, redis_server, tutorial):
    front_port, lookup_port, procs = tutorial
    rport = redis_server.port
    agent = UdpAgent("compact")
    try:
        t = tracer("--port", str(front_port), "--port", str(lookup_port), "--port", str(rport), "--print",
                   "--jaeger-agent", "127.0.0.1:%d" % agent.port)
        # the services start after spantap, none of them instrumented
        procs.append(app("lookup", "lookup", lookup_port, rport, port=lookup_port))
        procs.append(app("front", "frontend", front_port, lookup_port, rport, port=front_port))
        procs.append(app("worker", "worker", rport))
        wait_for(lambda: "cmd=brpop" in redis_cli(rport, "CLIENT", "LIST"), what="the worker's BRPOP")
        words = ["alpha", "beta", "gamma"]
        for w in words[:2]:
            assert run("curl", "-sf", "http://127.0.0.1:%d/job?word=%s" % (front_port, w)).stdout == \
                w.upper().encode() + b"\n"
        run("curl", "-sf", "-H", "traceparent: " + TRACEPARENT, "http://127.0.0.1:%d/job?word=gamma" % front_port)
        for w in words:
            wait_for(lambda: redis_cli(rport, "GET", "result:" + w).strip() == w, what="the worker")
        jspans = t.stop(settle=1.0)
        time.sleep(0.3)
    finally:
        agent.close()
    assert agent.errors == []
    assert_same_as_json(jspans, agent.spans())
    spans = [Decoded(p, s) for p, s in agent.spans()]
    by_id = {s.id: s for s in spans}
    # no span points at a parent that was not exported
    assert all(s.parent == ZERO or s.parent in by_id for s in spans)
    curls = [s for s in spans if s.service == "curl"]
    assert len(curls) == 3
    for curl in curls:
        trace = [s for s in spans if s.trace == curl.trace]
        front = [s for s in trace if s.service == "frontend" and s.kind == "server"]
        assert len(front) == 1
        word = next(s.what.split(":")[1] for s in trace if s.name == "GET" and s.what.startswith("GET cache:"))
        # the request's tree, every parent id in the one trace
        assert tree(trace, curl) == expected_job(word)
        # the worker's pop follows from the push, in the same trace
        push = [s for s in trace if s.service == "frontend" and s.name == "LPUSH"]
        pop = [s for s in trace if s.service == "worker" and s.name == "BRPOP"]
        spop = [s for s in trace if s.service == "redis-server" and s.name == "BRPOP"]
        assert len(push) == 1 and len(pop) == 1 and len(spop) == 1
        assert pop[0].parent == ZERO and pop[0].refs == [(1, curl.trace, push[0].id)]
        assert spop[0].parent == pop[0].id and spop[0].refs == []
        # nothing else is in the trace: 10 spans for the request, 2 for the pop
        assert len(trace) == 12, [s.label() for s in trace]
        if word == "gamma":
            # the incoming traceparent: curl's span is the header's, and the
            # whole tree continues that trace
            assert curl.trace == TRACEPARENT[3:35] and curl.id == TRACEPARENT[36:52]
            assert curl.parent == ZERO
        else:
            assert curl.trace != TRACEPARENT[3:35]
    assert sorted(s.what.split(":")[1] for s in spans if s.service == "lookup" and s.name == "GET") == words
    # the worker's own write of the result starts its own trace: a root
    results = [s for s in spans if s.service == "worker" and s.name == "SET"]
    assert len(results) == 3 and all(s.parent == ZERO for s in results)
    assert not {s.trace for s in results} & {c.trace for c in curls}
    assert t.counter("queue_hops") == 3
    assert t.counter("link_held_full") == 0 and t.counter("lost_events") == 0


def test_prefork_workers_followed_and_nested(tracer, httpapp):
    """--pid names a pre-fork master; the workers it forks later are traced,
    and each worker's call nests under the request it serves"""
    back = httpapp()
    port = free_port()
    master = subprocess.Popen([PY, os.path.join(APPS, "prefork.py"), str(port), "2"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert master.stdout.readline().strip() == "listening"
        t = tracer("--pid", str(master.pid))
        master.stdin.write("fork\n")
        master.stdin.flush()
        workers = {int(p) for p in master.stdout.readline().split()}
        assert len(workers) == 2
        url = "http://127.0.0.1:%d/call?port=%d" % (port, back.port)
        for _ in range(6):
            run("curl", "-sf", "-o", "/dev/null", url)
        spans = t.stop()
    finally:
        master.stdin.write("stop\n")
        master.stdin.flush()
        master.wait(timeout=10)
    servers = [s for s in spans if s["kind"] == "server"]
    clients = [s for s in spans if s["kind"] == "client"]
    # only the master's family is traced: curl and the back end are not
    assert len(servers) == 6 and len(clients) == 6
    assert {s["pid"] for s in spans} <= workers
    for s in servers:
        kids = [c for c in clients if c["parent_span_id"] == s["span_id"]]
        assert len(kids) == 1 and kids[0]["trace_id"] == s["trace_id"] and kids[0]["tid"] == s["tid"]
        assert within(kids[0], s)
    # one worker serving requests in turn: no context leaks between them
    assert len({s["trace_id"] for s in servers}) == 6


@pytest.mark.parametrize("runtime", ["asyncio", "node"])
def test_event_loop_never_guesses(tracer, httpapp, runtime):
    """an event loop serves two requests at once on one thread: a call made
    while both are in flight is left a root rather than given a parent that
    may be wrong; a call made while only one is in flight nests under it"""
    back = httpapp()
    port = free_port()
    argv = ([PY, os.path.join(APPS, "asyncapp.py")] if runtime == "asyncio" else
            ["node", os.path.join(APPS, "nodeapp.js")])
    srv = Server(argv + [str(port)], port)
    try:
        t = tracer("--port", str(port), "--port", str(back.port))
        base = "http://127.0.0.1:%d/call?port=%d" % (port, back.port)
        # request 1 alone; then 2 and 3 at once (3 starts while 2's call is
        # in flight); then 4 alone
        run("curl", "-sf", "-o", "/dev/null", base + "&id=1&ms=50")
        p2 = subprocess.Popen(["curl", "-sf", "-o", "/dev/null", base + "&id=2&ms=600"])
        time.sleep(0.2)
        p3 = subprocess.Popen(["curl", "-sf", "-o", "/dev/null", base + "&id=3&ms=50"])
        assert p2.wait(timeout=10) == 0 and p3.wait(timeout=10) == 0
        run("curl", "-sf", "-o", "/dev/null", base + "&id=4&ms=50")
        spans = t.stop()
    finally:
        srv.stop()
    server = {s["tags"]["url.query"].split("id=")[1].split("&")[0]: s for s in spans
              if s["kind"] == "server" and s["pid"] == srv.proc.pid}
    calls = {s["tags"]["url.query"].split("id=")[1]: s for s in spans
             if s["kind"] == "client" and s["pid"] == srv.proc.pid}
    assert sorted(server) == sorted(calls) == ["1", "2", "3", "4"]
    # alone in flight: nested
    for i in ("1", "4"):
        assert calls[i]["parent_span_id"] == server[i]["span_id"]
        assert calls[i]["trace_id"] == server[i]["trace_id"]
    # 3's call starts while 2 is in flight: ambiguous, a root, never 2's child
    assert calls["3"]["parent_span_id"] == ZERO
    # 2's call started while 2 was alone: nested
    assert calls["2"]["parent_span_id"] == server["2"]["span_id"]
    # the back end's spans are still linked to each call, nested or not
    backs = {s["tags"]["url.query"].split("id=")[1]: s for s in spans
             if s["kind"] == "server" and s["pid"] == back.proc.pid}
    for i in calls:
        assert backs[i]["parent_span_id"] == calls[i]["span_id"] and backs[i]["trace_id"] == calls[i]["trace_id"]


def test_gunicorn_sync_workers_nest(tracer, httpapp):
    """gunicorn's pre-fork sync workers, already running when spantap starts"""
    back = httpapp()
    port = free_port()
    srv = Server(["gunicorn", "-w", "2", "-b", "127.0.0.1:%d" % port, "--chdir", APPS, "wsgiapp:app"], port)
    try:
        t = tracer("--port", str(port), "--port", str(back.port))
        for _ in range(6):
            run("curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:%d/call?port=%d" % (port, back.port))
        spans = t.stop()
    finally:
        srv.stop()
    servers = [s for s in spans if s["kind"] == "server" and s["service"] == "gunicorn"]
    calls = [s for s in spans if s["kind"] == "client" and s["service"] == "gunicorn"]
    curls = [s for s in spans if s["service"] == "curl"]
    assert len(servers) == len(calls) == len(curls) == 6
    assert len({s["pid"] for s in servers}) >= 1 and srv.proc.pid not in {s["pid"] for s in servers}
    for s, c, k in zip(servers, curls, calls):
        # curl -> worker -> call -> back end: one trace
        assert s["parent_span_id"] == c["span_id"] and s["trace_id"] == c["trace_id"]
        assert k["parent_span_id"] == s["span_id"] and k["trace_id"] == s["trace_id"]
    assert len({c["trace_id"] for c in curls}) == 6
