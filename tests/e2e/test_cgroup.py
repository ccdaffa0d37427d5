"""--cgroup: only processes inside the given cgroup v2 subtrees are traced,
decided in the kernel. The test makes its own cgroups under the cgroup2 mount
(found in /proc/mounts) and removes them afterwards."""
import os
import subprocess
import time

import pytest

from conftest import APPS, PY, SPANTAP, free_port, run, wait_port
from conftest import cgroup2_mount as conftest_cgroup2_mount


def cgroup2_mount():
    path = conftest_cgroup2_mount()
    if not path:
        pytest.skip("no cgroup2 mount")
    return path


@pytest.fixture
def cgroups():
    """make(rel) creates a cgroup v2 directory; all are removed at the end,
    after the processes started in them (in_cgroup) are gone."""
    root = cgroup2_mount()
    made, procs = [], []

    def make(rel):
        path = os.path.join(root, rel.lstrip("/"))
        os.mkdir(path)
        made.append(path)
        return path

    def in_cgroup(path, argv, **kw):
        # the child joins the cgroup itself, before it execs the program
        p = subprocess.Popen(["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', path, *argv], **kw)
        procs.append(p)
        return p

    yield make, in_cgroup
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    for path in reversed(made):
        for _ in range(100):
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.05)
    for path in made:
        assert not os.path.exists(path), "cgroup left behind: " + path


def start_app(in_cgroup, cg, port):
    p = in_cgroup(cg, [PY, os.path.join(APPS, "httpapp.py"), str(port)], stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL)
    wait_port(port)
    return p


def test_cgroup_subtree_traced_outside_not(tracer, cgroups):
    make, in_cgroup = cgroups
    name = "spantap-test-%d" % os.getpid()
    top = make(name)
    other = make(name + "-other")
    t = tracer("--cgroup", "/" + name)
    # made after spantap started, below the filtered cgroup: still inside;
    # the server's shell writes to cgroup.procs (a write the kernel decides
    # on while it is still outside), then execs: its answer must change
    inner = make(name + "/late")
    pin, pout = free_port(), free_port()
    start_app(in_cgroup, inner, pin)
    start_app(in_cgroup, other, pout)
    base_in, base_out = "http://127.0.0.1:%d" % pin, "http://127.0.0.1:%d" % pout
    for _ in range(3):
        run("curl", "-s", "-o", "/dev/null", base_in + "/hello")  # the client is outside
        run("curl", "-s", "-o", "/dev/null", base_out + "/hello")
    # a client inside calls the server outside: only the client's side
    c = in_cgroup(top, ["curl", "-s", "-o", "/dev/null", base_out + "/status/201"])
    assert c.wait(timeout=10) == 0
    spans = t.stop()
    server = [s for s in spans if s["kind"] == "server"]
    client = [s for s in spans if s["kind"] == "client"]
    assert len(server) == 3 and all(s["tags"]["server.port"] == pin for s in server), spans
    assert len(client) == 1 and client[0]["tags"]["server.port"] == pout, spans
    assert client[0]["tags"]["http.status_code"] == 201
    assert len(spans) == 4
    # the kernel looked up the ancestors of (at least) the processes made here
    assert t.counter("kernel_cgroup_walks") >= 4


def test_cgroup_accepts_absolute_path_and_rejects_others(tracer, cgroups):
    make, in_cgroup = cgroups
    top = make("spantap-test-abs-%d" % os.getpid())
    port = free_port()
    start_app(in_cgroup, top, port)
    t = tracer("--cgroup", top, "--port", str(port))
    run("curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % port)
    spans = t.stop()
    assert [s["kind"] for s in spans] == ["server"], spans
    for bad, why in (("/spantap-no-such-cgroup", "No such file or directory"), ("/tmp", "not a cgroup v2 directory")):
        r = subprocess.run([SPANTAP, "--cgroup", bad], capture_output=True, text=True)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0] and bad in lines[0], r.stderr
