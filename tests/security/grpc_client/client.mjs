// An independent gRPC client for the hostile-client tests: @grpc/grpc-js with the
// project's .proto loaded at run time by @grpc/proto-loader (no generated code of ours).
// Usage: node client.mjs SCENARIO JSON_OPTIONS
//   common options: proto (path to tandem.proto), target ("127.0.0.1:PORT"), ca (PEM),
//   token (bearer token, optional)
//   idle-streams {streams, channels, hold_ms}: opens `streams` Generate streams that never
//     send anything, then times Health; prints {"health_ms", "health_ok"} as one JSON line,
//     keeps the streams until hold_ms passed or stdin closes, then prints
//     {"ended": [{"code", "after_ms"}...]} (how and when the worker ended each stream).
//   hijack {token_b, session}: device A (token) opens `session`; device B (token_b) sends a
//     Hello for the same id (resume / take over); then A closes its session. Prints
//     {"a_ready", "b_code", "b_message", "a_close_code"}.
//   silent-session {session}: opens `session`, reads Ready, then stays silent; prints
//     {"ready": true} and later {"code", "after_ms"} when the worker ends the stream.
import fs from "node:fs";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const [scenario, json] = process.argv.slice(2);
const opt = JSON.parse(json);
const definition = protoLoader.loadSync(opt.proto, {keepCase: true, longs: Number, enums: String,
                                                    defaults: true, oneofs: true});
const v1 = grpc.loadPackageDefinition(definition).tandem.v1;

function client(token, fresh) {
  const ssl = grpc.credentials.createSsl(fs.readFileSync(opt.ca));
  const options = fresh ? {"grpc.use_local_subchannel_pool": 1} : {};
  const c = new v1.SplitInference(opt.target, ssl, options);
  const md = new grpc.Metadata();
  if (token) md.set("authorization", "Bearer " + token);
  return {c, md};
}

function health(c, md) {
  return new Promise((resolve) => {
    const start = Date.now();
    c.Health({}, md, {deadline: Date.now() + 10000}, (err, res) =>
      resolve({ms: Date.now() - start, err, res}));
  });
}

function hello(info, session) {
  return {hello: {protocol_version: info.max_protocol_version, model_id: info.model_id,
                  n_layers: info.n_layers, split_layer: info.first_layer,
                  hidden_dim: info.hidden_dim, codec: "HIDDEN_CODEC_F32",
                  sampling: {temperature: 0}, session_id: session, max_context: 64}};
}

// Resolves with the first message, or with {error} if the stream ends first.
function firstMessage(stream) {
  return new Promise((resolve) => {
    stream.once("data", (m) => resolve({message: m}));
    stream.once("error", (e) => resolve({error: e}));
  });
}

function ended(stream, start) {
  return new Promise((resolve) => {
    stream.on("data", () => {});
    stream.on("error", (e) => resolve({code: e.code, after_ms: Date.now() - start}));
    stream.on("end", () => resolve({code: 0, after_ms: Date.now() - start}));
  });
}

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

if (scenario === "idle-streams") {
  // The Health client connects first (TLS handshake done), so what is timed below is the
  // worker's answer while the idle streams are open, not connection setup.
  const probe = client(opt.token, true);
  const warm = await health(probe.c, probe.md);
  if (warm.err) {
    out({health_ms: warm.ms, health_ok: false, health_error: String(warm.err)});
    process.exit(1);
  }
  const channels = Array.from({length: opt.channels}, () => client(opt.token, true));
  const start = Date.now();
  const ends = [];
  const streams = [];
  for (let i = 0; i < opt.streams; ++i) {
    const {c, md} = channels[i % channels.length];
    const s = c.Generate(md);
    streams.push(s);
    ends.push(ended(s, start));
  }
  await new Promise((r) => setTimeout(r, 500));  // let them all reach the worker
  const h = await health(probe.c, probe.md);
  out({health_ms: h.ms, health_ok: !h.err, health_error: h.err ? String(h.err) : null});
  const release = new Promise((r) => {
    setTimeout(r, opt.hold_ms);
    process.stdin.on("end", r).on("close", r);
    process.stdin.resume();
  });
  const all = Promise.all(ends);
  await Promise.race([release, all]);
  for (const s of streams) s.cancel();
  out({ended: await all});
  process.exit(0);
} else if (scenario === "hijack") {
  const a = client(opt.token, true), b = client(opt.token_b, true);
  const info = (await health(a.c, a.md)).res;
  const sa = a.c.Generate(a.md);
  sa.write(hello(info, opt.session));
  const ra = await firstMessage(sa);
  const sb = b.c.Generate(b.md);
  sb.write(hello(info, opt.session));
  const rb = await firstMessage(sb);
  const aEnd = ended(sa, Date.now());
  sa.write({close: {}});
  sa.end();
  const ae = await aEnd;
  out({a_ready: !!(ra.message && ra.message.ready), a_error: ra.error ? String(ra.error) : null,
       b_code: rb.error ? rb.error.code : 0, b_message: rb.error ? rb.error.details : "",
       b_got_ready: !!(rb.message && rb.message.ready), a_close_code: ae.code});
  process.exit(0);
} else if (scenario === "silent-session") {
  const a = client(opt.token, true);
  const info = (await health(a.c, a.md)).res;
  const s = a.c.Generate(a.md);
  s.write(hello(info, opt.session));
  const r = await firstMessage(s);
  out({ready: !!(r.message && r.message.ready), error: r.error ? String(r.error) : null});
  out(await ended(s, Date.now()));
  process.exit(0);
} else {
  console.error("unknown scenario " + scenario);
  process.exit(2);
}
