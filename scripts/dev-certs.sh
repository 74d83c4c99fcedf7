#!/bin/sh
# Makes a local certificate authority and the certificates the mesh needs for TLS / mTLS:
#   ca.pem, ca-key.pem        the dev CA (trust it with TLS_CA_FILE)
#   mesh.pem, mesh-key.pem    every service's certificate (server and client auth; SANs
#                             localhost, 127.0.0.1, ::1, the service names and any extra
#                             names given as arguments, e.g. ranker.recsys.svc)
#   client.pem, client-key.pem  a client certificate for grpcurl and tests (mTLS callers)
# Usage: scripts/dev-certs.sh [OUT_DIR] [EXTRA_DNS_NAME ...]   (default OUT_DIR: ./certs)
# For development only: keys are unencrypted and valid for 30 days.
set -eu
out="${1:-certs}"
[ $# -gt 0 ] && shift
command -v openssl >/dev/null 2>&1 || { echo "dev-certs: openssl not found (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$out"
cd "$out"

san="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:gateway,DNS:candidate-generator,DNS:feature-store,DNS:ranker"
for name in "$@"; do san="$san,DNS:$name"; done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=recsys-mesh dev CA" -keyout ca-key.pem -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name cn extendedKeyUsage subjectAltName
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$3" "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 -sha256 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue mesh recsys-mesh serverAuth,clientAuth "$san"
issue client recsys-client clientAuth "DNS:recsys-client"
rm -f ca.srl
chmod 600 ./*-key.pem
echo "dev-certs: wrote ca.pem, mesh.pem, mesh-key.pem, client.pem, client-key.pem to $(pwd)"
