#!/usr/bin/env bash
# The lab's own x509 PKI for TLS migrations, made with openssl: a lab CA and,
# per host, the files QEMU's tls-creds-x509 reads from a directory (libvirt's
# layout, /etc/pki/qemu on a real host):
#
#   $FERRY_LAB_RUN/<host>/pki/ca-cert.pem                  the lab CA
#   $FERRY_LAB_RUN/<host>/pki/server-cert.pem, server-key.pem  (the host as a destination)
#   $FERRY_LAB_RUN/<host>/pki/client-cert.pem, client-key.pem  (the host as a source)
#
# Inside each host (its own mount namespace, lab.sh) its pki/ is bind-mounted
# over /etc/pki/qemu, libvirt's default, so `tls: true` finds it there as on a
# real host; the empty mount point is made on this machine, as /srv/ferry-host is.
#
# Each certificate names its host as CN=<host>, O=ferry-lab, with the
# subjectAltNames DNS:<host> and IP:<its lab address>, so a source may check
# the destination by either. For the tests of a wrong certificate, each host
# also gets pki-other-ca/: a whole PKI of a second CA (its own ca-cert.pem and
# certificates signed by it), consistent in itself, trusted by no other host.
#
#   make-pki.sh            (idempotent: keeps a PKI already made; run after lab.sh up)
#
# Settings: FERRY_LAB_RUN, FERRY_LAB_SUBNET, FERRY_LAB_HOSTS (see lab.sh).
set -euo pipefail
subnet=${FERRY_LAB_SUBNET:-10.213.0}
hosts=(${FERRY_LAB_HOSTS:-a b c})
run=${FERRY_LAB_RUN:-/run/ferry-lab}
ca_dir=$run/lab/pki
days=3650

# The CA and the extensions QEMU insists on (qcrypto_tls_creds_check_cert:
# basicConstraints, keyUsage, and the purpose of each certificate).
make_ca() {
  local name=$1
  [ -f "$ca_dir/$name-cert.pem" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -sha256 \
    -subj "/O=ferry-lab/CN=$name" \
    -addext 'basicConstraints=critical,CA:TRUE' \
    -addext 'keyUsage=critical,keyCertSign,cRLSign' \
    -keyout "$ca_dir/$name-key.pem" -out "$ca_dir/$name-cert.pem" 2>/dev/null
}

# make_cert CA OUT_PREFIX HOST ADDRESS server|client
make_cert() {
  local ca=$1 out=$2 host=$3 address=$4 role=$5 purpose ext
  [ "$role" = server ] && purpose=serverAuth || purpose=clientAuth
  ext=$(mktemp)
  cat > "$ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$purpose
subjectAltName=DNS:$host,IP:$address
EXT
  openssl req -new -newkey rsa:2048 -nodes -subj "/O=ferry-lab/CN=$host" \
    -keyout "$out-key.pem" -out "$out.csr" 2>/dev/null
  openssl x509 -req -in "$out.csr" -CA "$ca_dir/$ca-cert.pem" -CAkey "$ca_dir/$ca-key.pem" \
    -CAcreateserial -days "$days" -sha256 -extfile "$ext" -out "$out-cert.pem" 2>/dev/null
  rm -f "$out.csr" "$ext"
  chmod 600 "$out-key.pem"
}

mkdir -p "$ca_dir"
chmod 700 "$ca_dir"
make_ca ca
make_ca other-ca
i=0
for host in "${hosts[@]}"; do
  i=$((i + 1))
  address=$subnet.$((10 + i))
  dir=$run/$host/pki
  other=$run/$host/pki-other-ca
  if [ ! -f "$dir/client-cert.pem" ]; then
    mkdir -p "$dir"
    cp "$ca_dir/ca-cert.pem" "$dir/ca-cert.pem"
    make_cert ca "$dir/server" "$host" "$address" server
    make_cert ca "$dir/client" "$host" "$address" client
  fi
  if [ ! -f "$other/client-cert.pem" ]; then
    mkdir -p "$other"
    cp "$ca_dir/other-ca-cert.pem" "$other/ca-cert.pem"
    make_cert other-ca "$other/server" "$host" "$address" server
    make_cert other-ca "$other/client" "$host" "$address" client
  fi
done

# Each host sees its own credentials at libvirt's default path.
mkdir -p /etc/pki/qemu
for host in "${hosts[@]}"; do
  ns=$run/lab/ns/$host
  [ -f "$ns" ] || continue
  nsenter --mount="$ns" -- sh -c 'mountpoint -q /etc/pki/qemu || mount --bind "$1" /etc/pki/qemu' sh "$run/$host/pki"
done
