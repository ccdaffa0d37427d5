#!/usr/bin/env python3
"""Requests of the profile tests: COUNT GETs of PATH/<n> per PATH=COUNT
argument, spread over THREADS keep-alive connections, in a shuffled order.
Prints how many answers of each status it got, as JSON.
Usage: loadgen.py PORT THREADS PATH=COUNT...
"""
import http.client
import json
import random
import sys
import threading
from collections import Counter

port, nthreads = int(sys.argv[1]), int(sys.argv[2])
work = []
for arg in sys.argv[3:]:
    path, count = arg.rsplit("=", 1)
    work += ["%s/%d" % (path, 1000 + i) for i in range(int(count))]
random.Random(7).shuffle(work)
statuses = Counter()
lock = threading.Lock()


def worker(paths):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for p in paths:
        conn.request("GET", p)
        r = conn.getresponse()
        r.read()
        with lock:
            statuses[r.status] += 1
    conn.close()


threads = [threading.Thread(target=worker, args=(work[i::nthreads],)) for i in range(nthreads)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({str(k): v for k, v in sorted(statuses.items())}))
