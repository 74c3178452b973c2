#!/usr/bin/env python3
"""deploy/k8s: every manifest parses as YAML with the expected kinds and API versions,
the kustomization lists them all, and the pieces agree with each other (selectors,
port names, probe ports, the HPA target, grace periods, resources, security context);
where kubectl exists, `kubectl kustomize` renders them.
Then the Deployment's container args run for real (paths and addresses swapped for
this machine), and the kubelet's probes are replayed: readiness ("") and liveness
("liveness") over plaintext grpc.health.v1 on the health port, /metrics on the metrics
port. Usage: k8s_test.py SOURCE_DIR CLOUD_BINARY"""
import glob
import os
import re
import shutil
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemons import (fail, health_check, load_yaml_module,  # noqa: E402
                     cloud_from_container_args, cloud_flags)

source_dir, cloud_binary = sys.argv[1:3]
yaml = load_yaml_module()
k8s = os.path.join(source_dir, "deploy/k8s")

EXPECTED = {
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
    "Namespace": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "Service": "v1",
    "Ingress": "networking.k8s.io/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
}

docs = {}  # kind -> (file, document)
for path in sorted(glob.glob(os.path.join(k8s, "*.yaml"))):
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if doc is None:
                continue
            kind = doc.get("kind")
            if kind not in EXPECTED:
                fail("%s: unexpected kind %r" % (path, kind))
            if doc.get("apiVersion") != EXPECTED[kind]:
                fail("%s: %s has apiVersion %r, expected %r" % (
                    path, kind, doc.get("apiVersion"), EXPECTED[kind]))
            if kind != "Kustomization" and not doc.get("metadata", {}).get("name"):
                fail("%s: %s without metadata.name" % (path, kind))
            if kind in docs:
                fail("%s: a second %s" % (path, kind))
            docs[kind] = (os.path.basename(path), doc)
missing = set(EXPECTED) - set(docs)
if missing:
    fail("missing kinds: %s" % sorted(missing))
print("kinds:", ", ".join("%s (%s)" % (k, docs[k][0]) for k in EXPECTED))

kustomization = docs["Kustomization"][1]
listed = set(kustomization["resources"])
files = {f for f, _ in docs.values()} - {"kustomization.yaml"}
if listed != files:
    fail("kustomization resources %s != manifests %s" % (sorted(listed), sorted(files)))
namespace = docs["Namespace"][1]["metadata"]["name"]
if kustomization.get("namespace") != namespace:
    fail("kustomization namespace %r != Namespace %r" % (kustomization.get("namespace"), namespace))

deployment = docs["Deployment"][1]
spec = deployment["spec"]
pod = spec["template"]["spec"]
labels = spec["template"]["metadata"]["labels"]


def selects(selector, what):
    for key, value in selector.items():
        if labels.get(key) != value:
            fail("%s selects %s=%s, the pods are labelled %s" % (what, key, value, labels))


selects(spec["selector"]["matchLabels"], "Deployment")
selects(docs["Service"][1]["spec"]["selector"], "Service")
selects(docs["PodDisruptionBudget"][1]["spec"]["selector"]["matchLabels"], "PodDisruptionBudget")
selects(docs["NetworkPolicy"][1]["spec"]["podSelector"]["matchLabels"], "NetworkPolicy")
selects(docs["PodMonitor"][1]["spec"]["selector"]["matchLabels"], "PodMonitor")

(container,) = pod["containers"]
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
if set(ports) != {"grpc", "health", "metrics"}:
    fail("container ports %s" % ports)

service = docs["Service"][1]["spec"]
if service.get("clusterIP") != "None":
    fail("the Service must be headless (clusterIP: None) so that gRPC streams spread")
for p in service["ports"]:
    if p["targetPort"] not in ports:
        fail("Service targetPort %r is no container port" % p["targetPort"])
ingress_backend = docs["Ingress"][1]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
if ingress_backend["name"] != docs["Service"][1]["metadata"]["name"] or \
        ingress_backend["port"]["name"] not in {p["name"] for p in service["ports"]}:
    fail("Ingress backend %s is not the Service's port" % ingress_backend)
if docs["PodMonitor"][1]["spec"]["podMetricsEndpoints"][0]["port"] != "metrics":
    fail("PodMonitor does not scrape the metrics port")
for rule in docs["NetworkPolicy"][1]["spec"]["ingress"]:
    for p in rule["ports"]:
        if p["port"] not in ports:
            fail("NetworkPolicy port %r is no container port" % p["port"])

target = docs["HorizontalPodAutoscaler"][1]["spec"]["scaleTargetRef"]
if (target["kind"], target["name"]) != ("Deployment", deployment["metadata"]["name"]):
    fail("HPA scales %s" % target)
hpa = docs["HorizontalPodAutoscaler"][1]["spec"]
if not 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]:
    fail("HPA replicas %s..%s" % (hpa["minReplicas"], hpa["maxReplicas"]))

# Probes: kubelet's gRPC probes on the plaintext health port; readiness asks "" (off while
# draining), liveness and startup ask "liveness" (on through a drain).
for name, service_name in [("readinessProbe", ""), ("livenessProbe", "liveness"),
                           ("startupProbe", "liveness")]:
    probe = container.get(name)
    if not probe or "grpc" not in probe:
        fail("%s must be a gRPC probe" % name)
    if probe["grpc"]["port"] != ports["health"]:
        fail("%s probes port %s, the health port is %s" % (name, probe["grpc"]["port"],
                                                           ports["health"]))
    if probe["grpc"].get("service", "") != service_name:
        fail("%s asks about %r, expected %r" % (name, probe["grpc"].get("service"), service_name))

args = container["args"]
flags = cloud_flags(cloud_binary)
values = {}
for arg in args:
    flag, _, value = arg.partition("=")
    if flag not in flags:
        fail("container arg %s: tandem-cloud has no such flag" % flag)
    values[flag] = value
for flag, port_name in [("--listen", "grpc"), ("--health-listen", "health"),
                        ("--metrics", "metrics")]:
    if not values.get(flag, "").endswith(":%d" % ports[port_name]):
        fail("%s=%s does not match container port %s=%d" % (
            flag, values.get(flag), port_name, ports[port_name]))
resources = container["resources"]
for part in ("requests", "limits"):
    if "cpu" not in resources.get(part, {}) or "memory" not in resources.get(part, {}):
        fail("resources.%s needs cpu and memory" % part)
if int(values["--threads"]) != int(resources["requests"]["cpu"]):
    fail("--threads=%s but the CPU request is %s" % (values["--threads"],
                                                   resources["requests"]["cpu"]))
pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
pause = int(pre_stop[1]) if pre_stop[0] == "sleep" else 0
grace = float(values["--shutdown-grace-seconds"])
if pod["terminationGracePeriodSeconds"] <= pause + grace:
    fail("terminationGracePeriodSeconds %s <= preStop %s s + drain grace %s s" % (
        pod["terminationGracePeriodSeconds"], pause, grace))
security = container["securityContext"]
if not (pod["securityContext"].get("runAsNonRoot") and security.get("readOnlyRootFilesystem")
        and security.get("allowPrivilegeEscalation") is False
        and security.get("capabilities", {}).get("drop") == ["ALL"]):
    fail("container security context is not locked down: %s" % security)
mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
volumes = {v["name"]: v for v in pod["volumes"]}
if mounts.get("models") != "/models" or not values["--model"].startswith("/models/"):
    fail("the model must come from the volume at /models")
tls_dir = mounts.get("tls")
if not tls_dir or "secret" not in volumes.get("tls", {}):
    fail("the TLS certificate must come from a Secret volume")
# Fail closed: the worker serves 0.0.0.0, so clients must authenticate.
if "--tls-client-ca" not in values and "--auth-tokens-file" not in values:
    fail("the Deployment's worker does not authenticate clients (mutual TLS or tokens)")
if "--allow-unauthenticated" in values:
    fail("the Deployment's worker allows unauthenticated clients")
for flag in ("--tls-cert", "--tls-key", "--tls-client-ca"):
    if not values[flag].startswith(tls_dir + "/"):
        fail("%s=%s is not in the TLS secret's mount %s" % (flag, values[flag], tls_dir))
print("manifests agree with each other")

# Where kubectl exists, its built-in kustomize must render the kustomization (offline).
if shutil.which("kubectl"):
    import subprocess
    rendered = subprocess.run(["kubectl", "kustomize", k8s], capture_output=True, text=True,
                              timeout=60)
    if rendered.returncode != 0:
        fail("kubectl kustomize: " + rendered.stderr)
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d)
    if kinds != sorted(set(EXPECTED) - {"Kustomization"}):
        fail("kubectl kustomize rendered %s" % kinds)
    if any(d["metadata"].get("namespace") not in (None, namespace)
           for d in yaml.safe_load_all(rendered.stdout) if d):
        fail("kustomize put a resource outside namespace %s" % namespace)
    print("kubectl kustomize renders %d resources" % len(kinds))

# Run the container's args, then replay the kubelet's probes.
addresses = {flag + "=" + values[flag]: flag + "=127.0.0.1:0"
             for flag in ("--listen", "--health-listen", "--metrics")}
addresses["--threads=" + values["--threads"]] = "--threads=1"
with cloud_from_container_args(cloud_binary, args, values, source_dir,
                               lambda certs: addresses) as (cloud, live):
    for probe, service_name in [("readiness", ""), ("liveness", "liveness")]:
        code, text = health_check(cloud_binary, live["health"], service_name)
        if code != 0:
            fail("%s probe failed: %s" % (probe, text))
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % live["metrics"], timeout=30) as r:
        if b"tandem_cloud_active_sessions" not in r.read():
            fail("no tandem_cloud metrics on the metrics port")
    print("the Deployment's args serve; readiness, liveness and /metrics answer")
print("k8s manifests: OK")
