"""Redis end to end: redis-server with redis-cli, redis-benchmark and
redis-py clients under the real tracer."""
import subprocess
import threading
import time

from conftest import PY, run


def cli(port, *args):
    return run("redis-cli", "-p", str(port), *args).stdout


def test_redis_cli_commands(tracer, redis_server):
    port = redis_server.port
    t = tracer("--port", str(port))
    cli(port, "SET", "user:1", "alice")
    cli(port, "GET", "user:1")
    cli(port, "GET", "missing")
    cli(port, "INCR", "user:1")  # not an integer: error reply
    cli(port, "RPUSH", "jobs", "a", "b", "c")
    cli(port, "-n", "2", "SET", "k2", "v2")  # SELECT 2 first
    spans = t.stop()
    client = [s for s in spans if s["kind"] == "client"]
    server = [s for s in spans if s["kind"] == "server"]
    assert [s["name"] for s in client] == ["SET", "GET", "GET", "INCR", "RPUSH", "SELECT", "SET"], spans
    assert [s["name"] for s in server] == [s["name"] for s in client]
    assert all(s["service"] == "redis-cli" for s in client)
    assert all(s["service"] == "redis-server" for s in server)
    assert [s["tags"]["db.query.text"] for s in client] == [
        "SET user:1 ?", "GET user:1", "GET missing", "INCR user:1", "RPUSH jobs ? ? ?", "SELECT ?", "SET k2 ?"]
    assert [s["error"] for s in client] == [False, False, False, True, False, False, False]
    assert client[3]["tags"]["error.type"] == "ERR" and client[3]["tags"]["error"] is True
    assert [s["tags"]["db.namespace"] for s in client] == ["0"] * 6 + ["2"]
    for s in client:
        assert s["tags"]["db.system.name"] == "redis" and s["tags"]["db.type"] == "redis"
        assert s["tags"]["db.operation.name"] == s["name"]
        assert s["tags"]["server.port"] == port and s["tags"]["peer.port"] == port
    for c, s in zip(client, server):
        assert c["tags"]["network.local.port"] == s["tags"]["client.port"]
        assert s["start_us"] >= c["start_us"] - 1000
        assert s["start_us"] + s["duration_us"] <= c["start_us"] + c["duration_us"] + 1000
    assert "alice" not in t.raw and "v2" not in t.raw


def benchmark(tracer, port, pipeline):
    n = 2000
    t = tracer("--port", str(port))
    argv = ["redis-benchmark", "-p", str(port), "-n", str(n), "-c", "4", "-t", "set,get", "-q"]
    if pipeline:
        argv += ["-P", "16"]
    run(*argv)
    spans = t.stop(settle=1.0)
    assert t.counter("lost_events") == 0
    bench = [s for s in spans if s["kind"] == "client" and s["service"] == "redis-benchmark"]
    server = [s for s in spans if s["kind"] == "server"]
    for name in ("SET", "GET"):
        assert sum(1 for s in bench if s["name"] == name) == n, name
        assert sum(1 for s in server if s["name"] == name) == n, name
    assert all(not s["error"] for s in bench)
    assert t.counter("parse_errors") == 0 and t.counter("unmatched") == 0


def test_redis_benchmark(tracer, redis_server):
    benchmark(tracer, redis_server.port, pipeline=False)


def test_redis_benchmark_pipelined(tracer, redis_server):
    benchmark(tracer, redis_server.port, pipeline=True)


def test_preexisting_connection_and_blocking_pop(tracer, redis_server):
    port = redis_server.port
    code = r"""
import redis, sys, time
r = redis.Redis(port=%d)
r.ping()
print("ready", flush=True)
sys.stdin.readline()
r.set("counter", 1)
t0 = time.time()
item = r.blpop("queue", timeout=5)
print("popped", item[1].decode(), round(time.time() - t0, 3), flush=True)
""" % port
    p = subprocess.Popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    t = tracer("--port", str(port))
    p.stdin.write("go\n")
    p.stdin.flush()
    time.sleep(0.5)
    cli(port, "LPUSH", "queue", "job-1")
    out = p.stdout.readline().split()
    p.wait(timeout=10)
    assert out[:2] == ["popped", "job-1"]
    spans = t.stop()
    py = [s for s in spans if s["kind"] == "client" and s["pid"] == p.pid]
    assert [s["name"] for s in py] == ["SET", "BLPOP"]
    assert py[1]["tags"]["db.query.text"] == "BLPOP queue ?"
    # the blocking pop is timed to its reply: it waited for the LPUSH
    assert py[1]["duration_us"] >= 400_000
    push = [s for s in spans if s["kind"] == "client" and s["name"] == "LPUSH"]
    assert len(push) == 1
    assert push[0]["start_us"] <= py[1]["start_us"] + py[1]["duration_us"]


def test_transactions_and_pubsub(tracer, redis_server):
    port = redis_server.port
    t = tracer("--port", str(port))
    code = r"""
import redis, threading, time
r = redis.Redis(port=%d)
p = r.pubsub()
p.subscribe("news", "sports")
while p.get_message(timeout=1) is not None: pass
pub = redis.Redis(port=%d)
pipe = pub.pipeline(transaction=True)
pipe.set("a", 1).incr("a").get("a")  # incr() sends INCRBY
print(pipe.execute(), flush=True)
pub.publish("news", "hello")
pub.publish("sports", "goal")
got = []
deadline = time.time() + 3
while len(got) < 2 and time.time() < deadline:
    m = p.get_message(timeout=1)
    if m and m["type"] == "message": got.append(m["data"])
print(got, flush=True)
r.ping()
p.close()
""" % (port, port)
    out = run(PY, "-c", code).stdout.decode()
    assert "[b'hello', b'goal']" in out
    spans = t.stop()
    client = [s["name"] for s in spans if s["kind"] == "client" and s["service"] != "redis-server"]
    # redis-py sends CLIENT SETINFO on connect when the server knows it; ignore those
    client = [n for n in client if n != "CLIENT"]
    assert client.count("SUBSCRIBE") == 1
    assert client.count("MULTI") == 1 and client.count("EXEC") == 1
    assert client.count("SET") == 1 and client.count("INCRBY") == 1 and client.count("GET") == 1
    assert client.count("PUBLISH") == 2
    assert client.count("PING") == 1
    assert all(not s["error"] for s in spans)
    assert t.counter("parse_errors") == 0


def test_auth_and_values_never_printed(tracer):
    import socket
    from conftest import Server, free_port
    port = free_port()
    srv = Server(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--requirepass", "S3cretPassw0rd"], port)
    try:
        t = tracer("--port", str(port))
        run("redis-cli", "-p", str(port), "--no-auth-warning", "-a", "S3cretPassw0rd", "SET", "apikey",
            "TOPSECRETVALUE")
        run("redis-cli", "-p", str(port), "--no-auth-warning", "-a", "wrongpassword", "GET", "apikey")
        spans = t.stop()
    finally:
        srv.stop()
    names = [s["name"] for s in spans if s["kind"] == "client"]
    assert names == ["AUTH", "SET", "AUTH", "GET"]
    auth_fail = [s for s in spans if s["kind"] == "client" and s["name"] == "AUTH"][1]
    assert auth_fail["error"] and auth_fail["tags"]["error.type"] == "WRONGPASS"
    for secret in ("S3cretPassw0rd", "TOPSECRETVALUE", "wrongpassword"):
        assert secret not in t.raw and secret not in t.stderr
    assert [s["tags"]["db.query.text"] for s in spans if s["kind"] == "client"] == [
        "AUTH ?", "SET apikey ?", "AUTH ?", "GET apikey"]
