"""The container image (Dockerfile), built and run with the real Docker
engine: `make image-test` (slow: a Debian base made with mmdebstrap, then the
build's apt-get; not in CI). The image must trace a server on the host from
inside its container, as the DaemonSet runs it: host pid namespace, the
capabilities the manifest grants, the host's cgroup tree and tracefs."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, free_port, run, wait_port
import engines

pytestmark = pytest.mark.skipif(os.environ.get("SPANTAP_IMAGE_TEST") != "1" or not engines.have_engines()
                                or not shutil.which("mmdebstrap"),
                                reason="make image-test (needs docker.io, containerd and mmdebstrap)")

BASE = "spantap-debian:bookworm"
IMAGE = "spantap:test"


LOCK = "/tmp/spantap-e2e.lock"


def test_image_traces_the_host(eng_image):
    # the build needs no lock; loading BPF programs does (shared machines)
    import fcntl
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        run_image()


def run_image():
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                           stdout=subprocess.DEVNULL)
    try:
        wait_port(port)
        name = "spantap-image-test-%d" % os.getpid()
        p = subprocess.Popen([engines.DOCKER, "run", "--rm", "--name", name, "--pid", "host", "--network", "host",
                              # Docker 20.10 knows no CAP_BPF/CAP_PERFMON (containerd
                              # 1.6, under Kubernetes, does): SYS_ADMIN stands in for both
                              "--user", "0", "--cap-drop", "ALL", "--cap-add", "SYS_ADMIN",
                              "--cap-add", "SYS_PTRACE", "--security-opt", "seccomp=unconfined",
                              "--security-opt", "apparmor=unconfined", "--read-only",
                              "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", "-v", "/sys/kernel/tracing:/sys/kernel/tracing:ro",
                              "-e", "NODE_NAME=node-image", IMAGE, "-o", "json", "--port", str(port), "-d", "6"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        run("redis-cli", "-p", str(port), "PING")
        out, err = p.communicate(timeout=30)
    finally:
        srv.terminate()
        srv.wait()
    assert p.returncode == 0, err
    assert '"name":"PING"' in out, (out, err)


@pytest.fixture(scope="module")
def eng_image():
    e = engines.Engines(ROOT)
    try:
        cache = os.path.join(ROOT, "build", "image")
        os.makedirs(cache, exist_ok=True)
        tar = os.path.join(cache, "bookworm.tar")
        if not os.path.exists(tar):
            subprocess.run(["mmdebstrap", "--variant=minbase", "--format=tar", "bookworm", tar + ".tmp"], check=True,
                           capture_output=True)
            os.rename(tar + ".tmp", tar)
        engines.docker("import", tar, BASE, timeout=300)
        subprocess.run([engines.DOCKER, "build", "--network", "host", "--build-arg", "BASE=" + BASE, "-t", IMAGE,
                        ROOT], check=True, capture_output=True, timeout=1800)
        yield e
    finally:
        engines.docker("rmi", "-f", IMAGE, BASE, check=False)
        e.stop()
