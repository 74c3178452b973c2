#!/usr/bin/env bash
# Sets up this machine, builds Tandem and runs the demo: a tandem-cloud worker and a
# tandem-edge daemon on loopback, linked by gRPC with mutual TLS (dev certificates), the
# embedded model split after layer SPLIT, and text generated through the edge's
# OpenAI-compatible HTTP API (a plain completion, then a streamed chat completion); then
# the worker is killed and the edge answers from its on-device fallback model.
# Environment: PROMPT, N (tokens), SPLIT (K), CODEC (f32|f16|q8|q4), BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
prompt=${PROMPT:-Once upon a time}
n=${N:-100}

bash deploy/install-deps.sh >/dev/null
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target tandem-cloud tandem-edge

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bash deploy/make-dev-certs.sh "$work/certs" >/dev/null

# Waits for a daemon's "... on/serving ...:PORT" line and prints PORT.
port_of() {  # LOG PATTERN
  for _ in $(seq 300); do
    port=$(grep -oE "$2" "$1" | grep -oE '[0-9]+$' | head -1 || true)
    if [ -n "$port" ]; then echo "$port"; return; fi
    sleep 0.1
  done
  echo "demo: no '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

"$build/cloud/tandem-cloud" --listen 127.0.0.1:0 \
  --tls-cert "$work/certs/server.pem" --tls-key "$work/certs/server.key" \
  --tls-client-ca "$work/certs/ca.pem" 2>"$work/cloud.log" &
pids+=($!)
cloud_port=$(port_of "$work/cloud.log" 'listening on 127\.0\.0\.1:[0-9]+')

"$build/edge/tandem-edge" --split "${SPLIT:-2}" --codec "${CODEC:-q8}" \
  --cloud "127.0.0.1:$cloud_port" --tls-ca "$work/certs/ca.pem" \
  --fallback-model deploy/models/stories260K.gguf \
  --tls-cert "$work/certs/client.pem" --tls-key "$work/certs/client.key" \
  --listen 127.0.0.1:0 2>"$work/edge.log" &
pids+=($!)
edge_port=$(port_of "$work/edge.log" 'serving http://127\.0\.0\.1:[0-9]+')
sed 's/^/  /' "$work/cloud.log" "$work/edge.log"

api="http://127.0.0.1:$edge_port/v1"
body=$(python3 -c 'import json, sys; print(json.dumps({"prompt": sys.argv[1], "max_tokens": int(sys.argv[2]), "temperature": 0}))' "$prompt" "$n")
echo
echo "POST $api/completions  $body"
curl -sS "$api/completions" -H 'Content-Type: application/json' -d "$body" |
  python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["choices"][0]["text"]); print("usage:", r["usage"])'

body=$(printf '{"messages": [{"role": "user", "content": "Tell me a story about a cat."}], "max_tokens": %d, "stream": true, "seed": 7}' "$n")
echo
echo "POST $api/chat/completions (stream)  $body"
curl -sSN "$api/chat/completions" -H 'Content-Type: application/json' -d "$body" |
  python3 -u -c '
import json, sys
for line in sys.stdin:
    if line.startswith("data: {"):
        delta = json.loads(line[6:])["choices"][0]["delta"]
        print(delta.get("content", ""), end="", flush=True)
print()'

{ kill -9 "${pids[0]}"; wait "${pids[0]}"; } 2>/dev/null || true
body=$(python3 -c 'import json, sys; print(json.dumps({"prompt": sys.argv[1], "max_tokens": int(sys.argv[2]), "temperature": 0, "tandem": {"modes": True}}))' "$prompt" "$n")
echo
echo "(worker killed) POST $api/completions  $body"
curl -sS "$api/completions" -H 'Content-Type: application/json' -d "$body" |
  python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["choices"][0]["text"]); print("modes:", r["tandem"]["modes"])'
grep -m1 WARNING "$work/edge.log" | sed 's/^/  /' || true
