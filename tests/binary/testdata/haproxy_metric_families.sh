#!/bin/bash
# How haproxy_metric_families.txt was made: the families (`# TYPE` names)
# haproxy 2.6.12 serves on /metrics for the configuration of
# observability.rs (a TCP frontend to two checked echo servers, a `mode
# http` frontend with the exporter and the stats page), after a few
# sessions. Needs haproxy, socat and curl; uses 127.0.0.1:29400-29412.
# Run: ./haproxy_metric_families.sh > haproxy_metric_families.txt
set -eu
dir=$(mktemp -d)
cat > "$dir/h.cfg" <<'CFG'
global
 stats timeout 2s
 stats socket ipv4@127.0.0.1:29400 level admin
defaults
 mode tcp
 timeout connect 2s
 timeout client 10s
 timeout server 10s
frontend fe
 bind 127.0.0.1:29401
 default_backend app
backend app
 server s1 127.0.0.1:29411 check inter 200ms
 server s2 127.0.0.1:29412 check inter 200ms
frontend pages
 mode http
 bind 127.0.0.1:29402
 timeout client 2s
 http-request use-service prometheus-exporter if { path /metrics }
 stats enable
 stats uri /stats
 stats refresh 5s
 stats auth u:p
 stats admin if TRUE
CFG
socat TCP-LISTEN:29411,fork,reuseaddr EXEC:cat & s1=$!
socat TCP-LISTEN:29412,fork,reuseaddr EXEC:cat & s2=$!
haproxy -f "$dir/h.cfg" -db >/dev/null 2>&1 & hap=$!
trap 'kill $hap $s1 $s2; rm -rf "$dir"' EXIT
sleep 2
for _ in 1 2 3; do echo hello | socat -t2 - TCP:127.0.0.1:29401 >/dev/null; done
curl -s http://127.0.0.1:29402/metrics | awk '/^# TYPE /{print $3}'
