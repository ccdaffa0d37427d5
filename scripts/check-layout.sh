#!/usr/bin/env bash
# The layering of user/: one folder per pipeline stage, and dependencies
# point down. A file may include headers from its own folder or a lower one,
# never a higher one; no files may depend on each other in a cycle.
#
# The order, lowest first (files directly in user/, i.e. main.c, are "main"):
#   base    leaves: log, counters, pools, ids, clocks, hash, capabilities
#   ingest  the BPF loader and ring buffer
#   parse   wire-format parsers: HTTP/1.x, RESP, trace-context headers
#   conn    connection table, request queues, per-protocol state
#   span    the span model and its tags
#   emit    sinks: the registry and the printers
#   export  Jaeger batching, model, Thrift, agent, collector (sinks)
#   trace   ids per request: nesting, peer links, queue hop, the hold gate
#   proto   protocol sessions: they drive conn, trace, span and the gate
#   main    wiring
# The sessions sit above trace/ and span/ because they call those stages
# explicitly; no stage below calls one above it.
#
# Rules, one line per violation on stdout, exit 1 if any:
#   layer   a file includes a header from a higher folder
#   cycle   files depend on each other in a cycle: a source and its header
#           (x.c, x.h in one folder) are one module, and a module depends
#           on the modules whose headers it includes; each link of the
#           cycle is shown as "includer -> included header"
#   qualify an include of a user/ header is not folder-qualified
#           ("base/log.h", not "log.h")
#   folder  a folder of user/ missing from the order
#   name    two sources share a basename (ar names archive members by it)
#
# Usage: scripts/check-layout.sh [--root DIR] [--self-test]
set -euo pipefail

ORDER="base ingest parse conn span emit export trace proto main"

exec /usr/bin/python3 - "$ORDER" "$@" <<'PY'
import os, re, subprocess, sys, tempfile

order = sys.argv[1].split()
args = sys.argv[2:]
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(rel):
    """rel is relative to user/: its folder, or main for user/*.c."""
    return rel.split("/", 1)[0] if "/" in rel else "main"


def check(root):
    user = os.path.join(root, "user")
    files = []
    for d, _, names in os.walk(user):
        for n in names:
            if n.endswith((".c", ".h")):
                files.append(os.path.relpath(os.path.join(d, n), user))
    files.sort()
    present = set(files)
    out = []

    for layer in sorted({layer_of(f) for f in files}):
        if layer not in order:
            out.append("folder: user/%s/ is not in the layer order (%s)" % (layer, " < ".join(order)))

    seen = {}
    for f in files:
        if f.endswith(".c"):
            b = os.path.basename(f)
            if b in seen:
                out.append("name: user/%s and user/%s share a basename" % (seen[b], f))
            seen.setdefault(b, f)

    def module(f):
        return f[:-2]  # x.c and x.h are module x

    mods = sorted({module(f) for f in files})
    edges = {m: {} for m in mods}  # module -> {module: (includer, included)}
    for f in files:
        with open(os.path.join(user, f), errors="replace") as fh:
            for line in fh:
                m = INC.match(line)
                if not m:
                    continue
                inc = m.group(1)
                local = os.path.normpath(os.path.join(os.path.dirname(f), inc))
                if "/" not in inc and local in present:
                    out.append('qualify: user/%s includes "%s": write "%s"' % (f, inc, local))
                    target = local
                elif os.path.normpath(inc) in present:
                    target = os.path.normpath(inc)
                elif local in present:
                    target = local
                else:
                    continue  # bpf/, the build folder, the system
                a, b = layer_of(f), layer_of(target)
                if a in order and b in order and order.index(a) < order.index(b):
                    out.append("layer: user/%s includes user/%s (%s < %s)" % (f, target, a, b))
                if module(target) != module(f):
                    edges[module(f)].setdefault(module(target), (f, target))

    # Tarjan's strongly connected components, iteratively
    index, low, onstack, stack, sccs, counter = {}, {}, set(), [], [], [0]
    for start in mods:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                onstack.add(v)
            succ = sorted(edges[v])
            recurse = False
            for j in range(i, len(succ)):
                w = succ[j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in onstack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    onstack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    sccs.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])

    for comp in sorted(sccs):
        # one shortest cycle through the component's first module
        members, first = set(comp), comp[0]
        prev, queue, last = {first: None}, [first], None
        while queue and last is None:
            v = queue.pop(0)
            for w in sorted(edges[v]):
                if w == first:
                    last = v
                    break
                if w in members and w not in prev:
                    prev[w] = v
                    queue.append(w)
        chain, v = [first], last
        while v is not None and v != first:
            chain.insert(1, v)
            v = prev[v]
        chain.append(first)
        links = ["user/%s -> user/%s" % edges[x][y] for x, y in zip(chain, chain[1:])]
        more = ""
        if len(comp) > len(chain) - 1:
            more = " (one of the cycles among %s)" % ", ".join("user/" + m + ".*" for m in comp)
        out.append("cycle: " + "; ".join(links) + more)
    return out, len(files)


def write(root, rel, text):
    p = os.path.join(root, "user", rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as fh:
        fh.write(text)


def self_test():
    ok = True
    with tempfile.TemporaryDirectory() as clean, tempfile.TemporaryDirectory() as bad:
        for root in (clean, bad):
            write(root, "base/log.h", "#include <stdio.h>\n")
            write(root, "base/log.c", '#include "base/log.h"\n')
            write(root, "conn/conn.h", '#include "base/log.h"\n#include "spantap.h"\n')
            write(root, "conn/conn.c", '#include "conn/conn.h"\n')
            write(root, "trace/link.h", "struct conn;\n")
            write(root, "trace/link.c", '#include "trace/link.h"\n#include "conn/conn.h"\n')
            write(root, "main.c", '#include "conn/conn.h"\n#include "trace/link.h"\n')
        # a lower folder including a higher one, which includes it back
        write(bad, "conn/conn.c", '#include "conn/conn.h"\n#include "trace/link.h"\n')
        # a cycle through headers inside one folder
        write(bad, "span/a.h", '#include "span/b.h"\n')
        write(bad, "span/b.h", "struct b;\n")
        write(bad, "span/b.c", '#include "span/b.h"\n#include "span/a.h"\n')
        write(bad, "span/a.c", '#include "span/a.h"\n')
        write(bad, "emit/sink.c", '#include "sink.h"\n')
        write(bad, "emit/sink.h", "struct sink;\n")
        write(bad, "proto/http.c", "\n")
        write(bad, "export/http.c", "\n")
        write(bad, "extra/x.c", "\n")
        want = [
            "layer: user/conn/conn.c includes user/trace/link.h (conn < trace)",
            "cycle: user/conn/conn.c -> user/trace/link.h; user/trace/link.c -> user/conn/conn.h",
            "cycle: user/span/a.h -> user/span/b.h; user/span/b.c -> user/span/a.h",
            'qualify: user/emit/sink.c includes "sink.h": write "emit/sink.h"',
            "name: user/export/http.c and user/proto/http.c share a basename",
            "folder: user/extra/ is not in the layer order",
        ]
        got, _ = check(clean)
        if got:
            print("self-test: a clean tree reported:\n  " + "\n  ".join(got))
            ok = False
        got, _ = check(bad)
        for w in want:
            if not any(g.startswith(w) for g in got):
                print("self-test: not reported: " + w)
                ok = False
        if ok and len(got) != len(want):
            print("self-test: reported more than planted:\n  " + "\n  ".join(got))
            ok = False
        if not ok:
            print("self-test: everything reported:\n  " + "\n  ".join(got))
    print("check-layout self-test: %s" % ("ok" if ok else "FAILED"))
    return ok


root = "."
if "--root" in args:
    root = args[args.index("--root") + 1]
if "--self-test" in args:
    sys.exit(0 if self_test() else 1)
problems, n = check(root)
for p in problems:
    print(p)
if problems:
    print("check-layout: %d violation(s); order %s" % (len(problems), " < ".join(order)), file=sys.stderr)
    sys.exit(1)
print("check-layout: %d files in user/, order %s: ok" % (n, " < ".join(order)))
PY
