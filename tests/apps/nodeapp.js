// An event-loop HTTP server in Node.js: GET /call?port=P&id=I&ms=MS asks the
// back end for /slow?ms=MS&id=I and then answers. Usage: node nodeapp.js PORT
const http = require("http");

http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const port = url.searchParams.get("port");
  const done = () => { res.writeHead(200, { "Content-Length": 3 }); res.end("ok\n"); };
  if (!port) return done();
  const path = "/slow?ms=" + (url.searchParams.get("ms") || "300") + "&id=" + url.searchParams.get("id");
  http.get({ host: "127.0.0.1", port: Number(port), path }, (r) => { r.resume(); r.on("end", done); });
}).listen(Number(process.argv[2]), "127.0.0.1");
