"""Head-based sampling: a trace is kept or skipped once, at its root, and
every span of it follows, in every process it reaches (nesting, same-host
links); a "not sampled" traceparent is honoured; nothing kept is orphaned."""
import time
from collections import defaultdict

from conftest import run


def call_url(front, back, redis, i):
    return "http://127.0.0.1:%d/call?port=%d&path=/hello&redis=%d&i=%d" % (front.port, back.port, redis.port, i)


def traces(spans):
    out = defaultdict(list)
    for s in spans:
        out[s["trace_id"]].append(s)
    return out


def assert_whole(trace, size):
    """one root, every other span's parent in the trace"""
    assert len(trace) == size, trace
    ids = {s["span_id"] for s in trace}
    roots = [s for s in trace if s["parent_span_id"] == "0" * 16]
    assert len(roots) == 1, trace
    assert all(s["parent_span_id"] in ids for s in trace if s is not roots[0]), trace
    return roots[0]


def test_sample_ratio_keeps_whole_traces(tracer, httpapp, redis_server):
    front, back = httpapp(), httpapp()
    t = tracer("--port", str(front.port), "--port", str(back.port), "--port", str(redis_server.port),
               "--sample", "0.5")
    n = 40
    for i in range(n):
        run("curl", "-s", "-o", "/dev/null", call_url(front, back, redis_server, i))
    spans = t.stop()
    tr = traces(spans)
    # curl -> front (server) -> GET /hello -> back (server); GET counter -> redis-server
    for trace in tr.values():
        root = assert_whole(trace, 6)
        assert root["service"] == "curl"
        assert root["tags"]["sampler.type"] == "probabilistic" and root["tags"]["sampler.param"] == "0.5"
        assert all("sampler.type" not in s["tags"] for s in trace if s is not root)
    kept = len(tr)
    # binomial(40, 0.5): outside 8..32 once in ~10^5 runs
    assert 8 <= kept <= 32, kept
    # what was skipped is counted: the other traces, whole, left out in
    # the kernel (curl's request, and each hop its context reached)
    assert t.counter("kernel_skipped_exchanges") == 6 * (n - kept)
    assert t.counter("spans_skipped") == 0
    assert t.counter("traces_skipped") >= n - kept


def test_rate_limit_keeps_at_most_n_traces_a_second(tracer, httpapp):
    app = httpapp()
    t = tracer("--port", str(app.port), "--max-traces-per-sec", "5")
    t0 = time.time()
    n = 40
    for i in range(n):
        run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello?i=%d" % (app.port, i))
    elapsed = time.time() - t0
    spans = t.stop()
    tr = traces(spans)
    for trace in tr.values():
        root = assert_whole(trace, 2)
        assert root["service"] == "curl"
        assert root["tags"]["sampler.type"] == "ratelimiting" and root["tags"]["sampler.param"] == 5
    # a bucket of 5, refilled at 5 a second
    assert 5 <= len(tr) <= 5 + 5 * elapsed + 1, (len(tr), elapsed)
    assert t.counter("kernel_skipped_exchanges") == 2 * (n - len(tr))
    assert t.counter("parse_errors") == 0


def test_not_sampled_traceparent_is_honoured(tracer, httpapp, redis_server):
    front, back = httpapp(), httpapp()
    t = tracer("--port", str(front.port), "--port", str(back.port), "--port", str(redis_server.port))
    skip = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    keep = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for i, tp in enumerate((skip, keep)):
        run("curl", "-s", "-o", "/dev/null", "-H", "traceparent: " + tp, call_url(front, back, redis_server, i))
    spans = t.stop()
    tr = traces(spans)
    assert "0af7651916cd43dd8448eb211c80319c" not in tr
    kept = tr["4bf92f3577b34da6a3ce929d0e0e4736"]
    # curl's span is the header's span (its parent is outside spantap's view)
    assert len(kept) == 6
    ids = {s["span_id"] for s in kept} | {"00f067aa0ba902b7"}
    assert all(s["parent_span_id"] in ids or s["span_id"] == "00f067aa0ba902b7" for s in kept)
    assert set(tr) == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    # curl's span is dropped in user space (the kernel reads no header in
    # a client's write); the front server read the header in the kernel:
    # its exchange and the 4 its context reached were never copied
    assert t.counter("spans_skipped") == 1
    assert t.counter("kernel_skipped_exchanges") == 5


def test_pipelined_flood_is_cut_in_the_kernel(tracer, redis_server):
    """redis-benchmark -P 16 far above the rate limit: the kernel leaves
    whole batches out (nothing copied), a batch it keeps is kept whole, and
    what comes out is exact: every span a real command with its reply,
    every server span the child of its client span, the rate held."""
    limit = 2000
    t = tracer("--port", str(redis_server.port), "--max-traces-per-sec", str(limit))
    n = 1200000
    run("redis-benchmark", "-p", str(redis_server.port), "-q", "-t", "set,get", "-n", str(n), "-P", "16", "-c", "4")
    spans = t.stop()
    assert t.counter("parse_errors") == 0 and t.counter("gaps") == 0
    # redis-benchmark asks CONFIG GET once per client first
    names = {"SET", "GET", "CONFIG"}
    assert all(s["name"] in names for s in spans), [s for s in spans if s["name"] not in names][:3]
    assert not [s for s in spans if s["error"]], [s for s in spans if s["error"]][:3]
    tr = traces(spans)
    starts = []
    for trace in tr.values():
        root = assert_whole(trace, 2)
        assert root["service"] == "redis-benchmark" and root["kind"] == "client"
        assert root["tags"]["sampler.type"] == "ratelimiting"
        starts.append(root["start_us"])
    # the rate past the first second: a batch of 16 commands is one root in
    # the kernel, counted as the 16 traces it makes once that is measured
    # (until then, the first second's burst may be 16 times over)
    starts.sort()
    t1 = starts[0] + 1000000
    later = [s for s in starts if s >= t1]
    secs = (starts[-1] - t1) / 1e6
    print("flood: %d traces, %.0f a second past the first second" % (len(tr), len(later) / max(secs, 1e-9)))
    assert secs > 1, secs
    assert len(later) <= limit * secs * 1.25 + 16 * 8, (len(later), secs)
    assert len(later) >= limit * secs * 0.5, (len(later), secs, len(tr), [(k, t.counter(k)) for k in (
        "batch_followers", "traces_skipped", "spans_skipped", "links", "links_option", "kernel_skipped_exchanges")])
    # the rest never left the kernel: both ends of every other batch
    skipped = t.counter("kernel_skipped_exchanges")
    assert skipped >= (2 * n - len(tr)) / 16 * 2 * 0.95, (skipped, len(tr))
    assert t.counter("kernel_skipped_bytes") > 0
