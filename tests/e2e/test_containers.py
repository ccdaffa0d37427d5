"""Containers and Kubernetes pods under the real Docker engine and real
containerd (Debian's docker.io, started by the fixture): who each span
belongs to (Jaeger Process tags, the JSON "process" object), the service
name rules, and --container/--namespace filtering in the kernel. Test
traffic stays on loopback (--network host); images are made locally."""
import os
import time
import uuid

import pytest

from conftest import APPS, PY, ROOT, cgroup2_mount, free_port, run, wait_port
import engines
from jaeger_rx import UdpAgent

pytestmark = pytest.mark.skipif(not engines.have_engines() or not cgroup2_mount(),
                                reason="needs docker.io and containerd (scripts/install-deps.sh) and cgroup2")

APP = os.path.join(APPS, "httpapp.py")
NODE = "node-e2e-7"


@pytest.fixture(scope="module")
def eng():
    e = engines.Engines(ROOT)
    yield e
    e.stop()


@pytest.fixture
def node_name(monkeypatch):
    monkeypatch.setenv("NODE_NAME", NODE)


def uniq(prefix):
    return "%s-%d-%s" % (prefix, os.getpid(), uuid.uuid4().hex[:6])


def app(eng, name, port, **kw):
    cid = eng.run(name, [PY, APP, str(port)], **kw)
    wait_port(port)
    return cid


def curl(port, path="/hello"):
    run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d%s" % (port, path))


def servers(spans, port):
    return [s for s in spans if s["kind"] == "server" and s["tags"].get("server.port") == port]


def test_plain_and_k8s_style_docker_containers(tracer, eng, node_name):
    """a plain container, containers made as cri-dockerd makes pod
    containers (one with OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES),
    and a host process next to them, exported to a Jaeger agent"""
    plain, p1 = uniq("demo-redis"), free_port()
    uid = str(uuid.uuid4())
    k8s, p2 = "k8s_web_frontend-5c7d_shop_%s_0" % uid, free_port()
    otel, p3 = "k8s_api_frontend-5c7d_shop_%s_0" % uid, free_port()
    labels = {"io.kubernetes.pod.name": "frontend-5c7d", "io.kubernetes.pod.namespace": "shop",
              "io.kubernetes.pod.uid": uid, "io.kubernetes.docker.type": "container"}
    parent = "/kubepods/besteffort/pod" + uid
    plain_id = eng.run(plain, ["redis-server", "--port", str(p1), "--save", "", "--appendonly", "no"])
    wait_port(p1)
    k8s_id = app(eng, k8s, p2, labels={**labels, "io.kubernetes.container.name": "web"}, cgroup_parent=parent)
    app(eng, otel, p3, labels={**labels, "io.kubernetes.container.name": "api"}, cgroup_parent=parent,
        env={"OTEL_SERVICE_NAME": "checkout-api",
             "OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,deployment.environment=staging,team=pay%2Cments"})
    agent = UdpAgent()
    try:
        t = tracer("--port", str(p1), "--port", str(p2), "--port", str(p3), "--print",
                   "--jaeger-agent", "127.0.0.1:%d" % agent.port)
        run("redis-cli", "-p", str(p1), "SET", "k", "v")
        curl(p2)
        curl(p3)
        spans = t.stop()
        time.sleep(0.3)
    finally:
        agent.close()
    # the plain container: container tags, its name as service, no k8s.*
    [redis] = [s for s in spans if s["kind"] == "server" and s["tags"].get("server.port") == p1]
    assert redis["service"] == plain
    assert redis["process"] == {"container.id": plain_id, "container.name": plain,
                                "container.image.name": engines.BASE}
    # cri-dockerd's pod container: the k8s tags, the container name as service
    [web] = servers(spans, p2)
    assert web["service"] == "web"
    assert web["process"] == {"container.id": k8s_id, "container.name": k8s, "container.image.name": engines.BASE,
                              "k8s.pod.name": "frontend-5c7d", "k8s.pod.uid": uid, "k8s.namespace.name": "shop",
                              "k8s.container.name": "web", "k8s.node.name": NODE}
    # OTEL_SERVICE_NAME wins; the resource's other attributes are tags
    [api] = servers(spans, p3)
    assert api["service"] == "checkout-api"
    assert api["process"]["deployment.environment"] == "staging" and api["process"]["team"] == "pay,ments"
    assert api["process"]["k8s.container.name"] == "api"
    # host processes (curl, redis-cli): no container tags
    clients = [s for s in spans if s["kind"] == "client"]
    assert len(clients) == 3 and all("process" not in s for s in clients), clients
    # the same on the Jaeger Process, decoded by Apache Thrift
    assert agent.errors == []
    procs = {}
    for proc, s in agent.spans():
        procs[proc.serviceName] = {tg.key: tg.vStr if tg.vType == 0 else tg.vLong for tg in proc.tags}
    assert procs[plain]["container.id"] == plain_id and "k8s.pod.name" not in procs[plain]
    assert procs["web"]["k8s.pod.uid"] == uid and procs["web"]["k8s.node.name"] == NODE
    assert procs["checkout-api"]["deployment.environment"] == "staging"
    # NODE_NAME names the host (in a pod, the host name is the pod's)
    assert all(p["host.name"] == NODE for p in procs.values())
    assert "container.id" not in procs["curl"] and "container.id" not in procs["redis-cli"]
    for name in (plain, k8s, otel):
        eng.rm(name)


def test_containerd_cri_container(tracer, eng, node_name):
    """made as containerd's CRI plugin makes one: real containerd writes the
    io.kubernetes.cri.* annotations into the bundle's config.json"""
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    uid, port = str(uuid.uuid4()), free_port()
    ann = {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-name": "cart-6f9c",
           "io.kubernetes.cri.sandbox-namespace": "shop", "io.kubernetes.cri.sandbox-uid": uid,
           "io.kubernetes.cri.container-name": "cart", "io.kubernetes.cri.image-name": "registry.example/cart:1.4"}
    eng.ctr_run(cid, [PY, APP, str(port)], ann, "/kubepods/besteffort/pod%s/%s" % (uid, cid))
    wait_port(port)
    t = tracer("--port", str(port))
    curl(port)
    spans = t.stop()
    [s] = servers(spans, port)
    assert s["service"] == "cart"
    assert s["process"] == {"container.id": cid, "container.name": "cart",
                            "container.image.name": "registry.example/cart:1.4", "k8s.pod.name": "cart-6f9c",
                            "k8s.pod.uid": uid, "k8s.namespace.name": "shop", "k8s.container.name": "cart",
                            "k8s.node.name": NODE}


def test_container_filter(tracer, eng):
    """--container traces only that container, also one that starts after
    spantap; traces across containers stay whole; one that exits is let go;
    --namespace picks a namespace's containers"""
    front, back, other = uniq("front"), uniq("back"), uniq("other")
    pf, pb, po = free_port(), free_port(), free_port()
    uid = str(uuid.uuid4())
    app(eng, other, po)
    t = tracer("--container", front, "--container", back)
    # both start after spantap
    app(eng, back, pb)
    front_id = app(eng, front, pf)
    curl(pf, "/call?port=%d&path=/hello" % pb)
    curl(po)
    run(PY, "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:%d/hello').read()" % pb)
    eng.rm(back)
    spans = t.stop()
    assert "following container '%s'" % front in t.stderr and "following container '%s'" % back in t.stderr
    assert servers(spans, po) == []
    [fs] = servers(spans, pf)
    [fc] = [s for s in spans if s["kind"] == "client" and s["service"] == front]
    bs = servers(spans, pb)
    assert len(bs) == 2  # from front, and from a host process (its client side not traced)
    assert fs["process"]["container.id"] == front_id
    linked = [s for s in bs if s["parent_span_id"] == fc["span_id"]]
    assert len(linked) == 1 and linked[0]["trace_id"] == fc["trace_id"] == fs["trace_id"]
    assert fc["parent_span_id"] == fs["span_id"]
    # only the containers: no host client spans
    assert all(s["service"] in (front, back) for s in spans), [s["service"] for s in spans]

    # by namespace (and a short id prefix): pod containers of "shop" only
    ns1, ns2 = uniq("k8s_a"), uniq("k8s_b")
    p1, p2 = free_port(), free_port()
    t = tracer("--namespace", "shop", "--container", front_id[:8])
    app(eng, ns1, p1, labels={"io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "a-1",
                              "io.kubernetes.pod.uid": uid, "io.kubernetes.container.name": "a"},
        cgroup_parent="/kubepods/besteffort/pod" + uid)
    app(eng, ns2, p2, labels={"io.kubernetes.pod.namespace": "other", "io.kubernetes.pod.name": "b-1",
                              "io.kubernetes.pod.uid": str(uuid.uuid4()), "io.kubernetes.container.name": "b"})
    curl(p1)
    curl(p2)
    curl(pf)
    spans = t.stop()
    assert len(servers(spans, p1)) == 1 and servers(spans, p2) == [] and len(servers(spans, pf)) == 1
    for name in (front, other, ns1, ns2):
        eng.rm(name)


def test_bad_container_flags():
    from conftest import SPANTAP
    import subprocess
    r = subprocess.run([SPANTAP, "--container", ""], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--container" in r.stderr
