// Decodes OTLP/HTTP protobuf bodies with the OpenTelemetry project's own
// generated code (@opentelemetry/otlp-transformer's build/src/generated/
// root.js, protobufjs), for the tests: nothing here parses protobuf.
// stdin: bodies, each after its length as 4 bytes big-endian; argv[2]: the
// package's folder. stdout: a JSON array, one object per body (ids and
// other bytes in hex, 64-bit integers as strings, enums as numbers), or
// {"error": ...} for a body that does not decode, verify, or has bytes left.
"use strict";
const path = require("path");
const root = require(path.join(process.argv[2], "build/src/generated/root.js"));
const v1 = root.opentelemetry.proto.collector.trace.v1;
const $protobuf = require(require.resolve("protobufjs/minimal", { paths: [process.argv[2]] }));

function hexify(o) {
  if (o instanceof Uint8Array || Buffer.isBuffer(o)) return Buffer.from(o).toString("hex");
  if (Array.isArray(o)) return o.map(hexify);
  if (o && typeof o === "object") {
    const out = {};
    for (const k of Object.keys(o)) out[k] = hexify(o[k]);
    return out;
  }
  return o;
}

const input = require("fs").readFileSync(0);
const out = [];
const kind = process.argv[3] || "request";
for (let at = 0; at < input.length; ) {
  const n = input.readUInt32BE(at);
  const body = input.subarray(at + 4, at + 4 + n);
  at += 4 + n;
  try {
    const T = kind === "request" ? v1.ExportTraceServiceRequest : v1.ExportTraceServiceResponse;
    const reader = $protobuf.Reader.create(body);
    const msg = T.decode(reader);
    if (reader.pos !== body.length) throw new Error("bytes left: " + (body.length - reader.pos));
    const err = T.verify(msg);
    if (err) throw new Error("verify: " + err);
    out.push(hexify(T.toObject(msg, { longs: String, enums: Number, bytes: Buffer, oneofs: true })));
  } catch (e) {
    out.push({ error: String(e) });
  }
}
process.stdout.write(JSON.stringify(out));
