"""Split inference end to end with the real binaries: a tandem-cloud worker with mutual TLS
and bearer tokens on 127.0.0.1, tandem-edge in one-shot mode, the embedded model.

- Exactness: with the f32 codec the split output equals `tandem generate` (the unsplit
  model, greedy) for every split point K in 1..N-1 and several prompts.
- Every codec runs end to end.
- Seeded sampling: the split output equals `tandem generate` with the same seed.
- Concurrency: 16 edge sessions at once (sampled, seeded) give the outputs they give one
  at a time.
- Refusals: wrong bearer token, no client certificate, a worker certificate from another
  CA, another model: each a clear error and a non-zero exit, while the worker keeps serving.

Usage: split_e2e_test.py TANDEM TANDEM_CLOUD TANDEM_EDGE
"""
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import daemons  # noqa: E402
from daemons import fail  # noqa: E402

PROMPTS = ["Once upon a time", "One day, a bird", "Lily and Tom went to the park"]
N_PREDICT = 48


def run(argv, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def n_layers(tandem, model):
    info = run([tandem, "info", model]).stdout
    return int(re.search(r"^layers:\s+(\d+)", info, re.M).group(1))


def main():
    tandem, cloud_bin, edge_bin = sys.argv[1:4]
    model = os.path.join(daemons.SOURCE_DIR, "deploy/models/stories260K.gguf")
    tmp = tempfile.mkdtemp(prefix="tandem-e2e-")
    certs = daemons.make_certs(os.path.join(tmp, "certs"))
    other_certs = daemons.make_certs(os.path.join(tmp, "other-ca"))
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write("device-a-secret\n")
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write("device-a-secret\n")
    bad_token = os.path.join(tmp, "bad-token")
    with open(bad_token, "w") as f:
        f.write("not-the-secret\n")

    cloud = daemons.Process([cloud_bin, "--model", model, "--listen", "127.0.0.1:0",
                             "--threads", "1", "--tls-cert", certs["server.pem"],
                             "--tls-key", certs["server.key"], "--tls-client-ca", certs["ca.pem"],
                             "--auth-tokens-file", tokens])
    port = int(cloud.wait_for(r"listening on 127\.0\.0\.1:(\d+)$").group(1))
    address = "127.0.0.1:%d" % port

    def edge(split, prompt, codec="f32", extra=(), ca=certs["ca.pem"], client=True, tok=token):
        argv = [edge_bin, "--model", model, "--split", str(split), "--cloud", address,
                "--codec", codec, "--tls-ca", ca, "--auth-token-file", tok, "-t", "1",
                "-p", prompt, "-n", str(N_PREDICT), "--temp", "0"] + list(extra)
        if client:
            argv += ["--tls-cert", certs["client.pem"], "--tls-key", certs["client.key"]]
        return run(argv)

    # Exactness at every split point.
    n = n_layers(tandem, model)
    checked = 0
    for prompt in PROMPTS:
        ref = run([tandem, "generate", "-m", model, "-p", prompt, "-n", str(N_PREDICT),
                   "--temp", "0", "-t", "1"])
        if ref.returncode != 0 or len(ref.stdout.strip()) == 0:
            fail("tandem generate failed: " + ref.stderr)
        for k in range(1, n):
            out = edge(k, prompt)
            if out.returncode != 0:
                fail("edge K=%d failed: %s" % (k, out.stderr))
            if out.stdout != ref.stdout:
                fail("K=%d %r: split output differs\n split: %r\n local: %r" % (
                    k, prompt, out.stdout, ref.stdout))
            checked += 1
    print("exact at every K in 1..%d for %d prompts (%d runs)" % (n - 1, len(PROMPTS), checked))

    # Every codec end to end (lossy ones are measured in tests/bench/fidelity).
    for codec in ["f16", "q8", "q4"]:
        out = edge(2, PROMPTS[0], codec=codec)
        if out.returncode != 0 or len(out.stdout.strip()) == 0:
            fail("codec %s: %s" % (codec, out.stderr))
        print("codec %s: %r" % (codec, out.stdout.strip()[:60]))

    # 16 concurrent sessions, sampled with seeds, equal to the same runs one at a time.
    def sampled(seed):
        argv = [edge_bin, "--model", model, "--split", str(1 + seed % (n - 1)), "--cloud",
                address, "--codec", "f32", "--tls-ca", certs["ca.pem"], "--tls-cert",
                certs["client.pem"], "--tls-key", certs["client.key"], "--auth-token-file",
                token, "-t", "1", "-p", PROMPTS[seed % len(PROMPTS)], "-n", "40",
                "--temp", "0.9", "--seed", str(seed)]
        out = run(argv)
        if out.returncode != 0:
            fail("sampled seed %d: %s" % (seed, out.stderr))
        return out.stdout

    sequential = [sampled(seed) for seed in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        concurrent = list(pool.map(sampled, range(16)))
    for seed, (a, b) in enumerate(zip(sequential, concurrent)):
        if a != b:
            fail("seed %d: concurrent output differs from sequential:\n %r\n %r" % (seed, b, a))
    if len(set(sequential)) < 8:
        fail("seeds gave too few distinct outputs: %r" % sequential)
    print("16 concurrent sessions equal their sequential runs")

    # One sampling rule: the same seed gives the same text locally and split (draws are
    # keyed to the position everywhere).
    for seed in range(4):
        local = run([tandem, "generate", "-m", model, "-p", PROMPTS[seed % len(PROMPTS)], "-n",
                     "40", "--temp", "0.9", "--seed", str(seed), "-t", "1"])
        if local.returncode != 0:
            fail("tandem generate seed %d: %s" % (seed, local.stderr))
        if local.stdout != sequential[seed]:
            fail("seed %d: split output differs from local\n split: %r\n local: %r" % (
                seed, sequential[seed], local.stdout))
    print("seeded sampling: split equals tandem generate for 4 seeds")

    # Refusals: each a clear message, non-zero exit; the worker keeps serving.
    def refused(what, out, pattern):
        if out.returncode == 0:
            fail(what + ": expected a failure, got exit 0")
        if not re.search(pattern, out.stderr):
            fail("%s: expected /%s/ in stderr:\n%s" % (what, pattern, out.stderr))
        print("%s: %s" % (what, out.stderr.strip().splitlines()[-1]))

    refused("wrong token", edge(2, PROMPTS[0], tok=bad_token), r"UNAUTHENTICATED")
    refused("no client certificate", edge(2, PROMPTS[0], client=False), r"UNAVAILABLE")
    refused("worker certificate from another CA", edge(2, PROMPTS[0], ca=other_certs["ca.pem"]),
            r"UNAVAILABLE")
    other_model = os.path.join(tmp, "other.gguf")
    synth = run([tandem, "synth", "--shape", "tiny", "--type", "f32", "-o", other_model])
    if synth.returncode != 0:
        fail("synth: " + synth.stderr)
    out = run([edge_bin, "--model", other_model, "--split", "1", "--cloud", address,
               "--codec", "f32", "--tls-ca", certs["ca.pem"], "--tls-cert", certs["client.pem"],
               "--tls-key", certs["client.key"], "--auth-token-file", token, "-p", "Hi"])
    refused("another model", out, r"FAILED_PRECONDITION.*model")
    out = edge(2, PROMPTS[0])
    if out.returncode != 0 or out.stdout != edge(3, PROMPTS[0]).stdout:
        fail("the worker stopped serving after the refusals: " + out.stderr)

    cloud.signal(daemons.signal.SIGTERM)
    if cloud.wait(30) != 0:
        fail("tandem-cloud did not exit 0 on SIGTERM:\n" + cloud.text())
    print("PASS")


if __name__ == "__main__":
    main()
