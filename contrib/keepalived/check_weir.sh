#!/usr/bin/env bash
# keepalived's vrrp_script for weir: exits 0 when weir serves, 1 when it
# does not (not running, not answering, stopping), so that keepalived
# moves the virtual IP to the other balancer.
#
#   check_weir.sh [SOCKET] [BACKEND...]
#
# SOCKET is weir's stats socket: a path (/run/weir/admin.sock, read with
# socat) or HOST:PORT (a TCP stats socket, read with bash alone); default
# /run/weir/admin.sock. Each BACKEND named must also be UP: a balancer
# whose gateways are all down here may hand the address to one whose
# gateways are up.
set -u
socket=${1:-/run/weir/admin.sock}
shift $(( $# > 0 ? 1 : 0 ))
patience=2

# One runtime-API request, its answer on stdout.
ask() {
    case $socket in
    /*)
        timeout "$patience" socat -T "$patience" stdio "unix-connect:$socket" <<<"$1"
        ;;
    *:*)
        timeout "$patience" bash -c '
            exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
            printf "%s\n" "$2" >&3
            cat <&3' _ "$socket" "$1"
        ;;
    *)
        echo "check_weir: '$socket' is neither a path nor HOST:PORT" >&2
        return 2
        ;;
    esac
}

info=$(ask "show info") || exit 1
grep -q '^Pid: ' <<<"$info" || exit 1
grep -q '^Stopping: 1' <<<"$info" && exit 1

for backend in "$@"; do
    # show stat's row type 2 is the backend; column 18 its status.
    status=$(ask "show stat $backend 2 -1" | awk -F, -v b="$backend" '$1 == b && $2 == "BACKEND" { print $18 }')
    [ "$status" = UP ] || exit 1
done
exit 0
