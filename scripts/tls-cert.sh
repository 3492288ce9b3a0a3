#!/usr/bin/env bash
# Writes a TLS certificate for the lb, signed by a certificate authority
# made for it alone, into DIR:
#   tls_ca.pem    the CA's certificate: what a client trusts
#                 (curl --cacert, SSL_CERT_FILE, a browser's authorities)
#   tls_cert.pem  the lb's certificate, for HOST... (names or addresses;
#                 default localhost 127.0.0.1 ::1)
#   tls_key.pem   its private key (P-256)
#   scripts/tls-cert.sh DIR [HOST...]
# The CA's key is thrown away once it has signed: the CA vouches for this
# one certificate and can sign nothing else, so trusting it trusts nothing
# more. Existing files are replaced. `make secrets` runs it for
# deploy/secrets/ when no certificate is there; the swarm lab runs it for
# its nodes' addresses.
set -euo pipefail

dir="${1:?usage: scripts/tls-cert.sh DIR [HOST...]}"
shift
[ "$#" -gt 0 ] || set -- localhost 127.0.0.1 ::1
days="${TLS_CERT_DAYS:-397}"

san=
for h in "$@"; do
	if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then
		san+="${san:+,}IP:$h"
	else
		san+="${san:+,}DNS:$h"
	fi
done

mkdir -p "$dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
serial() { echo "0x$(openssl rand -hex 16)"; }

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$work/ca.key" -out "$work/ca.pem" -days "$days" -set_serial "$(serial)" \
	-subj "/O=docker-examples/CN=docker-examples lb CA $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$work/key.pem" -out "$work/cert.csr" -subj "/O=docker-examples/CN=$1" 2>/dev/null
printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
	"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$work/ext.cnf"
openssl x509 -req -in "$work/cert.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
	-set_serial "$(serial)" -days "$days" -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null
openssl verify -CAfile "$work/ca.pem" "$work/cert.pem" >/dev/null

# The containers run as UID 1001 and read the files as they are (Compose
# mounts file secrets unchanged); the directory keeps them private.
chmod 0644 "$work/key.pem"
mv "$work/ca.pem" "$dir/tls_ca.pem"
mv "$work/key.pem" "$dir/tls_key.pem"
mv "$work/cert.pem" "$dir/tls_cert.pem"
echo "tls-cert: wrote $dir/tls_cert.pem for $* (CA: $dir/tls_ca.pem)" >&2
