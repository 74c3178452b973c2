#!/usr/bin/env python3
"""Runs the ExecStart= lines of deploy/systemd/*.service with the example configs of
deploy/config, expanded the way systemd expands them (${VAR}: one argument, $VAR: split
on whitespace, %d: the credentials directory), so every flag the units and configs
name must exist and parse. Only values that point at this machine are replaced (the
model, certificates, loopback ports); the binaries' paths are the built ones. The worker
must report SERVING and the edge must complete a request through it.
Usage: systemd_execstart_test.py SOURCE_DIR CLOUD_BINARY EDGE_BINARY"""
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemons import Process, fail, make_certs  # noqa: E402

source_dir, cloud_binary, edge_binary = sys.argv[1:4]
MODEL = os.path.join(source_dir, "deploy/models/stories260K.gguf")


def read_env(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def exec_start(unit_path):
    text = open(unit_path).read().replace("\\\n", " ")
    lines = [l for l in text.splitlines() if l.startswith("ExecStart=")]
    if len(lines) != 1:
        fail("%s: expected one ExecStart=" % unit_path)
    return lines[0][len("ExecStart="):]


def expand(command, env, credentials_dir):
    """systemd's expansion of an ExecStart= command line (the subset the units use)."""
    argv = []
    for word in shlex.split(command):
        word = word.replace("%d", credentials_dir)
        whole = re.fullmatch(r"\$([A-Z_]+)", word)
        if whole:  # $VAR: split into words
            argv.extend(env.get(whole.group(1), "").split())
            continue
        argv.append(re.sub(r"\$\{([A-Z_]+)\}", lambda m: env.get(m.group(1), ""), word))
    return argv


def binary_for(argv, name, path):
    if argv[0] != "/usr/local/bin/" + name:
        fail("ExecStart runs %s, expected /usr/local/bin/%s" % (argv[0], name))
    return [path] + argv[1:]


def start_from_unit(name, binary, credentials, overrides):
    """Runs `name`'s ExecStart from deploy/systemd with deploy/config/<name>.env and
    `overrides` as its environment and `credentials` as $CREDENTIALS_DIRECTORY."""
    env = read_env(os.path.join(source_dir, "deploy/config/%s.env" % name))
    env.update(overrides)
    argv = binary_for(expand(exec_start(os.path.join(
        source_dir, "deploy/systemd/%s.service" % name)), env, credentials), name, binary)
    print(name + ":", " ".join(argv))
    return Process(argv)


tmp = tempfile.mkdtemp()
cloud = edge = None
try:
    certs = make_certs(os.path.join(tmp, "certs"))
    credentials = os.path.join(tmp, "credentials")
    os.makedirs(credentials)
    # LoadCredential=tls-key:/etc/tandem/tls/server.key
    unit = open(os.path.join(source_dir, "deploy/systemd/tandem-cloud.service")).read()
    if "LoadCredential=tls-key:/etc/tandem/tls/server.key" not in unit:
        fail("tandem-cloud.service does not load the TLS key as a credential")
    shutil.copy(certs["server.key"], os.path.join(credentials, "tls-key"))
    edge_credentials = os.path.join(tmp, "edge-credentials")
    os.makedirs(edge_credentials)
    shutil.copy(certs["client.key"], os.path.join(edge_credentials, "tls-key"))

    cloud = start_from_unit(
        "tandem-cloud", cloud_binary, credentials,
        dict(TANDEM_CLOUD_MODEL=MODEL, TANDEM_CLOUD_LISTEN="127.0.0.1:0",
             TANDEM_CLOUD_HEALTH_LISTEN="127.0.0.1:0", TANDEM_CLOUD_METRICS="127.0.0.1:0",
             TANDEM_CLOUD_TLS_CERT=certs["server.pem"], TANDEM_CLOUD_THREADS="1",
             TANDEM_CLOUD_TLS_CLIENT_CA=certs["ca.pem"]))
    port = int(cloud.wait_for(r"listening on 127\.0\.0\.1:(\d+)$").group(1))
    health = int(cloud.wait_for(r"health .* on 127\.0\.0\.1:(\d+)$").group(1))
    probe = Process([cloud_binary, "--health-check", "127.0.0.1:%d" % health])
    if probe.wait(30) != 0:
        fail("the worker started from the unit is not SERVING: " + probe.text())

    edge = start_from_unit(
        "tandem-edge", edge_binary, edge_credentials,
        dict(TANDEM_EDGE_MODEL=MODEL, TANDEM_EDGE_CLOUD="127.0.0.1:%d" % port,
             TANDEM_EDGE_LISTEN="127.0.0.1:0", TANDEM_EDGE_METRICS="127.0.0.1:0",
             TANDEM_EDGE_TLS_CA=certs["ca.pem"], TANDEM_EDGE_TLS_CERT=certs["client.pem"],
             TANDEM_EDGE_THREADS="1"))
    api = int(edge.wait_for(r"serving http://127\.0\.0\.1:(\d+)$").group(1))
    request = urllib.request.Request(
        "http://127.0.0.1:%d/v1/completions" % api,
        data=json.dumps({"prompt": "Once upon a time", "max_tokens": 8,
                         "temperature": 0}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    text = body["choices"][0]["text"]
    if not text:
        fail("empty completion: %r" % body)
    print("completion through the units' command lines: %r" % text)
finally:
    for p in (edge, cloud):
        if p is not None:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
print("ExecStart lines: OK")
