#!/usr/bin/env python3
"""A real Prometheus server loads the shipped scrape config and rules (a temporary copy
whose file_sd target files point at this test's daemons, with 1 s scrape/evaluation
intervals and the rules' `for:` shortened to 2 s), scrapes a real tandem-cloud worker
and a real tandem-edge daemon (after one completion through them), evaluates every
dashboard and alert query without error, and, once the worker is killed, fires
TandemCloudWorkerDown for it.
Usage: prometheus_live_test.py SOURCE_DIR CLOUD_BINARY EDGE_BINARY"""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemons import (Process, fail, free_port, load_yaml_module, make_certs,  # noqa: E402
                     start_cloud)

source_dir, cloud_binary, edge_binary = sys.argv[1:4]
yaml = load_yaml_module()
prometheus_binary = shutil.which("prometheus")
if not prometheus_binary:
    fail("no prometheus binary (Debian package prometheus, deploy/install-deps.sh)")


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wait_until(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except OSError:
            pass  # not up yet
        time.sleep(0.25)
    fail("timed out after %d s waiting for %s" % (timeout, what))


tmp = tempfile.mkdtemp()
processes = []
try:
    certs = make_certs(os.path.join(tmp, "certs"))
    cloud, cloud_ports = start_cloud(cloud_binary, certs)
    processes.append(cloud)
    edge = Process([edge_binary, "--split", "2", "--cloud", "127.0.0.1:%d" % cloud_ports["grpc"],
                    "--tls-ca", certs["ca.pem"], "--listen", "127.0.0.1:0",
                    "--metrics", "127.0.0.1:0", "--threads", "1"])
    processes.append(edge)
    edge_metrics = int(edge.wait_for(r"metrics on 127\.0\.0\.1:(\d+)/metrics$").group(1))
    edge_api = int(edge.wait_for(r"serving http://127\.0\.0\.1:(\d+)$").group(1))
    request = urllib.request.Request(
        "http://127.0.0.1:%d/v1/completions" % edge_api,
        data=json.dumps({"prompt": "Once upon a time", "max_tokens": 8}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=30).read()

    # The test copy of the shipped configuration.
    config = yaml.safe_load(open(os.path.join(source_dir, "deploy/prometheus/prometheus.yml")))
    rules = yaml.safe_load(open(os.path.join(source_dir, "deploy/prometheus/tandem-alerts.yml")))
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    targets = {"tandem-cloud": "127.0.0.1:%d" % cloud_ports["metrics"],
               "tandem-edge": "127.0.0.1:%d" % edge_metrics}
    jobs = {c["job_name"]: c for c in config["scrape_configs"]}
    if set(jobs) != set(targets):
        fail("scrape jobs %s, expected %s" % (sorted(jobs), sorted(targets)))
    for job, target in targets.items():
        path = os.path.join(tmp, job + "-targets.yml")
        with open(path, "w") as f:
            yaml.safe_dump([{"targets": [target]}], f)
        (sd,) = jobs[job]["file_sd_configs"]
        sd["files"] = [path]
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "2s"
    config["rule_files"] = [os.path.join(tmp, "rules.yml")]
    with open(config["rule_files"][0], "w") as f:
        yaml.safe_dump(rules, f)
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        yaml.safe_dump(config, f)

    port = free_port()
    api = "http://127.0.0.1:%d" % port
    prometheus = Process([prometheus_binary, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                          "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                          "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"])
    processes.append(prometheus)
    wait_until("Prometheus to be ready",
               lambda: urllib.request.urlopen(api + "/-/ready", timeout=2).status == 200, 30)

    def all_up():
        active = get(api + "/api/v1/targets")["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in active}
        return health if health == {"tandem-cloud": "up", "tandem-edge": "up"} else None
    print("targets:", wait_until("both targets up", all_up, 30))

    def query(expr):
        return get(api + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))

    # Samples of both daemons made it in.
    wait_until("samples of both daemons", lambda: query(
        'tandem_edge_codec_info == 1')["data"]["result"] and query(
        'tandem_cloud_sessions_total')["data"]["result"], 30)

    # Every dashboard and alert query is valid PromQL for this Prometheus.
    dashboard = json.load(open(os.path.join(source_dir, "deploy/grafana/tandem-dashboard.json")))
    exprs = [t["expr"].replace("$__rate_interval", "1m")
             for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    for expr in exprs:
        try:
            if query(expr)["status"] != "success":
                fail("query failed: " + expr)
        except urllib.error.HTTPError as e:
            fail("query %r: %s %s" % (expr, e, e.read().decode(errors="replace")))
    print("%d dashboard and alert queries evaluate" % len(exprs))

    def worker_down_alerts():
        return [a for a in get(api + "/api/v1/alerts")["data"]["alerts"]
                if a["labels"]["alertname"] == "TandemCloudWorkerDown"]
    if worker_down_alerts():
        fail("TandemCloudWorkerDown before the worker was killed: %s" % worker_down_alerts())

    cloud.kill()
    killed = time.monotonic()
    firing = wait_until("TandemCloudWorkerDown to fire", lambda: [
        a for a in worker_down_alerts() if a["state"] == "firing"], 30)
    if firing[0]["labels"].get("instance") != targets["tandem-cloud"]:
        fail("alert for the wrong instance: %s" % firing)
    print("TandemCloudWorkerDown firing %.1f s after the kill: %s" % (
        time.monotonic() - killed, firing[0]["labels"]))
finally:
    for p in reversed(processes):
        p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
print("Prometheus with the shipped config: OK")
