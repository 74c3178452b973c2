#!/usr/bin/env python3
"""SIGTERM to a worker in the middle of a generation. A real tandem-cloud (TLS) and a
one-shot tandem-edge generating 400 tokens; once the first token is out the edge is
frozen (SIGSTOP: on this tiny model a whole generation takes ~0.2 s, too short to hit
otherwise), the worker gets SIGTERM, and the edge is thawed once the worker says it is
shutting down, i.e. the generation is in flight across the drain.
Expected: the worker exits 0 within its grace period, and the app's stream
- completes, identical to an unfaulted run, when the edge has a fallback model;
- completes, identical, on a second worker when the edge has two `--cloud`s;
- without either, ends with a clear UNAVAILABLE (never a hang or a cancellation).
Usage: sigterm_drain_test.py SOURCE_DIR CLOUD_BINARY EDGE_BINARY"""
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemons import Process, fail, make_certs, start_cloud  # noqa: E402

source_dir, cloud_binary, edge_binary = sys.argv[1:4]
GRACE = 5
N = 400


def drain_during_generation(certs, extra_edge_args, second_worker):
    """Starts a worker (and optionally a second one), freezes a generation after its
    first token, SIGTERMs the first worker, thaws the edge; returns (exit code, stdout,
    stderr) of the edge after checking that the worker drained in time."""
    cloud, ports = start_cloud(cloud_binary, certs, ["--shutdown-grace-seconds", str(GRACE)])
    spare = None
    clouds = ["--cloud", "127.0.0.1:%d" % ports["grpc"]]
    if second_worker:
        spare, spare_ports = start_cloud(cloud_binary, certs)
        clouds += ["--cloud", "127.0.0.1:%d" % spare_ports["grpc"]]
    edge = Process([edge_binary, "--split", "2", "--codec", "f32", "--tls-ca", certs["ca.pem"],
                    "--threads", "1", "--prompt", "Once upon a time", "-n", str(N), "--temp",
                    "0"] + clouds + list(extra_edge_args), capture_stdout=True)
    try:
        edge.wait_for(r"\S", stream="stdout", timeout=60)
        edge.signal(signal.SIGSTOP)
        if edge.proc.poll() is not None:
            fail("the generation ended before it could be frozen")
        start = time.monotonic()
        cloud.signal(signal.SIGTERM)
        cloud.wait_for("SIGTERM, shutting down", timeout=10)
        edge.signal(signal.SIGCONT)
        code = cloud.wait(GRACE + 10)
        elapsed = time.monotonic() - start
        if code != 0:
            fail("the worker exited %s (or still runs) %.1f s after SIGTERM:\n%s" % (
                code, elapsed, cloud.text()))
        # Grace for the steps plus ~2 s to stop the metrics HTTP server.
        if elapsed > GRACE + 3:
            fail("the worker took %.1f s to exit, grace is %d s" % (elapsed, GRACE))
        edge_code = edge.wait(60)
        if edge_code is None:
            fail("the edge hangs after the worker drained:\n" + edge.text())
        return edge_code, edge.stdout.decode(errors="replace"), edge.text()
    finally:
        for p in (edge, cloud, spare):
            if p is not None:
                p.signal(signal.SIGCONT)
                p.kill()


tmp = tempfile.mkdtemp()
try:
    certs = make_certs(tmp)
    model = os.path.join(source_dir, "deploy/models/stories260K.gguf")
    # The unfaulted run: what the app must see whatever happens to the worker (f32 codec
    # and the same model as fallback, so every path gives the same greedy tokens).
    cloud, ports = start_cloud(cloud_binary, certs)
    clean = Process([edge_binary, "--split", "2", "--codec", "f32", "--cloud",
                     "127.0.0.1:%d" % ports["grpc"], "--tls-ca", certs["ca.pem"], "--threads",
                     "1", "--prompt", "Once upon a time", "-n", str(N), "--temp", "0"],
                    capture_stdout=True)
    if clean.wait(60) != 0:
        fail("unfaulted run failed:\n" + clean.text())
    reference = clean.stdout.decode(errors="replace")
    cloud.kill()

    # 1. Only one worker, no fallback: a clear UNAVAILABLE, never a hang or a cancellation.
    code, out, err = drain_during_generation(certs, ["--give-up-after-seconds", "1"], False)
    if code == 0 or "error: UNAVAILABLE" not in err:
        fail("without a fallback: expected a clear UNAVAILABLE, got exit %s:\n%s" % (code, err))
    print("no fallback: " + err.strip().splitlines()[-1])

    # 2. With the fallback model: the stream completes, token for token the unfaulted one.
    code, out, err = drain_during_generation(certs, ["--fallback-model", model], False)
    if code != 0 or out != reference:
        fail("with a fallback: exit %s, text equal: %s\n%s" % (code, out == reference, err))
    print("fallback: completed, identical text: " + err.strip().splitlines()[-1])

    # 3. Two workers: the stream moves to the other one and completes, identical.
    code, out, err = drain_during_generation(certs, [], True)
    if code != 0 or out != reference:
        fail("with a second worker: exit %s, text equal: %s\n%s" % (code, out == reference, err))
    print("second worker: completed, identical text: " + err.strip().splitlines()[-1])
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print("SIGTERM during generation: OK")
