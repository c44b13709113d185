#!/usr/bin/env bash
# The ferry lab's hosts: one network namespace per simulated host, each with
# its own sshd, joined by a switch bridge in a namespace of its own, plus one
# veth into the caller's namespace carrying only a lab-subnet address.
#
# Each host also has a mount namespace of its own (private propagation), kept
# alive by a bind-mounted ns file in $FERRY_LAB_RUN/lab/ns/<host>: its sshd, so
# every SSH session and every process ferry starts there, and everything the
# harness runs "on" the host (Lab.hostCommand) enter it. In it /srv/ferry-host
# is the host's local storage ($FERRY_LAB_RUN/<host>/private); every other path
# is shared storage, seen alike by all hosts.
#
#   lab.sh up | down | status        (up and down are idempotent)
#
# Settings (environment):
#   FERRY_LAB_PREFIX  namespace/link prefix          (default: ferry)
#   FERRY_LAB_SUBNET  first three octets of a /24    (default: 10.213.0)
#   FERRY_LAB_HOSTS   host names                     (default: "a b c")
#   FERRY_LAB_RUN     runtime state (keys, runDirs)  (default: /run/ferry-lab)
#   FERRY_LAB_QEMU    QEMU per host, e.g. "c=10.0" or "a=10.0 b=10.0"; hosts not
#                     named keep the system's (7.2). Applied by every `up`
#                     (use-qemu.sh; install-qemu.sh fetches a version once).
#
# Addresses: caller .1, host number i (1-based) at .(10+i), guests at .100+.
# Everything it starts is ended by pid on `down`, never by name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${FERRY_LAB_PREFIX:-ferry}
subnet=${FERRY_LAB_SUBNET:-10.213.0}
hosts=(${FERRY_LAB_HOSTS:-a b c})
run=${FERRY_LAB_RUN:-/run/ferry-lab}
state=$run/lab
switch=$prefix-sw
nsdir=$state/ns
local_mount=/srv/ferry-host

# A Linux bridge takes the lowest MAC of its ports unless one is pinned; the
# changes left stale ARP entries that stalled migrations (LAB.md).
pinned_mac() { printf '02:fe:%02x:%02x:%02x:%02x' "$1" "$2" 0 1; }

host_ns() { echo "$prefix-$1"; }

mount_ns_file() { echo "$nsdir/$1"; }

# Runs a command on host $1: in its network and mount namespaces.
on_host() {
  local name=$1; shift
  nsenter --net="/run/netns/$(host_ns "$name")" --mount="$(mount_ns_file "$name")" -- "$@"
}

# A bind-mounted ns file may only live on a private mount (else the new
# namespace would receive a copy of its own file); the ns directory is made one.
ensure_nsdir() {
  mkdir -p "$nsdir"
  mountpoint -q "$nsdir" || mount --bind "$nsdir" "$nsdir"
  mount --make-private "$nsdir"
}

has_mount_ns() { [ -f "$(mount_ns_file "$1")" ] && nsenter --mount="$(mount_ns_file "$1")" -- true 2>/dev/null; }

# The host's mount namespace, made once (as `ip netns exec` does for each
# command, /sys shows the host's own network devices) and then kept: a
# restarted sshd and the harness re-enter the same one.
ensure_mount_ns() {
  local name=$1 file
  has_mount_ns "$name" && return 0
  ensure_nsdir
  file=$(mount_ns_file "$name")
  mkdir -p "$run/$name/private" "$local_mount"
  : > "$file"
  nsenter --net="/run/netns/$(host_ns "$name")" -- \
    unshare --mount="$file" --propagation private -- sh -c '
      umount -l /sys && mount -t sysfs "$1" /sys
      mount --bind "$2" "$3"' sh "$(host_ns "$name")" "$run/$name/private" "$local_mount"
}

is_up() { [ -f "$state/up" ]; }

# Fault tests cut links with blackhole routes to the hosts' addresses, here and
# inside the hosts; a test killed halfway leaves them, and every later test
# would find its hosts unreachable.
clear_blackholes() {
  local i name ns
  for i in "${!hosts[@]}"; do
    ip route del blackhole "$subnet.$((11 + i))/32" 2>/dev/null || true
    for name in "${hosts[@]}"; do
      ns=$(host_ns "$name")
      if ip netns list | grep -qw "$ns"; then ip -n "$ns" route del blackhole "$subnet.$((11 + i))/32" 2>/dev/null || true; fi
    done
  done
  return 0
}

# FERRY_LAB_QEMU's versions, each through the host's own mount namespace.
# Hosts it does not name are left as they are (a test may have upgraded one).
apply_qemu_versions() {
  local entry name version
  local list=${FERRY_LAB_QEMU:-}
  for entry in ${list//,/ }; do
    name=${entry%%=*} version=${entry#*=}
    [[ " ${hosts[*]} " == *" $name "* && $entry == *=* ]] || { echo "lab: FERRY_LAB_QEMU: '$entry' is not HOST=VERSION for a lab host" >&2; return 2; }
    [ "$version" = "$(system_qemu_version)" ] || bash "$here/install-qemu.sh" "$version"
    on_host "$name" sh "$here/use-qemu.sh" "$version" >/dev/null
  done
}

system_qemu_version() { qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version \([0-9]*\.[0-9]*\).*/\1/p'; }

up() {
  clear_blackholes
  if is_up && ip netns list | grep -qw "$switch"; then
    for name in "${hosts[@]}"; do
      ensure_mount_ns "$name"
      sshd_alive "$name" && sshd_in_mount_ns "$name" && continue
      # (one left from a lab made before hosts had mount namespaces is replaced)
      kill_pidfile "$state/$name/sshd.pid"
      start_sshd "$name"
    done
    apply_qemu_versions
    return 0
  fi
  down >/dev/null 2>&1 || true
  mkdir -p "$state" /run/sshd
  chmod 700 "$state"

  ip netns add "$switch"
  ip -n "$switch" link set lo up
  ip -n "$switch" link add sw0 type bridge
  ip -n "$switch" link set sw0 address "$(pinned_mac 0 0)"
  ip -n "$switch" link set sw0 up
  # The caller's namespace: one veth with a lab-subnet address, no routes beyond it.
  ip link add "$prefix-lab0" type veth peer name up-caller netns "$switch"
  ip addr add "$subnet.1/24" dev "$prefix-lab0"
  ip link set "$prefix-lab0" up
  ip -n "$switch" link set up-caller master sw0 up

  ssh-keygen -q -t ed25519 -N '' -C ferry-lab-client -f "$state/id_ed25519"
  : > "$state/known_hosts"
  : > "$state/ssh_config"
  cat > "$qemu_ifup" <<IFUP
#!/bin/sh
# QEMU calls this on the host it runs on, with the new tap's name.
ip link set "\$1" up && ip link set "\$1" master br0
IFUP
  chmod 755 "$qemu_ifup"

  local i=0
  for name in "${hosts[@]}"; do
    i=$((i + 1))
    add_host "$name" "$i"
  done
  apply_qemu_versions
  date +%s > "$state/up"
}

add_host() {
  local name=$1 i=$2 ns address
  ns=$(host_ns "$name")
  address="$subnet.$((10 + i))"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add br0 type bridge
  ip -n "$ns" link set br0 address "$(pinned_mac 1 "$i")"
  ip link add "up-$name" netns "$switch" type veth peer name eth0 netns "$ns"
  ip -n "$ns" link set eth0 master br0 up
  ip -n "$ns" link set br0 up
  ip -n "$ns" addr add "$address/24" dev br0
  ip -n "$switch" link set "up-$name" master sw0 up

  mkdir -p "$run/$name" "$state/$name"
  ensure_mount_ns "$name"
  ssh-keygen -q -t ed25519 -N '' -C "ferry-lab-$name" -f "$state/$name/ssh_host_ed25519_key"
  cat > "$state/$name/sshd_config" <<CONF
ListenAddress $address
Port 22
HostKey $state/$name/ssh_host_ed25519_key
PidFile $state/$name/sshd.pid
AuthorizedKeysFile $state/id_ed25519.pub
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
MaxSessions 64
MaxStartups 64:30:128
LogLevel ERROR
# sshd runs each command through root's bash, and Debian's bash sources
# ~/.bashrc for ssh sessions unless SHLVL says it is nested; this machine's
# .bashrc (pyenv init) costs ~700 ms per command, which no real host has.
SetEnv SHLVL=1
CONF
  echo "$address $(cut -d' ' -f1,2 "$state/$name/ssh_host_ed25519_key.pub")" >> "$state/known_hosts"
  cat >> "$state/ssh_config" <<CONF
Host $name
  HostName $address
  User root
  IdentityFile $state/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $state/known_hosts
  StrictHostKeyChecking yes

CONF
  start_sshd "$name"
}

start_sshd() {
  local name=$1
  on_host "$name" /usr/sbin/sshd -f "$state/$name/sshd_config"
}

sshd_in_mount_ns() {
  local pid
  pid=$(cat "$state/$1/sshd.pid" 2>/dev/null) || return 1
  [ "$(stat -L -c %i "/proc/$pid/ns/mnt" 2>/dev/null)" = "$(stat -c %i "$(mount_ns_file "$1")")" ]
}

sshd_alive() {
  local pid
  pid=$(cat "$state/$1/sshd.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && alive "$pid"
}

# A process counts as alive unless gone or a zombie (an exited QEMU lingers
# as a zombie for a moment, and kill -0 still succeeds on it).
alive() {
  local s
  s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$s" ] && [ "$s" != Z ]
}

kill_pidfile() {
  local file=$1 pid n
  pid=$(cat "$file" 2>/dev/null) || return 0
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for n in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  rm -f "$file"
}

down() {
  local name ns pidfile
  for name in "${hosts[@]}"; do
    for pidfile in "$run/$name"/*.pid; do [ -e "$pidfile" ] && kill_pidfile "$pidfile"; done
    kill_pidfile "$state/$name/sshd.pid"
    umount "$(mount_ns_file "$name")" 2>/dev/null || true
    ns=$(host_ns "$name")
    ip netns list | grep -qw "$ns" && ip netns del "$ns"
  done
  ip link del "$prefix-lab0" 2>/dev/null || true
  ip netns list | grep -qw "$switch" && ip netns del "$switch"
  if mountpoint -q "$nsdir" 2>/dev/null; then umount "$nsdir"; fi
  rm -rf "$run"
}

status() {
  if ! is_up; then echo "lab: down"; return 1; fi
  local name qemu
  for name in "${hosts[@]}"; do
    qemu=$(on_host "$name" qemu-system-x86_64 --version 2>/dev/null | sed -n '1s/^QEMU emulator version \([^ ]*\).*/\1/p')
    if sshd_alive "$name"; then echo "host $name: sshd up, qemu ${qemu:-?}"; else echo "host $name: sshd DOWN, qemu ${qemu:-?}"; fi
  done
}

qemu_ifup=$run/qemu-ifup
case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: lab.sh up|down|status" >&2; exit 2 ;;
esac
