#!/usr/bin/env bash
# deploy/prometheus: `promtool check config` on the scrape config (with its rules), `promtool
# check rules`, and `promtool test rules`: each alert fires (with its rendered
# annotations) or stays quiet on synthetic series (tandem-alerts.test.yml).
# Usage: promtool_test.sh SOURCE_DIR
set -euo pipefail
dir=$1/deploy/prometheus
command -v promtool >/dev/null || { echo "FAIL: promtool missing (Debian package prometheus, deploy/install-deps.sh)"; exit 1; }
cd "$dir"
promtool check config prometheus.yml
promtool check rules tandem-alerts.yml
promtool test rules tandem-alerts.test.yml
echo "promtool: OK"
