#!/usr/bin/env python3
"""SIGTERM to a worker in the middle of a generation. A real tandem-cloud (TLS) and a
one-shot tandem-edge generating 400 tokens; once the first token is out the edge is
frozen (SIGSTOP: on this tiny model a whole generation takes ~0.2 s, too short to hit
otherwise), the worker gets SIGTERM, and the edge is thawed once the worker says it is
shutting down, i.e. the generation is in flight across the drain.
Expected: the worker exits 0 within its grace period; the edge does not hang and either
completes (falling back or resuming elsewhere) or fails with a clear UNAVAILABLE, never
a cancellation or a timeout.
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

tmp = tempfile.mkdtemp()
cloud = edge = None
try:
    certs = make_certs(tmp)
    cloud, ports = start_cloud(cloud_binary, certs, ["--shutdown-grace-seconds", str(GRACE)])
    edge = Process([edge_binary, "--split", "2", "--cloud", "127.0.0.1:%d" % ports["grpc"],
                    "--tls-ca", certs["ca.pem"], "--threads", "1", "--prompt",
                    "Once upon a time", "-n", str(N), "--temp", "0"], capture_stdout=True)
    edge.wait_for(r"\S", stream="stdout", timeout=60)
    edge.signal(signal.SIGSTOP)
    if edge.proc.poll() is not None:
        fail("the generation ended before it could be frozen")
    before = len(edge.stdout)

    start = time.monotonic()
    cloud.signal(signal.SIGTERM)
    cloud.wait_for("SIGTERM, shutting down", timeout=10)
    edge.signal(signal.SIGCONT)

    code = cloud.wait(GRACE + 10)
    elapsed = time.monotonic() - start
    if code is None:
        fail("the worker still runs %.1f s after SIGTERM (grace %d s)" % (elapsed, GRACE))
    if code != 0:
        fail("the worker exited %s after SIGTERM:\n%s" % (code, cloud.text()))
    # Grace for the steps plus ~2 s to stop the metrics HTTP server.
    if elapsed > GRACE + 3:
        fail("the worker took %.1f s to exit, grace is %d s" % (elapsed, GRACE))
    print("worker exited 0, %.1f s after SIGTERM" % elapsed)

    edge_code = edge.wait(60)
    if edge_code is None:
        fail("the edge hangs after the worker drained:\n" + edge.text())
    out = edge.stdout.decode(errors="replace")
    if edge_code == 0:
        print("edge completed the generation across the drain (%d bytes before the freeze, "
              "%d in all): %s" % (before, len(out), edge.text().strip().splitlines()[-1]))
    else:
        # The worker ends the stream with UNAVAILABLE "...; resume elsewhere" (checked at the
        # gRPC level in tests/unit/cloud/health_drain_test.cc). The edge reports either
        # that status or, when its next write found the stream already closed, its own
        # UNAVAILABLE "the stream ended"; both say "retry or fall back".
        if "error: UNAVAILABLE" not in edge.text():
            fail("the edge failed without a clear UNAVAILABLE (exit %s):\n%s" % (
                edge_code, edge.text()))
        # No fallback or second worker yet (issue 4): a clear error is what we can ask for.
        print("edge stopped with a clear error after %d bytes: %s" % (
            len(out), edge.text().strip().splitlines()[-1]))
finally:
    for p in (edge, cloud):
        if p is not None:
            p.signal(signal.SIGCONT)
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
print("SIGTERM during generation: OK")
