#!/usr/bin/env python3
"""Every tandem_* metric that deploy/ refers to (alert rules, their unit tests, the
Grafana dashboard) is one the daemons register (cloud/cloud_metrics.cc,
edge/edge_metrics.cc; histograms also as _bucket/_sum/_count), so a rename in the code
cannot silently break an alert or a panel. Also checks the dashboard's structure.
Usage: metric_names_test.py SOURCE_DIR"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemons import fail, load_yaml_module  # noqa: E402

source_dir = sys.argv[1]
yaml = load_yaml_module()

registered = set()
for source in ("cloud/cloud_metrics.cc", "edge/edge_metrics.cc"):
    text = open(os.path.join(source_dir, source)).read()
    # common/metrics/families.h: New<Kind>(registry, "name", ...) and New<Kind>Family(...).
    found = re.findall(r'\bNew(Counter|Gauge|Histogram|Summary)(?:Family)?\(\s*registry,\s*"([^"]+)"',
                       text)
    if not found:
        fail("no metrics found in %s" % source)
    for kind, name in found:
        registered.add(name)
        if kind in ("Histogram", "Summary"):
            registered.update({name + "_bucket", name + "_sum", name + "_count"})

NAME = re.compile(r"\btandem_[a-z0-9_]+")
referenced = {}  # name -> where


def collect(text, where):
    for name in NAME.findall(text):
        referenced.setdefault(name, where)


rules = yaml.safe_load(open(os.path.join(source_dir, "deploy/prometheus/tandem-alerts.yml")))
alerts = 0
for group in rules["groups"]:
    for rule in group["rules"]:
        alerts += 1
        collect(rule["expr"], "alert " + rule["alert"])
        for key in ("severity",):
            if key not in rule.get("labels", {}):
                fail("alert %s has no %s label" % (rule["alert"], key))
        if "summary" not in rule.get("annotations", {}):
            fail("alert %s has no summary" % rule["alert"])
tests = yaml.safe_load(open(os.path.join(source_dir, "deploy/prometheus/tandem-alerts.test.yml")))
tested = set()
for test in tests["tests"]:
    for series in test["input_series"]:
        collect(series["series"].split("{")[0], "tandem-alerts.test.yml")
    for case in test["alert_rule_test"]:
        tested.add(case["alertname"])
untested = {r["alert"] for g in rules["groups"] for r in g["rules"]} - tested
if untested:
    fail("alerts without a unit test in tandem-alerts.test.yml: %s" % sorted(untested))

dashboard = json.load(open(os.path.join(source_dir, "deploy/grafana/tandem-dashboard.json")))
ids = set()
exprs = 0
for panel in dashboard["panels"]:
    if panel["id"] in ids:
        fail("duplicate panel id %s" % panel["id"])
    ids.add(panel["id"])
    if panel["type"] == "row":
        continue
    if not panel.get("targets"):
        fail("panel %r has no queries" % panel["title"])
    for target in panel["targets"]:
        exprs += 1
        collect(target["expr"], "panel " + panel["title"])
if dashboard.get("uid") != "tandem-overview" or not dashboard.get("title"):
    fail("dashboard uid/title")

unknown = {name: where for name, where in referenced.items() if name not in registered}
if unknown:
    fail("metrics referenced but not registered by the daemons: %s" % unknown)
print("%d alerts (all unit-tested), %d dashboard queries; %d tandem metrics referenced, all "
      "registered" % (alerts, exprs, len(referenced)))
