#!/bin/sh
# Writes weir's man page (roff) to standard output, made from the help text
# of the binary given as $1 (`weir -h`), so the page and the help cannot
# drift (rt-mio/tests/packaging.rs compares the result with contrib/man/weir.1).
# Regenerate after changing the help text:
#   cargo build -p weir-mio && contrib/man/make-man.sh target/debug/weir > contrib/man/weir.1
set -eu
bin=${1:?usage: make-man.sh PATH-TO-WEIR}
"$bin" -h | LC_ALL=C awk '
# roff text: a backslash is \e, "-" is \-, a line may not start with . or '"'"'
function esc(s) {
    gsub(/\\/, "\\e", s)
    gsub(/-/, "\\-", s)
    if (s ~ /^[.'"'"']/) s = "\\&" s
    return s
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
BEGIN {
    print ".\\\" Made by contrib/man/make-man.sh from the output of weir -h: do not edit."
    print ".TH WEIR 1 \"\" \"weir\" \"User Commands\""
    print ".SH NAME"
    print "weir \\- TCP load balancer with an HAProxy-compatible configuration"
    part = "usage"
}
part == "usage" && /^Usage: / {
    sub(/^Usage: [^ ]+ /, "")
    print ".SH SYNOPSIS"
    print ".B weir"
    print esc(trim($0))
    next
}
part == "usage" && /^  +[^ -]/ { print esc(trim($0)); next }
/^  -/ {
    if (part != "options") {
        print ".SH DESCRIPTION"
        print "weir balances TCP connections over servers, read from a configuration in"
        print "HAProxy'"'"'s format (see"
        print ".BR haproxy (1))."
        print "It runs in the foreground unless told otherwise."
        print ".SH OPTIONS"
        part = "options"
    }
    line = substr($0, 3)
    i = index(line, "  ")
    print ".TP"
    print ".B " esc(substr(line, 1, i - 1))
    print esc(trim(substr(line, i)))
    next
}
part == "options" && /^   / { print esc(trim($0)); next }
{
    if (part != "signals") { print ".SH SIGNALS"; part = "signals" }
    print esc(trim($0))
}
END {
    if (part != "signals") { print "make-man.sh: no trailing text in weir -h" > "/dev/stderr"; exit 1 }
    print ".SH FILES"
    print ".TP"
    print ".I /etc/weir/weir.cfg"
    print "the configuration the Debian package installs and its systemd unit reads"
    print ".TP"
    print ".I /usr/lib/systemd/system/weir.service"
    print "the systemd unit: weir \\-Ws under a user of its own; systemctl reload weir"
    print "checks the files, then sends SIGUSR2"
    print ".TP"
    print ".I /run/weir/admin.sock"
    print "the default configuration'"'"'s stats socket (show info, show stat, reload)"
    print ".SH SEE ALSO"
    print ".BR haproxy (1),"
    print ".BR systemd.service (5),"
    print ".BR keepalived (8)"
}'
