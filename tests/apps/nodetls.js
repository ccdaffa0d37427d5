// Node.js over TLS (node carries OpenSSL statically and reads and writes it
// through memory BIOs). Usage, with cert.pem and key.pem in DIR:
//   node nodetls.js server DIR PORT        GET /hello -> "hello from node\n"
//   node nodetls.js client DIR URL N       N keep-alive GETs of URL?i=<i>, bodies to stdout
const https = require("https");
const fs = require("fs");
const path = require("path");

const [mode, dir, arg, n] = process.argv.slice(2);
const ca = fs.readFileSync(path.join(dir, "cert.pem"));
if (mode === "server") {
  const key = fs.readFileSync(path.join(dir, "key.pem"));
  https.createServer({ key, cert: ca }, (req, res) => {
    const body = req.url.startsWith("/hello") ? "hello from node\n" : "not found\n";
    res.writeHead(req.url.startsWith("/hello") ? 200 : 404, { "Content-Length": body.length });
    res.end(body);
  }).listen(Number(arg), "127.0.0.1");
} else {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  (async () => {
    for (let i = 0; i < Number(n || 1); i++) {
      await new Promise((ok, bad) => {
        https.get(arg + "?i=" + i, { agent }, (r) => {
          r.on("data", (d) => process.stdout.write(d));
          r.on("end", ok);
        }).on("error", bad);
      });
    }
    agent.destroy();
  })();
}
