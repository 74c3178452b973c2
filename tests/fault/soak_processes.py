#!/usr/bin/env python3
"""Process-level soak (run by soak.sh): two real tandem-cloud workers, each behind a
tandem-fault-proxy process, and a tandem-edge daemon with --fallback-model and both workers
(--cloud twice, TLS), serving a client that streams completions while faults hit at random:
proxy cuts, black holes, latency spikes, loss, and kill -9 of a worker followed by a restart
on the same port (its sessions are gone: the edge replays).

Every stream must end with [DONE] and its text must equal the unfaulted text (f32 codec,
the fallback is the same model, greedy); the edge's "tandem" report says how many tokens
the fallback made. Prints a summary and the edge's resilience metrics.

Usage: soak_processes.py BUILD_DIR SOURCE_DIR [--seconds N] [--seed S]"""
import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

PROMPTS = [
    "Once upon a time, there was a little girl named Lily.",
    "Tom and his dog went to the park.",
    "The sun was shining and the birds were singing.",
    "One day, a big bear found a red ball in the forest.",
]
TOKENS = 64


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


class Daemon:
    """A process with stderr (and stdout) in a log file."""

    def __init__(self, argv, log, stdin=None):
        self.argv, self.log = argv, log
        self.out = open(log, "ab")
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=self.out, stderr=self.out)

    def wait_for(self, pattern, timeout=60):
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.M)
        while time.monotonic() < deadline:
            with open(self.log, "rb") as f:
                m = regex.search(f.read().decode(errors="replace"))
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(self.log, "rb") as f:
            fail("%s: no %r after %d s:\n%s" % (os.path.basename(self.argv[0]), pattern, timeout,
                                                f.read().decode(errors="replace")[-4000:]))

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait()


class Proxy:
    """tandem-fault-proxy, driven through its stdin."""

    def __init__(self, binary, upstream, log):
        self.daemon = Daemon([binary, "--upstream", str(upstream)], log, stdin=subprocess.PIPE)
        self.port = int(self.daemon.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        self.lock = threading.Lock()

    def command(self, line):
        with self.lock:
            self.daemon.proc.stdin.write((line + "\n").encode())
            self.daemon.proc.stdin.flush()

    def close(self):
        try:
            self.daemon.proc.stdin.close()
        except OSError:
            pass
        self.daemon.kill(signal.SIGTERM)


def start_cloud(binary, certs, port, log):
    cloud = Daemon([binary, "--listen", "127.0.0.1:%d" % port, "--threads", "1",
                    "--tls-cert", certs + "/server.pem", "--tls-key", certs + "/server.key",
                    "--shutdown-grace-seconds", "0.1"], log)
    return cloud, int(cloud.wait_for(r"listening on 127\.0\.0\.1:(\d+)$").group(1))


def stream(port, prompt):
    """Streams a greedy completion; returns (text, report, done) or raises."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = json.dumps({"prompt": prompt, "max_tokens": TOKENS, "temperature": 0,
                       "stream": True, "tandem": {"modes": True}})
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    res = conn.getresponse()
    if res.status != 200:
        raise RuntimeError("HTTP %d: %s" % (res.status, res.read()[:500]))
    text, report, done = "", None, False
    for raw in res.read().decode().split("\n\n"):
        if not raw:
            continue
        if not raw.startswith("data: "):
            raise RuntimeError("not an SSE data event: %r" % raw[:200])
        data = raw[6:]
        if data == "[DONE]":
            done = True
            continue
        chunk = json.loads(data)
        if "error" in chunk:
            raise RuntimeError("error event: %s" % data)
        text += chunk["choices"][0]["text"]
        if "tandem" in chunk:
            report = chunk["tandem"]
    conn.close()
    return text, report, done


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("source")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cloud_bin = os.path.join(args.build, "cloud/tandem-cloud")
    edge_bin = os.path.join(args.build, "edge/tandem-edge")
    proxy_bin = os.path.join(args.build, "tests/fault/tandem-fault-proxy")
    model = os.path.join(args.source, "deploy/models/stories260K.gguf")
    tmp = tempfile.mkdtemp(prefix="tandem_soak_")
    certs = os.path.join(tmp, "certs")
    subprocess.run(["bash", os.path.join(args.source, "deploy/make-dev-certs.sh"), certs],
                   check=True, stdout=subprocess.DEVNULL)
    clouds, ports, proxies, edge = [], [], [], None
    try:
        # Start-up refusals: a fallback with another vocabulary, or one that is not a
        # complete model (an edge shard), stops the daemon with a clear error.
        other = os.path.join(tmp, "other.gguf")
        shard = os.path.join(tmp, "edge_shard.gguf")
        tool = os.path.join(args.build, "common/tool/tandem")
        subprocess.run([tool, "synth", "--shape", "tiny", "--type", "f32", "-o", other],
                       check=True, capture_output=True)
        subprocess.run([tool, "split", model, "--at", "2", "--edge-out", shard, "--cloud-out",
                        os.path.join(tmp, "cloud_shard.gguf")], check=True, capture_output=True)
        for fallback, pattern in [(other, r"FAILED_PRECONDITION: .*other\.gguf: the fallback "
                                          r"model has a vocabulary of \d+ tokens, the main "
                                          r"model 512"),
                                  (shard, r"the fallback must be a complete model")]:
            out = subprocess.run([edge_bin, "--split", "2", "--cloud", "127.0.0.1:1",
                                  "--model", model, "--fallback-model", fallback, "-p", "hi"],
                                 capture_output=True, text=True, timeout=60)
            m = re.search(r"^.*" + pattern + r".*$", out.stderr, re.M)
            if out.returncode == 0 or not m:
                fail("fallback %s: expected /%s/, got exit %d:\n%s" % (
                    fallback, pattern, out.returncode, out.stderr))
            print("refused: " + m.group(0))
        for i in range(2):
            cloud, port = start_cloud(cloud_bin, certs, 0, os.path.join(tmp, "cloud%d.log" % i))
            clouds.append(cloud)
            ports.append(port)
            proxies.append(Proxy(proxy_bin, port, os.path.join(tmp, "proxy%d.log" % i)))
        edge = Daemon([edge_bin, "--split", "2", "--codec", "f32", "--model", model,
                       "--fallback-model", model,
                       "--cloud", "127.0.0.1:%d" % proxies[0].port,
                       "--cloud", "127.0.0.1:%d" % proxies[1].port,
                       "--tls-ca", certs + "/ca.pem", "--listen", "127.0.0.1:0",
                       "--metrics", "127.0.0.1:0", "--threads", "1",
                       "--step-deadline-floor-ms", "100", "--reconnect-initial-backoff-ms", "20",
                       "--reconnect-max-backoff-ms", "500", "--reconnect-open-timeout-ms", "500"],
                      os.path.join(tmp, "edge.log"))
        http_port = int(edge.wait_for(r"serving http://127\.0\.0\.1:(\d+)").group(1))
        metrics_port = int(edge.wait_for(r"metrics on 127\.0\.0\.1:(\d+)/metrics").group(1))

        reference = {}
        for p in PROMPTS:
            text, report, done = stream(http_port, p)
            if not done or report["fallback_tokens"] != 0:
                fail("unfaulted run of %r: done=%s report=%s" % (p, done, report))
            reference[p] = text

        stop = threading.Event()
        faults = {}

        def inject():
            while not stop.is_set():
                time.sleep(rng.uniform(0.1, 0.6))
                i = rng.randrange(2)
                kind = rng.choice(["cut", "blackhole", "latency", "loss", "kill"])
                faults[kind] = faults.get(kind, 0) + 1
                if kind == "cut":
                    proxies[i].command("cut")
                elif kind == "blackhole":
                    proxies[i].command("blackhole on")
                    time.sleep(rng.uniform(0.1, 1.0))
                    proxies[i].command("blackhole off")
                elif kind == "latency":
                    proxies[i].command("latency %d" % rng.randrange(50, 400))
                    time.sleep(rng.uniform(0.2, 1.0))
                    proxies[i].command("latency 0")
                elif kind == "loss":
                    proxies[i].command("loss 0.3 200")
                    time.sleep(rng.uniform(0.2, 1.0))
                    proxies[i].command("loss 0 0")
                else:  # kill -9, restart on the same port behind the same proxy
                    clouds[i].kill()
                    time.sleep(rng.uniform(0, 0.5))
                    for _ in range(50):
                        try:
                            clouds[i], _ = start_cloud(cloud_bin, certs, ports[i],
                                                       os.path.join(tmp, "cloud%d.log" % i))
                            break
                        except SystemExit:
                            time.sleep(0.1)

        injector = threading.Thread(target=inject)
        injector.start()
        end = time.monotonic() + args.seconds
        streams = fallback_tokens = mixed = 0
        try:
            while time.monotonic() < end:
                p = PROMPTS[streams % len(PROMPTS)]
                text, report, done = stream(http_port, p)
                if not done:
                    fail("stream %d ended without [DONE]" % streams)
                if text != reference[p]:
                    fail("stream %d (%r) differs from the unfaulted text:\n%r\n%r\nreport %s" % (
                        streams, p, text, reference[p], report))
                streams += 1
                fallback_tokens += report["fallback_tokens"]
                modes = {m["mode"] for m in report["modes"]}
                mixed += len(modes) > 1
        finally:
            stop.set()
            injector.join()
        conn = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=10)
        conn.request("GET", "/metrics")
        metrics = conn.getresponse().read().decode()
        wanted = re.compile(r"^tandem_edge_(mode_switches|reconnects|tokens_by_mode|catchup_"
                            r"|fallback_active|link_failures)", re.M)
        print("soak: %.0f s, %d streams of %d tokens, all complete and equal to the unfaulted "
              "text; %d tokens from the fallback, %d streams mixed; faults %s" % (
                  args.seconds, streams, TOKENS, fallback_tokens, mixed, faults))
        for line in metrics.splitlines():
            if wanted.match(line):
                print("  " + line)
    finally:
        for d in [edge] + clouds:
            if d is not None:
                d.kill()
        for p in proxies:
            p.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
