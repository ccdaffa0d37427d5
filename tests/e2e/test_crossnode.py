"""One trace across nodes and Service DNAT: the trace context the kernel fixes
for each request travels in a TCP header option (kind 25, OBI's layout).

Two network namespaces joined by a veth pair are two nodes, each with its own
cgroup v2 and its own spantap (--cgroup), both exporting to one Jaeger agent
stand-in that decodes with Apache Thrift. The tutorial demo is split across
them: curl and the front end on node A, the lookup service, Redis and the
worker on node B; the front end reaches the lookup service through a
Service-style DNAT address in node A's namespace. Everything the tests make
(namespaces, cgroups, processes, iptables rules inside the namespaces) is
removed afterwards, also when a test fails."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import APPS, PY, cgroup2_mount, free_port
from jaeger_rx import UdpAgent
from test_traces import TRACEPARENT, ZERO, Decoded, expected_job, tree

CLUSTER_IP = "10.96.0.10"
NET = "10.231.7."


def sh(*argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True)


class Node:
    """a network namespace and a cgroup v2 directory: what a pod sandbox on
    a node looks like to the kernel"""

    def __init__(self, name, addr):
        self.ns = name
        self.addr = addr
        self.cg = os.path.join(cgroup2_mount(), name)
        self.procs = []
        os.mkdir(self.cg)
        sh("ip", "netns", "add", self.ns)
        self.ip("link", "set", "lo", "up")

    def ip(self, *args):
        return sh("ip", "netns", "exec", self.ns, "ip", *args)

    def argv(self, argv):
        # the process joins the cgroup, then enters the namespace, then execs
        return ["sh", "-c", 'cg=$1; ns=$2; shift 2; echo $$ > "$cg/cgroup.procs" && exec ip netns exec "$ns" "$@"',
                "sh", self.cg, self.ns, *argv]

    def start(self, argv, env=None):
        p = subprocess.Popen(self.argv(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def run(self, *argv, check=True):
        return subprocess.run(self.argv(list(argv)), check=check, capture_output=True, timeout=30)

    def wait_port(self, host, port, timeout=15.0):
        deadline = time.time() + timeout
        probe = ["ip", "netns", "exec", self.ns, "bash", "-c", "echo > /dev/tcp/%s/%d" % (host, port)]
        while time.time() < deadline:
            if subprocess.run(probe, capture_output=True).returncode == 0:
                return
            time.sleep(0.05)
        raise AssertionError("nothing listens on %s:%d in %s" % (host, port, self.ns))

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        sh("ip", "netns", "del", self.ns, check=False)
        # processes that outlived their parent shell (none expected)
        try:
            with open(os.path.join(self.cg, "cgroup.procs")) as f:
                for pid in f.read().split():
                    os.kill(int(pid), 9)
        except OSError:
            pass
        for _ in range(50):
            try:
                os.rmdir(self.cg)
                break
            except OSError:
                time.sleep(0.1)


@pytest.fixture
def nodes():
    if not cgroup2_mount() or not shutil.which("iptables"):
        pytest.fail("needs a cgroup2 mount and iptables (scripts/install-deps.sh)")
    tag = "%d" % (os.getpid() % 100000)
    made = []
    try:
        a = Node("stA" + tag, NET + "1")
        made.append(a)
        b = Node("stB" + tag, NET + "2")
        made.append(b)
        va, vb = "stva" + tag, "stvb" + tag
        sh("ip", "link", "add", va, "netns", a.ns, "type", "veth", "peer", "name", vb, "netns", b.ns)
        for n, v in ((a, va), (b, vb)):
            n.ip("addr", "add", n.addr + "/24", "dev", v)
            n.ip("link", "set", v, "up")
            n.dev = v
        yield a, b
    finally:
        for n in made:
            n.close()


def service(node, target_addr, target_port):
    """a ClusterIP in node's namespace: DNAT to target, as kube-proxy does"""
    node.ip("route", "add", CLUSTER_IP + "/32", "dev", node.dev)
    sh("ip", "netns", "exec", node.ns, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", CLUSTER_IP,
       "--dport", "80", "-j", "DNAT", "--to-destination", "%s:%d" % (target_addr, target_port))


def tutorial_env(service, **kw):
    env = dict(os.environ, OTEL_SERVICE_NAME=service)
    env.update(kw)
    return env


def start_demo(front_node, back_node, lookup_host):
    """redis, lookup and worker on back_node; the front end on front_node,
    reaching lookup at lookup_host:80 (a DNAT address) or its own port"""
    rport, lport, fport = free_port(), free_port(), free_port()
    b, a = back_node, front_node
    b.start(["redis-server", "--port", str(rport), "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "",
             "--appendonly", "no"])
    b.wait_port("127.0.0.1", rport)
    redis_host = "127.0.0.1" if a is b else b.addr
    b.start([PY, os.path.join(APPS, "tutorial.py"), "lookup", str(lport), str(rport)],
            env=tutorial_env("lookup", BIND="0.0.0.0"))
    b.wait_port("127.0.0.1", lport)
    service(a, b.addr, lport)
    a.start([PY, os.path.join(APPS, "tutorial.py"), "front", str(fport), "80", str(rport)],
            env=tutorial_env("frontend", LOOKUP_HOST=lookup_host, REDIS_HOST=redis_host))
    a.wait_port("127.0.0.1", fport)
    b.start([PY, os.path.join(APPS, "tutorial.py"), "worker", str(rport)], env=tutorial_env("worker"))
    deadline = time.time() + 15
    while "cmd=brpop" not in b.run("redis-cli", "-p", str(rport), "CLIENT", "LIST").stdout.decode():
        assert time.time() < deadline, "the worker's BRPOP"
        time.sleep(0.05)
    return fport, rport, lport


def jobs(front, back, fport, rport, words, traceparent_word=None):
    for w in words:
        argv = ["curl", "-sf", "http://127.0.0.1:%d/job?word=%s" % (fport, w)]
        if w == traceparent_word:
            argv[2:2] = ["-H", "traceparent: " + TRACEPARENT]
        assert front.run(*argv).stdout == w.upper().encode() + b"\n"
    for w in words:
        deadline = time.time() + 10
        while back.run("redis-cli", "-p", str(rport), "GET", "result:" + w).stdout.decode().strip() != w:
            assert time.time() < deadline, "the worker"
            time.sleep(0.05)


def check_traces(spans, words, traceparent_word=None):
    """one whole trace per request, every parent in it, as on one host"""
    by_id = {}
    for s in spans:
        assert s.id not in by_id, "span %s exported twice" % s.id
        by_id[s.id] = s
    assert all(s.parent == ZERO or s.parent in by_id for s in spans), \
        [s.label() for s in spans if s.parent != ZERO and s.parent not in by_id]
    curls = [s for s in spans if s.service == "curl"]
    assert len(curls) == len(words)
    for curl in curls:
        trace = [s for s in spans if s.trace == curl.trace]
        word = next(s.what.split(":")[1] for s in trace if s.name == "GET" and s.what.startswith("GET cache:"))
        assert tree(trace, curl) == expected_job(word)
        # the worker's pop follows from the push its item came with
        pop = [s for s in trace if s.service == "worker" and s.name == "BRPOP"]
        pushes = {s.id for s in trace if s.name == "LPUSH"}
        assert len(pop) == 1 and pop[0].parent == ZERO
        assert len(pop[0].refs) == 1 and pop[0].refs[0][:2] == (1, curl.trace) and pop[0].refs[0][2] in pushes
        assert len(trace) == 12, [s.label() for s in trace]
        if word == traceparent_word:
            assert curl.trace == TRACEPARENT.split("-")[1]
    return len(curls)


def two_tracers(tracer, a, b, agent, *extra):
    common = ["--jaeger-agent", "127.0.0.1:%d" % agent.port, *extra]
    return (tracer("--cgroup", a.cg, *common), tracer("--cgroup", b.cg, *common))


def test_one_trace_across_two_nodes_and_a_service_dnat(tracer, nodes):
    a, b = nodes
    agent = UdpAgent("compact")
    try:
        ta, tb = two_tracers(tracer, a, b, agent)
        fport, rport, lport = start_demo(a, b, CLUSTER_IP)
        words = ["alpha", "beta", "gamma"]
        jobs(a, b, fport, rport, words, traceparent_word="gamma")
        ta.stop(settle=1.0)
        tb.stop(settle=0.2)
        time.sleep(0.3)
    finally:
        agent.close()
    assert agent.errors == []
    spans = [Decoded(p, s) for p, s in agent.spans()]
    assert check_traces(spans, words, traceparent_word="gamma") == 3
    # node A wrote options (curl's, the front end's calls), node B read them
    assert ta.counter("tcpopt_written") >= 3 * 3
    assert tb.counter("tcpopt_read") >= 3 * 2
    assert tb.counter("links_option") >= 3 * 2
    # the lookup service's spans are on node B only, the front end's on A
    assert {s.service for s in spans if s.trace} >= {"curl", "frontend", "lookup", "redis-server", "worker"}


def test_the_option_alone_links_through_dnat_on_one_node(tracer, nodes):
    a, _ = nodes
    agent = UdpAgent("compact")
    try:
        t = tracer("--cgroup", a.cg, "--no-address-links", "--jaeger-agent", "127.0.0.1:%d" % agent.port)
        fport, rport, lport = start_demo(a, a, CLUSTER_IP)
        words = ["delta", "eps"]
        jobs(a, a, fport, rport, words)
        t.stop(settle=1.0)
        time.sleep(0.3)
    finally:
        agent.close()
    spans = [Decoded(p, s) for p, s in agent.spans()]
    assert check_traces(spans, words) == 2
    assert t.counter("links") == 0  # no link by address: all by option
    assert t.counter("links_option") >= 2 * 5


def test_stripped_options_and_untraced_peers_make_no_false_links(tracer, nodes):
    a, b = nodes
    # a middlebox on node A's side of the wire strips kind 25
    sh("ip", "netns", "exec", a.ns, "iptables", "-t", "mangle", "-A", "POSTROUTING", "-o", a.dev, "-p", "tcp",
       "-j", "TCPOPTSTRIP", "--strip-options", "25")
    agent = UdpAgent("compact")
    try:
        ta, tb = two_tracers(tracer, a, b, agent)
        fport, rport, lport = start_demo(a, b, CLUSTER_IP)
        jobs(a, b, fport, rport, ["zeta"])
        # a client in node B's network but outside every traced cgroup
        out = sh("ip", "netns", "exec", b.ns, "curl", "-sf", "http://127.0.0.1:%d/lookup?word=eta" % lport)
        assert out.stdout == b"ETA"
        ta.stop(settle=1.0)
        tb.stop(settle=0.2)
        time.sleep(0.3)
    finally:
        agent.close()
    spans = [Decoded(p, s) for p, s in agent.spans()]
    by_id = {s.id: s for s in spans}
    assert all(s.parent == ZERO or s.parent in by_id for s in spans)
    # node A's request: its lookup and LPUSH calls reached B without context
    curl = [s for s in spans if s.service == "curl"]
    assert len(curl) == 1
    front_trace = {s.id for s in spans if s.trace == curl[0].trace}
    lookups = [s for s in spans if s.service == "lookup" and s.kind == "server"]
    assert len(lookups) == 2
    # no server span on B is linked into A's trace, and none has a parent
    # that came from elsewhere
    for s in lookups:
        assert s.parent == ZERO and s.id not in front_trace
    # A wrote them; B counted the requests that came without one: the
    # lookup and the LPUSH from A, and the untraced client's lookup
    assert ta.counter("tcpopt_written") >= 3
    assert tb.counter("ctx_none") >= 3


def tcp_segments(pcap):
    """(tcp options, payload) of each IPv4 TCP segment in an Ethernet pcap"""
    import struct
    with open(pcap, "rb") as f:
        data = f.read()
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 34 or pkt[12:14] != b"\x08\x00" or pkt[23] != 6:
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        total = struct.unpack_from(">H", ip, 2)[0]
        tcp = ip[ihl:total]
        doff = (tcp[12] >> 4) * 4
        opts, i, raw = {}, 20, tcp[20:doff]
        while i < doff:
            kind = tcp[i]
            if kind == 0:
                break
            if kind == 1:
                i += 1
                continue
            ln = tcp[i + 1]
            opts[kind] = tcp[i:i + ln]
            i += max(ln, 2)
        out.append((opts, tcp[doff:], raw))
    return out


def test_the_option_on_the_wire_names_the_client_span(tracer, nodes, tmp_path):
    """kind 25, 27 bytes: the trace id, the client span's id, sampled; in the
    segment that carries the request's first bytes, payload untouched"""
    a, b = nodes
    pcap = str(tmp_path / "b.pcap")
    agent = UdpAgent("compact")
    dump = None
    try:
        ta, tb = two_tracers(tracer, a, b, agent)
        fport, rport, lport = start_demo(a, b, CLUSTER_IP)
        dump = subprocess.Popen(["ip", "netns", "exec", b.ns, "tcpdump", "-i", b.dev, "-U", "-s", "0", "-w", pcap,
                                 "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
        jobs(a, b, fport, rport, ["theta"])
        time.sleep(0.5)
        ta.stop(settle=1.0)
        tb.stop(settle=0.2)
        time.sleep(0.3)
    finally:
        agent.close()
        if dump:
            dump.terminate()
            dump.wait(timeout=10)
    spans = [Decoded(p, s) for p, s in agent.spans()]
    segs = tcp_segments(pcap)
    first = {}
    for opts, payload, _ in segs:
        for verb in (b"GET /lookup", b"*4\r\n$5\r\nLPUSH", b"*3\r\n$5\r\nLPUSH"):
            if payload.startswith(verb) and verb not in first:
                first[verb] = opts
    assert b"GET /lookup" in first, "the request to the lookup service was not captured"
    lookup_client = next(s for s in spans if s.service == "frontend" and s.kind == "client" and s.name == "GET")
    push_client = next(s for s in spans if s.service == "frontend" and s.name == "LPUSH")
    for verb, span in ((b"GET /lookup", lookup_client), (b"LPUSH", push_client)):
        opts = next(o for v, o in first.items() if verb in v)
        opt = opts.get(25)
        assert opt is not None and len(opt) == 27 and opt[1] == 27, opts
        assert opt[2:18].hex() == span.trace
        assert opt[18:26].hex() == span.id
        assert opt[26] & 1 == 1
    # only a request's first segment carries it: none on the replies from B
    # (B's own server sockets answer) and none on pure ACKs
    assert all(25 not in o for o, p, _ in segs if not p)
