#!/usr/bin/env bash
# Prediction check for tandem-tune: for several split points K and two links (loopback,
# and loopback behind a delay proxy adding RTT_MS of round trip), compares the per-token
# latency tandem-tune predicts with the one tandem-edge measures (one-shot mode, decode
# time / (tokens - 1)). For the delayed link two predictions are checked: tandem-tune run
# through the delayed link (it measures it), and tandem-tune run on loopback with
# --simulate-rtt RTT_MS (planning for a link not at hand).
#
#   tests/bench/tune_prediction.sh            # env: MODEL KS RTT_MS THREADS CODEC TOKENS REPS
#
# Worker, edge and tuner all run on this machine, so other processes skew the numbers:
# every run waits for an idle machine and is repeated if, in any second of it, other
# processes used more than MAX_OTHERS cores; the medians of REPS runs are reported.
# Target: within 20%.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$root/build}
MODEL=${MODEL:-/tmp/tandem-models/tinyllama-1.1b-q4_0.gguf}
KS=${KS:-"2 8 14 20"}
RTT_MS=${RTT_MS:-40}
THREADS=${THREADS:-2}
CODEC=${CODEC:-q8}
TOKENS=${TOKENS:-33}
REPS=${REPS:-3}
MAX_OTHERS=${MAX_OTHERS:-0.3}
PROMPT=${PROMPT:-"Once upon a time there was a little girl who"}

for bin in cloud/tandem-cloud edge/tandem-edge edge/tune/tandem-tune; do
  [[ -x $BUILD/$bin ]] || { echo "missing $BUILD/$bin (build it first)" >&2; exit 1; }
done
[[ -f $MODEL ]] || { echo "missing $MODEL (see tandem synth in README.md)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bash "$root/deploy/make-dev-certs.sh" "$work/certs" >/dev/null
cores=$(nproc)

# start NAME CMD...: starts CMD in the background and waits for "listening on HOST:PORT"
# in its output; sets started_pid and started_port.
start() {
  local log=$work/$1.log
  shift
  "$@" >"$log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 1 300); do
    if grep -q "listening on" "$log"; then
      started_port=$(grep -o "listening on [^ ]*" "$log" | head -1 | sed 's/.*://')
      return 0
    fi
    sleep 0.1
  done
  echo "did not start: $*" >&2
  cat "$log" >&2
  exit 1
}

start cloud "$BUILD/cloud/tandem-cloud" -m "$MODEL" --listen 127.0.0.1:0 \
  --tls-cert "$work/certs/server.pem" --tls-key "$work/certs/server.key" -t "$THREADS"
worker_pid=$started_pid
worker_port=$started_port
start proxy python3 "$root/tests/bench/delay_proxy.py" --target "127.0.0.1:$worker_port" \
  --delay-ms "$(echo "$RTT_MS / 2" | bc -l)"
proxy_pid=$started_pid
proxy_port=$started_port

busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# CPU ticks (1/100 s) used so far by the worker, the proxy and process $1.
our_ticks() {
  cat "/proc/$worker_pid/stat" "/proc/$proxy_pid/stat" "/proc/$1/stat" 2>/dev/null |
    awk '{s += $14 + $15; n++} END {if (n < 3) exit 1; print s}'
}

# Waits (up to 10 min) until the machine has been idle for a second.
wait_quiet() {
  for _ in $(seq 1 600); do
    local b0 t0 b1 t1
    read -r b0 t0 < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    sleep 1
    read -r b1 t1 < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    if (($(echo "($b1 - $b0) / ($t1 - $t0) * $cores < 0.2" | bc -l))); then return 0; fi
  done
  echo "warning: the machine never went idle" >&2
}

# run_clean OUT CMD...: runs CMD (stdout to OUT, stderr to OUT.err) until no second of the
# run saw other processes (not CMD, the worker or the proxy) use more than MAX_OTHERS
# cores. Sampled every 0.2 s: a short burst during a profile phase skews a whole run.
run_clean() {
  local out=$1
  shift
  for _ in $(seq 1 10); do
    wait_quiet
    "$@" >"$out" 2>"$out.err" &
    local child=$! prev_b prev_p b p
    : >"$work/others"
    prev_b=$(busy_ticks)
    prev_p=$(our_ticks "$child") || prev_p=0
    while kill -0 "$child" 2>/dev/null; do
      sleep 0.2
      b=$(busy_ticks)
      p=$(our_ticks "$child") || break
      echo $((b - prev_b - (p - prev_p))) >>"$work/others"
      prev_b=$b
      prev_p=$p
    done
    wait "$child"
    # The busiest second (5 samples), in cores.
    local worst
    worst=$(awk '{v[NR] = $1} END {m = 0; for (i = 1; i <= NR; i++) {s = 0;
              for (j = i; j < i + 5 && j <= NR; j++) s += v[j]; if (s > m) m = s}; print m / 100}' \
              "$work/others")
    if (($(echo "$worst <= $MAX_OTHERS" | bc -l))); then return 0; fi
    printf '  (other processes used %.2f cores in one second of the run; again)\n' "$worst" >&2
  done
  echo "  warning: kept a run on a busy machine" >&2
}

edge() {  # edge PORT K: per-token seconds
  run_clean "$work/edge.out" "$BUILD/edge/tandem-edge" -m "$MODEL" --split "$2" \
    --cloud "127.0.0.1:$1" --tls-ca "$work/certs/ca.pem" -t "$THREADS" --codec "$CODEC" \
    -p "$PROMPT" -n "$TOKENS" --temp 0
  sed -n 's/.*generated: \([0-9]*\) tokens in \([0-9.]*\) s.*/\2 \1/p' "$work/edge.out.err" |
    awk '{printf "%.6f\n", $1 / ($2 - 1)}'
}

tune() {  # tune PORT [ARGS...]: "K ms" lines for CODEC
  local port=$1
  shift
  run_clean "$work/tune.out" "$BUILD/edge/tune/tandem-tune" -m "$MODEL" \
    --cloud "127.0.0.1:$port" --tls-ca "$work/certs/ca.pem" -t "$THREADS" --codec "$CODEC" \
    --prompt-tokens "$prompt_tokens" --gen-tokens "$TOKENS" "$@"
  grep -E "^(link|worker calibrated)" "$work/tune.out" | sed 's/^/  /' >&2
  cut -c3- "$work/tune.out" | awk -v c="$CODEC" '$2 == c && $1 ~ /^[0-9]+$/ {print $1, $6}'
}

# Warm-up run (pages the model in) that also tells the prompt length in tokens.
"$BUILD/edge/tandem-edge" -m "$MODEL" --split 1 --cloud "127.0.0.1:$worker_port" \
  --tls-ca "$work/certs/ca.pem" -t "$THREADS" -p "$PROMPT" -n 4 >/dev/null 2>"$work/warm.err"
prompt_tokens=$(sed -n 's/^prompt: \([0-9]*\) tokens.*/\1/p' "$work/warm.err")
echo "model $MODEL, codec $CODEC, $THREADS threads each, prompt $prompt_tokens tokens," \
  "$TOKENS generated; delayed link: +$RTT_MS ms RTT (delay proxy); $REPS repetitions" >&2

declare -A results  # "setting K" -> space-separated values
for rep in $(seq 1 "$REPS"); do
  echo "repetition $rep" >&2
  echo " tune: loopback" >&2
  while read -r k ms; do results["pred-loopback $k"]+="$ms "; done < <(tune "$worker_port")
  echo " tune: loopback, --simulate-rtt $RTT_MS" >&2
  while read -r k ms; do results["pred-simulated $k"]+="$ms "; done \
    < <(tune "$worker_port" --simulate-rtt "$RTT_MS")
  echo " tune: through the delayed link" >&2
  while read -r k ms; do results["pred-delayed $k"]+="$ms "; done < <(tune "$proxy_port")
  for k in $KS; do
    echo " edge K=$k" >&2
    results["meas-loopback $k"]+="$(echo "$(edge "$worker_port" "$k") * 1000" | bc -l) "
    results["meas-delayed $k"]+="$(echo "$(edge "$proxy_port" "$k") * 1000" | bc -l) "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo
echo "| link | K | predicted ms/token | measured ms/token | error |"
echo "|---|---:|---:|---:|---:|"
worst=0
row() {  # row LABEL PRED-SETTING MEAS-SETTING K
  local p m err
  p=$(echo "${results["$2 $4"]}" | median)
  m=$(echo "${results["$3 $4"]}" | median)
  err=$(echo "($p - $m) / $m * 100" | bc -l)
  printf '| %s | %d | %.1f | %.1f | %+.1f%% |\n' "$1" "$4" "$p" "$m" "$err"
  worst=$(echo "a = $err; if (a < 0) a = -a; if (a > $worst) a else $worst" | bc -l)
}
for k in $KS; do row "loopback" pred-loopback meas-loopback "$k"; done
for k in $KS; do row "+$RTT_MS ms, tuned through it" pred-delayed meas-delayed "$k"; done
for k in $KS; do row "+$RTT_MS ms, --simulate-rtt $RTT_MS on loopback" pred-simulated meas-delayed "$k"; done
printf '\nlargest error %.1f%% (target: within 20%%)\n' "$worst"
(($(echo "$worst <= 20" | bc -l)))
