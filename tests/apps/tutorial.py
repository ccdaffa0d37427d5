#!/usr/bin/env python3
"""The classic OpenTracing tutorial demo, written fresh and uninstrumented.

  tutorial.py front PORT LOOKUP_PORT REDIS_PORT
      Flask: GET /job?word=W asks the lookup service for W over HTTP, then
      LPUSHes the result onto the Redis list "jobs" and answers it.
  tutorial.py lookup PORT REDIS_PORT
      Flask: GET /lookup?word=W reads cache:W from Redis; on a miss it
      computes the value and SETs it.
  tutorial.py worker REDIS_PORT
      BRPOPs "jobs" forever and SETs a cleaned result:W for each item.

Where the others are: LOOKUP_HOST and REDIS_HOST (default 127.0.0.1); the
servers listen on BIND (default 127.0.0.1). The cross-node tests put the
services in two network namespaces and reach the lookup service through a
Service-style DNAT address.
"""
import http.client
import os
import sys

import redis

BIND = os.environ.get("BIND", "127.0.0.1")
LOOKUP_HOST = os.environ.get("LOOKUP_HOST", "127.0.0.1")
REDIS_HOST = os.environ.get("REDIS_HOST", "127.0.0.1")


def front(port, lookup_port, redis_port):
    from flask import Flask, request
    app = Flask("front")
    r = redis.Redis(host=REDIS_HOST, port=redis_port)

    @app.route("/job")
    def job():
        word = request.args.get("word", "x")
        c = http.client.HTTPConnection(LOOKUP_HOST, lookup_port, timeout=5)
        c.request("GET", "/lookup?word=" + word)
        value = c.getresponse().read().decode()
        c.close()
        r.lpush("jobs", "%s=%s" % (word, value))
        return value + "\n"

    app.run(host=BIND, port=port, threaded=True)


def lookup(port, redis_port):
    from flask import Flask, request
    app = Flask("lookup")
    r = redis.Redis(host=REDIS_HOST, port=redis_port)

    @app.route("/lookup")
    def look():
        word = request.args.get("word", "x")
        value = r.get("cache:" + word)
        if value is None:
            value = word.upper().encode()
            r.set("cache:" + word, value)
        return value

    app.run(host=BIND, port=port, threaded=True)


def worker(redis_port):
    r = redis.Redis(host=REDIS_HOST, port=redis_port)
    while True:
        _, item = r.brpop("jobs", 0)
        word, _, value = item.decode().partition("=")
        r.set("result:" + word, value.strip().lower())


if __name__ == "__main__":
    role, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    {"front": front, "lookup": lookup, "worker": worker}[role](*args)
