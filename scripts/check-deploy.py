#!/usr/bin/python3
"""Validates deploy/kubernetes/*.yaml without a cluster.

`kubectl apply --dry-run=client` still asks an API server for its resource
list and schema, so it cannot run here. Instead every object is decoded into
Kubernetes' own API model classes (Debian's python3-kubernetes, generated
from the API's OpenAPI schema): a missing required field raises, and a
misspelt or unknown field shows up as a difference when the object is
encoded back. yamllint checks the YAML itself. Then what spantap needs of
its DaemonSet is checked: hostPID, capabilities, read-only mounts, the
downward API variables, a liveness probe, resources.
Usage: scripts/check-deploy.py FILE...
"""
import subprocess
import sys

import yaml
from kubernetes import client

KINDS = {("v1", "Namespace"): "V1Namespace", ("v1", "ServiceAccount"): "V1ServiceAccount",
         ("apps/v1", "DaemonSet"): "V1DaemonSet"}


def diff(a, b, path=""):
    """paths where the decoded-and-encoded object lost or changed a value"""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a:
            if k not in b:
                out.append("%s.%s: unknown field" % (path, k))
            else:
                out += diff(a[k], b[k], "%s.%s" % (path, k))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, "%s[%d]" % (path, i))
    elif a != b and str(a) != str(b):
        out.append("%s: %r became %r" % (path, a, b))
    return out


def check_daemonset(ds):
    errs = []
    spec = ds["spec"]["template"]["spec"]
    c = spec["containers"][0]
    sc = c.get("securityContext", {})
    if not spec.get("hostPID"):
        errs.append("hostPID must be true: spantap reads every process's /proc entry")
    if sc.get("runAsUser") != 0 or sc.get("privileged"):
        errs.append("runAsUser: 0, not privileged")
    caps = sc.get("capabilities", {})
    if caps.get("drop") != ["ALL"] or sorted(caps.get("add", [])) != ["BPF", "NET_ADMIN", "PERFMON", "SYS_PTRACE"]:
        errs.append("capabilities: drop ALL, add BPF, PERFMON, SYS_PTRACE, NET_ADMIN: %r" % caps)
    env = {e["name"]: e for e in c.get("env", [])}
    if env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "spec.nodeName":
        errs.append("NODE_NAME from the downward API (spec.nodeName)")
    if env.get("JAEGER_AGENT_HOST", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "status.hostIP":
        errs.append("JAEGER_AGENT_HOST from status.hostIP")
    host = {v["name"] for v in spec["volumes"] if "hostPath" in v}
    for m in c["volumeMounts"]:
        if m["name"] in host and not m.get("readOnly"):
            errs.append("host mount %s must be read-only" % m["mountPath"])
    if "livenessProbe" not in c or not c.get("resources", {}).get("limits"):
        errs.append("a liveness probe and resource limits")
    return errs


def main(files):
    errs = []
    r = subprocess.run(["yamllint", "-d", "{extends: default, rules: {line-length: {max: 120}, "
                        "document-start: disable}}", *files], capture_output=True, text=True)
    if r.returncode:
        errs.append(r.stdout.strip())
    api = client.ApiClient()
    n = 0
    for f in files:
        with open(f) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
        for d in docs:
            name = "%s %s/%s" % (f, d.get("kind"), d.get("metadata", {}).get("name"))
            klass = KINDS.get((d.get("apiVersion"), d.get("kind")))
            if not klass:
                errs.append("%s: kind not checked here" % name)
                continue
            try:
                obj = api._ApiClient__deserialize(d, klass)
            except (ValueError, TypeError) as e:
                errs.append("%s: %s" % (name, e))
                continue
            back = api.sanitize_for_serialization(obj)
            # annotation keys are free-form: compared as they are
            errs += ["%s: %s" % (name, e) for e in diff(d, back)]
            if d["kind"] == "DaemonSet":
                errs += ["%s: %s" % (name, e) for e in check_daemonset(d)]
            n += 1
    if errs:
        print("\n".join(errs))
        return 1
    print("check-deploy: %d objects in %d files match Kubernetes' API models: ok" % (n, len(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
