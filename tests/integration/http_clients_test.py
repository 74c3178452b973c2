"""tandem-edge's OpenAI-compatible API with real clients: curl and the official `openai`
npm package, unchanged, against a real tandem-edge daemon and tandem-cloud worker (TLS) on
127.0.0.1 with the embedded model. Greedy text must equal `tandem generate` (the unsplit
model); streamed text must equal the non-streamed text.

Usage: http_clients_test.py TANDEM TANDEM_CLOUD TANDEM_EDGE WORK_DIR
WORK_DIR holds the npm install of tests/integration/openai_client (kept between runs).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "deploy"))
import daemons  # noqa: E402
from daemons import fail  # noqa: E402

PROMPT = "Once upon a time"
MAX_TOKENS = 30


def curl(*args):
    out = subprocess.run(["curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}"] + list(args),
                         capture_output=True, text=True)
    if out.returncode != 0:
        fail("curl %s: %s" % (" ".join(args), out.stderr))
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body


def sse_events(body):
    """The data payloads of a server-sent event stream, in order."""
    return [line[len("data: "):] for line in body.split("\n") if line.startswith("data: ")]


def install_openai_client(work_dir):
    client_dir = os.path.join(work_dir, "openai_client")
    os.makedirs(client_dir, exist_ok=True)
    for name in ["package.json", "package-lock.json", "client.mjs"]:
        shutil.copy(os.path.join(HERE, "openai_client", name), client_dir)
    if not os.path.isdir(os.path.join(client_dir, "node_modules", "openai")):
        npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=client_dir,
                             capture_output=True, text=True, timeout=300)
        if npm.returncode != 0:
            fail("npm ci (the openai package from the npm registry): " + npm.stderr)
    return client_dir


def main():
    tandem, cloud_bin, edge_bin, work_dir = sys.argv[1:5]
    model = os.path.join(daemons.SOURCE_DIR, "deploy/models/stories260K.gguf")
    client_dir = install_openai_client(work_dir)
    tmp = tempfile.mkdtemp(prefix="tandem-http-")
    certs = daemons.make_certs(os.path.join(tmp, "certs"))

    ref = subprocess.run([tandem, "generate", "-m", model, "-p", PROMPT, "-n", str(MAX_TOKENS),
                          "--temp", "0", "-t", "1"], capture_output=True, text=True)
    reference = ref.stdout[:-1]  # without the final newline
    if ref.returncode != 0 or not reference:
        fail("tandem generate: " + ref.stderr)

    cloud = daemons.Process([cloud_bin, "--model", model, "--listen", "127.0.0.1:0",
                             "--threads", "1", "--tls-cert", certs["server.pem"],
                             "--tls-key", certs["server.key"]])
    cloud_port = int(cloud.wait_for(r"listening on 127\.0\.0\.1:(\d+)$").group(1))
    edge = daemons.Process([edge_bin, "--model", model, "--split", "2", "--cloud",
                            "127.0.0.1:%d" % cloud_port, "--codec", "f32", "--tls-ca",
                            certs["ca.pem"], "-t", "1", "--listen", "127.0.0.1:0",
                            "--metrics", "127.0.0.1:0"])
    metrics_port = int(edge.wait_for(r"metrics on 127\.0\.0\.1:(\d+)/metrics$").group(1))
    base = "http://127.0.0.1:%s" % edge.wait_for(r"serving http://127\.0\.0\.1:(\d+)$").group(1)

    # curl: health, models, completions (plain and streamed), chat, errors.
    code, body = curl(base + "/health")
    if code != 200 or json.loads(body)["status"] != "ok":
        fail("/health: %d %s" % (code, body))
    code, body = curl(base + "/v1/models")
    model_id = json.loads(body)["data"][0]["id"]
    request = {"model": model_id, "prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0}
    code, body = curl(base + "/v1/completions", "-H", "Content-Type: application/json",
                      "-d", json.dumps(request))
    if code != 200:
        fail("/v1/completions: %d %s" % (code, body))
    completion = json.loads(body)
    if completion["choices"][0]["text"] != reference:
        fail("curl completion %r != tandem generate %r" % (completion["choices"][0]["text"],
                                                           reference))
    if completion["usage"]["completion_tokens"] != MAX_TOKENS:
        fail("usage: %r" % completion["usage"])
    code, body = curl("-N", base + "/v1/completions", "-H", "Content-Type: application/json",
                      "-d", json.dumps(dict(request, stream=True)))
    events = sse_events(body)
    if code != 200 or events[-1] != "[DONE]":
        fail("streamed completion: %d %s" % (code, body))
    streamed = "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
    if streamed != reference:
        fail("curl streamed completion %r != %r" % (streamed, reference))
    chat = {"model": model_id, "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": MAX_TOKENS, "temperature": 0}
    code, body = curl(base + "/v1/chat/completions", "-H", "Content-Type: application/json",
                      "-d", json.dumps(chat))
    chat_text = json.loads(body)["choices"][0]["message"]["content"]
    code, body = curl("-N", base + "/v1/chat/completions", "-H",
                      "Content-Type: application/json", "-d", json.dumps(dict(chat, stream=True)))
    events = sse_events(body)
    streamed_chat = "".join(json.loads(e)["choices"][0]["delta"].get("content", "")
                            for e in events[:-1])
    if code != 200 or events[-1] != "[DONE]" or streamed_chat != chat_text or not chat_text:
        fail("chat: plain %r, streamed %r (%d)" % (chat_text, streamed_chat, code))
    code, body = curl(base + "/v1/completions", "-H", "Content-Type: application/json",
                      "-d", "{not json")
    if code != 400 or json.loads(body)["error"]["type"] != "invalid_request_error":
        fail("bad JSON: %d %s" % (code, body))
    print("curl: completion, streamed completion, chat and errors OK")

    # The official OpenAI client, unchanged.
    out = subprocess.run(["node", os.path.join(client_dir, "client.mjs"), base + "/v1", PROMPT,
                          str(MAX_TOKENS)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        fail("openai client: " + out.stderr)
    got = json.loads(out.stdout)
    checks = {
        "models": got["models"] == [model_id],
        "completion": got["completion"] == reference,
        "completion_finish": got["completion_finish"] == "length",
        "usage": got["completion_usage"]["completion_tokens"] == MAX_TOKENS,
        "streamed_completion": got["streamed_completion"] == reference,
        "streamed_chunks": got["streamed_completion_chunks"] >= MAX_TOKENS // 2,
        "streamed_finish": got["streamed_completion_finish"] == "length",
        "chat": got["chat"] == chat_text and got["chat_role"] == "assistant",
        "streamed_chat": got["streamed_chat"] == chat_text,
        "bad_request": (got["bad_request"] or {}).get("status") == 400,
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        fail("openai client: %s wrong in %s" % (failed, json.dumps(got, indent=1)))
    print("openai npm client: %s" % ", ".join(checks))

    # The requests were counted.
    code, body = curl("http://127.0.0.1:%d/metrics" % metrics_port)
    match = re.search(r"^tandem_edge_tokens_generated_total (\d+)", body, re.M)
    if not match or int(match.group(1)) < 4 * MAX_TOKENS:
        fail("edge metrics: tokens not counted:\n" + body)

    edge.signal(daemons.signal.SIGTERM)
    cloud.signal(daemons.signal.SIGTERM)
    if edge.wait(30) != 0 or cloud.wait(30) != 0:
        fail("daemons did not exit 0 on SIGTERM:\n%s\n%s" % (edge.text(), cloud.text()))
    print("PASS")


if __name__ == "__main__":
    main()
