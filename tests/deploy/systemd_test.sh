#!/usr/bin/env bash
# The systemd units in deploy/systemd: `systemd-analyze verify` with no warning at all
# (verify exits 0 on unknown keys and bad values, so any output fails the test), the
# exposure score of `systemd-analyze security`, and that every variable the units use is
# set in the example config of deploy/config (and the other way round).
# The binaries' install paths (/usr/local/bin) are swapped for the built ones, which
# verify requires to exist. Skips (77) where systemd-analyze is missing.
# Usage: systemd_test.sh SOURCE_DIR CLOUD_BINARY EDGE_BINARY
set -euo pipefail
src=$1 cloud=$2 edge=$3
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for unit in tandem-edge tandem-cloud; do
  sed -e "s#/usr/local/bin/tandem-edge#$edge#" -e "s#/usr/local/bin/tandem-cloud#$cloud#" \
    "$src/deploy/systemd/$unit.service" > "$tmp/$unit.service"
  if ! out=$(systemd-analyze verify --man=no "$tmp/$unit.service" 2>&1) || [ -n "$out" ]; then
    fail "systemd-analyze verify $unit.service:"$'\n'"$out"
  fi
  # 0 = fully locked down, 10 = no sandboxing at all. The units score ~1.6 on systemd 252.
  if ! out=$(systemd-analyze security --offline=yes --threshold=25 "$tmp/$unit.service" 2>&1); then
    fail "systemd-analyze security $unit.service: exposure above 2.5"$'\n'"$(tail -1 <<<"$out")"
  fi
  echo "$unit.service: $(grep -o 'Overall exposure level.*' <<<"$out" || true)"

  # Variables used in the unit (${NAME} and $NAME) == variables set in the config.
  used=$(grep -oE '\$\{?TANDEM_[A-Z_]+' "$src/deploy/systemd/$unit.service" | tr -d '${' | sort -u)
  set_vars=$(grep -oE '^TANDEM_[A-Z_]+=' "$src/deploy/config/$unit.env" | tr -d '=' | sort -u)
  if [ "$used" != "$set_vars" ]; then
    fail "$unit: variables used by the unit and set in deploy/config/$unit.env differ:"$'\n'"$(diff <(echo "$used") <(echo "$set_vars") || true)"
  fi
  grep -q "^EnvironmentFile=/etc/tandem/$unit.env$" "$src/deploy/systemd/$unit.service" ||
    fail "$unit.service does not read /etc/tandem/$unit.env"
done

if [ "$failures" -ne 0 ]; then exit 1; fi
echo "systemd units: OK"
