#!/usr/bin/env python3
"""Hostile clients against the real binaries (tandem-cloud over TLS, tandem-edge's HTTP API)
on 127.0.0.1, with an independent gRPC client (npm @grpc/grpc-js + @grpc/proto-loader on
proto/tandem/v1/tandem.proto, tests/security/grpc_client) where the worker is attacked:

  fail closed      tandem-cloud refuses 0.0.0.0 without mutual TLS or tokens (and starts,
                   with a warning and tandem_cloud_unauthenticated_listener 1, only with
                   --allow-unauthenticated); tandem-edge refuses a non-loopback API without
                   --api-key-file and a bearer token over --insecure.
  idle streams     48 streams that never say Hello: Health answers in < 1 s and a real
                   generation (tandem-edge, another device's token) succeeds meanwhile;
                   with a short hello deadline the worker ends them itself.
  session theft    a second device's token + the first device's session id: PERMISSION_DENIED,
                   and the owner's stream is untouched (its Close still succeeds).
  silent sessions  two sessions that stop talking hold both slots of a 2-session worker:
                   the stream idle deadline ends them and a real generation gets a slot.
  slowloris        16 connections trickling a request header: /v1/models answers in < 1 s.
  cross-site       a text/plain POST from a foreign Origin and a DNS-rebound Host: 403;
                   --allow-origin gets CORS answers; --api-key-file is enforced.
  disconnect       a client that leaves a non-streaming request stops its generation.
  granted context  a worker that clamps max_context: the generation ends with "length".
Usage: hostile_clients_test.py TANDEM_CLOUD TANDEM_EDGE WORK_DIR"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "deploy"))
import daemons  # noqa: E402
from daemons import fail  # noqa: E402

SOURCE = daemons.SOURCE_DIR
MODEL = os.path.join(SOURCE, "deploy/models/stories260K.gguf")
PROTO = os.path.join(SOURCE, "proto/tandem/v1/tandem.proto")

# Every daemon and client started here, killed at the end even when a check fails.
STARTED = []
_process_init = daemons.Process.__init__


def _tracked_init(self, *args, **kwargs):
    _process_init(self, *args, **kwargs)
    STARTED.append(self.proc)


daemons.Process.__init__ = _tracked_init


def install_grpc_client(work_dir):
    client_dir = os.path.join(work_dir, "grpc_client")
    os.makedirs(client_dir, exist_ok=True)
    for name in ["package.json", "package-lock.json", "client.mjs"]:
        shutil.copy(os.path.join(HERE, "grpc_client", name), client_dir)
    if not os.path.isdir(os.path.join(client_dir, "node_modules", "@grpc", "grpc-js")):
        npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=client_dir,
                             capture_output=True, text=True, timeout=300)
        if npm.returncode != 0:
            fail("npm ci (@grpc/grpc-js, @grpc/proto-loader from the npm registry): " + npm.stderr)
    return client_dir


class Node:
    """client.mjs running one scenario; its stdout is read line by line (JSON)."""

    def __init__(self, client_dir, scenario, options):
        self.proc = subprocess.Popen(["node", os.path.join(client_dir, "client.mjs"), scenario,
                                      json.dumps(dict(options, proto=PROTO))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        STARTED.append(self.proc)

    def line(self, timeout=60):
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.proc.kill()
            fail("grpc client: no output after %d s; stderr: %s" % (timeout, self.proc.stderr.read()))
        text = self.proc.stdout.readline()
        if not text:
            fail("grpc client ended early: " + self.proc.stderr.read())
        return json.loads(text)

    def release(self):
        self.proc.stdin.close()


def generate(edge_bin, port, certs, token_file, prompt="Once upon a time", n=8):
    """A real split generation through the worker (tandem-edge one-shot mode)."""
    run = subprocess.run([edge_bin, "--model", MODEL, "--split", "2", "--cloud",
                          "127.0.0.1:%d" % port, "--codec", "f32", "--tls-ca", certs["ca.pem"],
                          "--auth-token-file", token_file, "-t", "1", "-p", prompt, "-n", str(n),
                          "--temp", "0", "--give-up-after-seconds", "0"],
                         capture_output=True, text=True, timeout=120)
    if run.returncode != 0 or not run.stdout.strip():
        fail("real generation failed (exit %d): %s" % (run.returncode, run.stderr))
    return run.stdout


def refuses(argv, pattern, what):
    proc = daemons.Process(argv)
    code = proc.wait(60)
    if code is None:
        proc.kill()
        fail("%s: started; expected a refusal" % what)
    if code == 0 or pattern not in proc.text():
        fail("%s: exit %s, expected %r in: %s" % (what, code, pattern, proc.text()))
    print("ok: %s refused: %s" % (what, proc.text().strip().splitlines()[-1]))


def test_fail_closed(cloud_bin, edge_bin, certs, tmp):
    base = [cloud_bin, "--model", MODEL, "--threads", "1"]
    refuses(base + ["--listen", "0.0.0.0:0", "--insecure"], "without client authentication",
            "plaintext worker on 0.0.0.0")
    tls = ["--tls-cert", certs["server.pem"], "--tls-key", certs["server.key"]]
    refuses(base + ["--listen", "0.0.0.0:0"] + tls, "without client authentication",
            "TLS worker without client auth on 0.0.0.0")
    # Explicitly allowed: starts, warns, and says so in a metric.
    cloud = daemons.Process(base + ["--listen", "0.0.0.0:0", "--metrics", "127.0.0.1:0",
                                    "--allow-unauthenticated"] + tls)
    metrics = int(cloud.wait_for(r"metrics on 127\.0\.0\.1:(\d+)/metrics$").group(1))
    cloud.wait_for(r"listening on 0\.0\.0\.0:\d+$")
    if "WARNING: --allow-unauthenticated" not in cloud.text():
        fail("no warning for --allow-unauthenticated: " + cloud.text())
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics, timeout=5).read()
    if b"tandem_cloud_unauthenticated_listener 1" not in text:
        fail("tandem_cloud_unauthenticated_listener is not 1")
    cloud.kill()
    print("ok: --allow-unauthenticated starts with a warning and the metric at 1")
    # Mutual TLS or tokens on 0.0.0.0: starts.
    cloud = daemons.Process(base + ["--listen", "0.0.0.0:0", "--tls-client-ca", certs["ca.pem"]]
                            + tls)
    cloud.wait_for(r"listening on 0\.0\.0\.0:\d+$")
    cloud.kill()
    edge = [edge_bin, "--model", MODEL, "--split", "2", "--cloud", "127.0.0.1:1"]
    refuses(edge + ["--listen", "0.0.0.0:0", "--tls-ca", certs["ca.pem"]], "--api-key-file",
            "edge API on 0.0.0.0 without an API key")
    token = os.path.join(tmp, "token-a")
    refuses(edge + ["--insecure", "--auth-token-file", token], "plaintext",
            "edge sending its token over --insecure")


def test_worker(cloud_bin, edge_bin, client_dir, certs, tmp):
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("secret-a device-a\nsecret-b device-b\n")
    for name, value in [("token-a", "secret-a"), ("token-b", "secret-b")]:
        with open(os.path.join(tmp, name), "w") as f:
            f.write(value + "\n")
    # A long hello deadline: the idle streams stay for the whole check, so what keeps
    # Health and the generation working is the design, not the deadline.
    cloud, ports = daemons.start_cloud(cloud_bin, certs, ["--model", MODEL, "--max-sessions", "4",
                                                          "--auth-tokens-file", tokens,
                                                          "--hello-timeout-seconds", "60"])
    common = {"target": "127.0.0.1:%d" % ports["grpc"], "ca": certs["ca.pem"]}
    idle = Node(client_dir, "idle-streams", dict(common, token="secret-a", streams=48,
                                                 channels=4, hold_ms=90000))
    first = idle.line()
    if not first["health_ok"] or first["health_ms"] >= 1000:
        fail("with 48 idle streams Health took %d ms (ok=%s, %s)" % (
            first["health_ms"], first["health_ok"], first["health_error"]))
    start = time.monotonic()
    text = generate(edge_bin, ports["grpc"], certs, os.path.join(tmp, "token-b"))
    print("ok: 48 idle streams: Health in %d ms, a real generation in %.2f s: %r" % (
        first["health_ms"], time.monotonic() - start, text.strip()[:40]))
    idle.release()
    ended = idle.line()["ended"]
    if len(ended) != 48:
        fail("idle streams: %r" % ended)

    theft = Node(client_dir, "hijack", dict(common, token="secret-a", token_b="secret-b",
                                            session="victim-session")).line()
    if not theft["a_ready"] or theft["b_code"] != 7 or theft["b_got_ready"] or \
            theft["a_close_code"] != 0:
        fail("session theft: %r" % theft)
    print("ok: another device's Hello for the session: PERMISSION_DENIED (%s); the owner's "
          "Close still succeeds" % theft["b_message"])
    cloud.kill()

    # Short deadlines: the worker ends idle streams and silent sessions by itself.
    cloud, ports = daemons.start_cloud(cloud_bin, certs, [
        "--model", MODEL, "--max-sessions", "2", "--auth-tokens-file", tokens,
        "--hello-timeout-seconds", "1", "--stream-idle-timeout-seconds", "2",
        "--idle-timeout-seconds", "600"])
    common = {"target": "127.0.0.1:%d" % ports["grpc"], "ca": certs["ca.pem"]}
    idle = Node(client_dir, "idle-streams", dict(common, token="secret-a", streams=8,
                                                 channels=2, hold_ms=20000))
    idle.line()
    ended = idle.line(timeout=30)["ended"]
    late = [e for e in ended if e["code"] == 0 or e["after_ms"] > 4000]
    if late:
        fail("streams without Hello were not ended by the 1 s hello deadline: %r" % ended)
    print("ok: 8 streams without Hello ended by the worker after %d..%d ms (codes %s)" % (
        min(e["after_ms"] for e in ended), max(e["after_ms"] for e in ended),
        sorted({e["code"] for e in ended})))
    silent = [Node(client_dir, "silent-session", dict(common, token="secret-a",
                                                      session="silent-%d" % i))
              for i in range(2)]
    for s in silent:
        if not s.line()["ready"]:
            fail("silent session did not open")
    for s in silent:
        end = s.line(timeout=30)
        if end["code"] == 0 or end["after_ms"] > 6000:
            fail("silent session not evicted by the 2 s stream idle deadline: %r" % end)
    generate(edge_bin, ports["grpc"], certs, os.path.join(tmp, "token-b"))
    print("ok: two silent sessions held both slots; evicted, and a real generation got a slot")
    cloud.kill()


def http(method, url, body=None, headers=None, timeout=10):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def metric(port, name):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def test_edge_api(cloud_bin, edge_bin, certs, tmp):
    cloud, ports = daemons.start_cloud(cloud_bin, certs, ["--model", MODEL])
    # The edge reaches the worker through a 40 ms delay proxy, so a long generation takes
    # seconds and a disconnect's effect is visible.
    proxy = subprocess.Popen([sys.executable, os.path.join(SOURCE, "tests/bench/delay_proxy.py"),
                              "--target", "127.0.0.1:%d" % ports["grpc"], "--delay-ms", "20"],
                             stdout=subprocess.PIPE, text=True)
    STARTED.append(proxy)
    proxy_port = int(proxy.stdout.readline().rsplit(":", 1)[1])
    key = os.path.join(tmp, "api-key")
    with open(key, "w") as f:
        f.write("app-key-123\n")
    edge = daemons.Process([edge_bin, "--model", MODEL, "--split", "2", "--cloud",
                            "127.0.0.1:%d" % proxy_port, "--codec", "f32", "--tls-ca",
                            certs["ca.pem"], "-t", "1", "--listen", "127.0.0.1:0",
                            "--metrics", "127.0.0.1:0", "--slots", "2"])
    metrics = int(edge.wait_for(r"metrics on 127\.0\.0\.1:(\d+)/metrics$").group(1))
    port = int(edge.wait_for(r"serving http://127\.0\.0\.1:(\d+)$").group(1))
    base = "http://127.0.0.1:%d" % port

    # Slowloris: 16 connections, each trickling a header byte every 0.5 s.
    slow = []
    for _ in range(16):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        slow.append(s)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        for s in slow:
            s.sendall(b"a")
        time.sleep(0.5)
    start = time.monotonic()
    code, _, body = http("GET", base + "/v1/models", timeout=5)
    took = time.monotonic() - start
    if code != 200 or took >= 1.0:
        fail("/v1/models with 16 slowloris connections: %d after %.2f s" % (code, took))
    for s in slow:
        s.close()
    print("ok: 16 slowloris connections, /v1/models answered in %.3f s" % took)

    # Cross-site: a page on another origin posting text/plain (no preflight), and a DNS
    # rebinding attacker name in Host.
    prompt = json.dumps({"prompt": "Once upon a time", "max_tokens": 4}).encode()
    before = metric(metrics, "tandem_edge_tokens_generated_total")
    code, headers, body = http("POST", base + "/v1/completions", prompt,
                               {"Content-Type": "text/plain", "Origin": "https://evil.example"})
    if code != 403 or "Access-Control-Allow-Origin" in headers:
        fail("cross-site text/plain POST: %d %s" % (code, body))
    code, _, body = http("POST", base + "/v1/completions", prompt,
                         {"Content-Type": "application/json",
                          "Host": "rebind.evil.example:%d" % port})
    if code != 403:
        fail("DNS-rebound Host: %d %s" % (code, body))
    if metric(metrics, "tandem_edge_tokens_generated_total") != before:
        fail("a refused request generated tokens")
    code, headers, body = http("POST", base + "/v1/completions", prompt,
                               {"Content-Type": "application/json",
                                "Origin": "http://localhost:5173"})
    if code != 200 or headers.get("Access-Control-Allow-Origin") != "http://localhost:5173":
        fail("loopback origin: %d %s %r" % (code, body, headers))
    print("ok: cross-site POST and rebound Host refused (403, nothing generated); a loopback "
          "origin is served")

    # Disconnect: a long non-streaming request whose client leaves after 1 s.
    s = socket.create_connection(("127.0.0.1", port))
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 400,
                       "temperature": 0}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
              b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    before = metric(metrics, "tandem_edge_tokens_generated_total")
    time.sleep(1.0)
    s.close()
    time.sleep(0.5)
    at_close = metric(metrics, "tandem_edge_tokens_generated_total")
    time.sleep(2.0)
    after = metric(metrics, "tandem_edge_tokens_generated_total")
    if at_close - before < 2 or after != at_close:
        fail("generation after the client left: %d tokens before leaving, %d more after" % (
            at_close - before, after - at_close))
    print("ok: %d tokens until the client left, none after" % (at_close - before))
    edge.kill()

    # Configured origin and API key.
    edge = daemons.Process([edge_bin, "--model", MODEL, "--split", "2", "--cloud",
                            "127.0.0.1:%d" % ports["grpc"], "--codec", "f32", "--tls-ca",
                            certs["ca.pem"], "-t", "1", "--listen", "127.0.0.1:0",
                            "--allow-origin", "https://app.example", "--api-key-file", key])
    base = "http://127.0.0.1:%s" % edge.wait_for(r"serving http://127\.0\.0\.1:(\d+)$").group(1)
    code, headers, _ = http("OPTIONS", base + "/v1/completions", None,
                            {"Origin": "https://app.example",
                             "Access-Control-Request-Method": "POST"})
    if code != 204 or headers.get("Access-Control-Allow-Origin") != "https://app.example":
        fail("preflight from the allowed origin: %d %r" % (code, headers))
    json_headers = {"Content-Type": "application/json", "Origin": "https://app.example"}
    code, _, body = http("POST", base + "/v1/completions", prompt, json_headers)
    if code != 401:
        fail("no API key: %d %s" % (code, body))
    code, _, body = http("POST", base + "/v1/completions", prompt,
                         dict(json_headers, Authorization="Bearer wrong"))
    if code != 401:
        fail("wrong API key: %d %s" % (code, body))
    code, _, body = http("POST", base + "/v1/completions", prompt,
                         dict(json_headers, Authorization="Bearer app-key-123"))
    if code != 200:
        fail("right API key from the allowed origin: %d %s" % (code, body))
    print("ok: --allow-origin preflight answered; API key required and checked")
    edge.kill()
    proxy.kill()
    cloud.kill()


def test_granted_context(cloud_bin, edge_bin, certs):
    """The worker clamps the context to 24 positions; the edge asks for 512 (the model's)
    and must end at the worker's bound with "length", not fail as if the worker died."""
    cloud, ports = daemons.start_cloud(cloud_bin, certs, ["--model", MODEL, "--max-context", "24"])
    edge = daemons.Process([edge_bin, "--model", MODEL, "--split", "2", "--cloud",
                            "127.0.0.1:%d" % ports["grpc"], "--codec", "f32", "--tls-ca",
                            certs["ca.pem"], "-t", "1", "--listen", "127.0.0.1:0",
                            "--give-up-after-seconds", "0"])
    base = "http://127.0.0.1:%s" % edge.wait_for(r"serving http://127\.0\.0\.1:(\d+)$").group(1)
    code, _, body = http("POST", base + "/v1/completions",
                         json.dumps({"prompt": "Once upon a time", "max_tokens": 200,
                                     "temperature": 0}).encode(),
                         {"Content-Type": "application/json"})
    if code != 200:
        fail("generation past the worker's granted context: %d %s" % (code, body))
    answer = json.loads(body)
    usage = answer["usage"]
    # 24 positions hold the prompt and all but the last token (which is sampled, never fed).
    if answer["choices"][0]["finish_reason"] != "length" or \
            usage["prompt_tokens"] + usage["completion_tokens"] != 24 + 1:
        fail("granted context: %r" % answer)
    print("ok: worker granted 24 positions: %d + %d tokens, finish_reason length" % (
        usage["prompt_tokens"], usage["completion_tokens"]))
    edge.kill()
    cloud.kill()


def main():
    cloud_bin, edge_bin, work_dir = sys.argv[1:4]
    client_dir = install_grpc_client(work_dir)
    tmp = tempfile.mkdtemp(prefix="tandem-security-")
    certs = daemons.make_certs(os.path.join(tmp, "certs"))
    try:
        test_fail_closed(cloud_bin, edge_bin, certs, tmp)
        test_worker(cloud_bin, edge_bin, client_dir, certs, tmp)
        test_edge_api(cloud_bin, edge_bin, certs, tmp)
        test_granted_context(cloud_bin, edge_bin, certs)
    finally:
        for proc in STARTED:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
