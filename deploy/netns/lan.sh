#!/usr/bin/env bash
# Builds a private test LAN out of network namespaces on one machine, so lon-run and several
# sut-server nodes talk over real (optionally rate-limited) links instead of loopback.
#
#   lan.sh up [--nodes N] [--rate RATE] [--prefix P] [--subnet K]
#   lan.sh down [--prefix P]
#   lan.sh status [--prefix P]
#
# Namespaces: P-br (holds bridge P-br0), P-lg (LoadGen, 10.77.K... see below), P-node1..N.
# Addresses: 10.K.0.1/24 for the LoadGen, 10.K.0.(10+i)/24 for node i (K defaults to 77).
# Nothing is created in the root namespace.
set -euo pipefail

PREFIX=lon
SUBNET=77
NODES=2
RATE=""

die() { echo "lan.sh: error: $*" >&2; exit 1; }

usage() {
    echo "usage: lan.sh up [--nodes N] [--rate RATE] [--prefix P] [--subnet K] | down [--prefix P] | status [--prefix P]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
CMD=$1
shift
while [ $# -gt 0 ]; do
    case $1 in
        --nodes) NODES=${2:?--nodes needs a value}; shift 2 ;;
        --rate) RATE=${2:?--rate needs a value}; shift 2 ;;
        --prefix) PREFIX=${2:?--prefix needs a value}; shift 2 ;;
        --subnet) SUBNET=${2:?--subnet needs a value}; shift 2 ;;
        -h|--help) usage ;;
        *) die "unknown option $1" ;;
    esac
done

[[ $NODES =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] && [ "$NODES" -le 200 ] \
    || die "--nodes $NODES: expected a number from 1 to 200"
[[ $SUBNET =~ ^[0-9]+$ ]] && [ "$SUBNET" -ge 0 ] && [ "$SUBNET" -le 255 ] \
    || die "--subnet $SUBNET: expected a number from 0 to 255 (the K in 10.K.0.0/24)"
[[ $PREFIX =~ ^[a-z][a-z0-9]{0,7}$ ]] \
    || die "--prefix $PREFIX: expected 1-8 lowercase letters/digits starting with a letter"
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces need CAP_NET_ADMIN); try: sudo $0 $CMD"
command -v ip >/dev/null || die "the 'ip' command (iproute2) is not installed"

BR_NS=$PREFIX-br
BRIDGE=${PREFIX}br0
LG_NS=$PREFIX-lg

our_namespaces() {
    ip netns list | awk '{print $1}' | grep -E "^${PREFIX}-(br|lg|node[0-9]+)$" | sort -V || true
}

# Makes namespace $1 with a veth whose inside end is eth0 at address $2, the other end on the bridge.
add_host() {
    local ns=$1 addr=$2 port=$3
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$BR_NS" link add "$port" type veth peer name eth0 netns "$ns"
    ip -n "$BR_NS" link set "$port" master "$BRIDGE" up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
}

limit() {
    local ns=$1 dev=$2
    ip netns exec "$ns" tc qdisc replace dev "$dev" root tbf rate "$RATE" burst 64kb latency 400ms \
        || die "tc tbf rate $RATE on $ns/$dev failed (is RATE valid, e.g. 50mbit?)"
}

up() {
    if [ -n "$(our_namespaces)" ]; then
        down
    fi
    ip netns add "$BR_NS" || die "ip netns add $BR_NS failed (no namespace support here?)"
    trap 'rc=$?; if [ $rc -ne 0 ]; then down >/dev/null 2>&1; fi; exit $rc' EXIT  # no half-built LAN
    ip -n "$BR_NS" link set lo up
    ip -n "$BR_NS" link add "$BRIDGE" type bridge
    ip -n "$BR_NS" link set "$BRIDGE" up
    add_host "$LG_NS" "10.$SUBNET.0.1" "${PREFIX}v0"
    local i
    for i in $(seq 1 "$NODES"); do
        add_host "$PREFIX-node$i" "10.$SUBNET.0.$((10 + i))" "${PREFIX}v$i"
        if [ -n "$RATE" ]; then
            limit "$PREFIX-node$i" eth0            # node -> LAN
            limit "$BR_NS" "${PREFIX}v$i"          # LAN -> node
        fi
    done
    trap - EXIT
    status
}

down() {
    local ns
    for ns in $(our_namespaces); do
        ip netns del "$ns"
    done
}

status() {
    local nss
    nss=$(our_namespaces)
    if [ -z "$nss" ]; then
        echo "LAN $PREFIX: down"
        return 0
    fi
    echo "LAN $PREFIX: up"
    local ns addr qd
    for ns in $nss; do
        [ "$ns" = "$BR_NS" ] && continue
        addr=$(ip -n "$ns" -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}')
        qd=$(ip netns exec "$ns" tc qdisc show dev eth0 2>/dev/null | grep -o 'rate [^ ]*' || true)
        echo "  $ns eth0 ${addr:-?} ${qd}"
    done
}

case $CMD in
    up) up ;;
    down) down; echo "LAN $PREFIX: down" ;;
    status) status ;;
    *) usage ;;
esac
