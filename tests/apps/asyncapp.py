#!/usr/bin/env python3
"""An event-loop HTTP server (asyncio, one thread serves every request at
once, as Node.js does). GET /call?port=P&id=I asks the back end for
/slow?ms=MS&id=I (MS from the request, default 300) and then answers.
Usage: asyncapp.py PORT
"""
import asyncio
import sys
from urllib.parse import parse_qs, urlsplit


async def call(port, path):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET %s HTTP/1.1\r\nHost: back\r\nConnection: close\r\n\r\n" % path.encode())
    await w.drain()
    await r.read()
    w.close()


async def handle(reader, writer):
    while True:
        head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
        if not head:
            break
        target = head.split(b" ")[1].decode()
        q = parse_qs(urlsplit(target).query)
        if "port" in q:
            await call(int(q["port"][0]), "/slow?ms=%s&id=%s" % (q.get("ms", ["300"])[0], q["id"][0]))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        await writer.drain()
    writer.close()


async def main(port):
    server = await asyncio.start_server(lambda r, w: handle(r, w), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
