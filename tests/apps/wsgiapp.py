"""A Flask app for gunicorn's pre-fork sync workers: GET /call?port=P asks
http://127.0.0.1:P/hello, then answers."""
import http.client

from flask import Flask, request

app = Flask("wsgiapp")


@app.route("/call")
def call():
    c = http.client.HTTPConnection("127.0.0.1", int(request.args["port"]), timeout=5)
    c.request("GET", "/hello")
    c.getresponse().read()
    c.close()
    return "called\n"
