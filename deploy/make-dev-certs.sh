#!/usr/bin/env bash
# Makes a development CA and certificates for the edge-cloud link:
#   ca.pem/ca.key            the CA (trust root for both sides)
#   server.pem/server.key    the worker (SAN: localhost, 127.0.0.1, ::1, and $SERVER_NAMES)
#   client.pem/client.key    an edge device (for mutual TLS)
# Usage: deploy/make-dev-certs.sh OUT_DIR [DAYS]. Not for production: keys are unencrypted.
set -euo pipefail
out=${1:?usage: make-dev-certs.sh OUT_DIR [DAYS]}
days=${2:-30}
mkdir -p "$out"
cd "$out"
umask 077

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$days" \
  -subj "/CN=Tandem dev CA" -keyout ca.key -out ca.pem 2>/dev/null

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for name in ${SERVER_NAMES:-}; do san="$san,DNS:$name"; done

issue() {  # issue NAME CN EXT
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue server "tandem-cloud" "subjectAltName=$san
extendedKeyUsage=serverAuth"
issue client "tandem-edge" "extendedKeyUsage=clientAuth"
rm -f ca.srl
chmod 0644 ./*.pem
echo "wrote $out/{ca,server,client}.{pem,key}"
