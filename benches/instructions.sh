#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind (callgrind), for one or more stagecraft
# release binaries: a before/after comparison that a noisy, shared VM cannot blur the way it
# blurs CPU time (benches/load.sh's same-run CPU ratios spread ±15% there; instruction counts
# repeat within about 0.3%).
#
# Each binary serves the example configuration (config/, one thread) with an nginx backend for
# its `orders` versions; it runs under callgrind twice, for 500 and for 2,500 keep-alive
# `GET /prod/hello` through the weighted alias (benches/load/keepalive_gets.py), and the
# difference divided by 2,000 is the count per request (start-up and shutdown cancel out).
#
# usage: benches/instructions.sh BIN [BIN...]      e.g. target/release/stagecraft /tmp/old/stagecraft
# A binary older than the example configuration it would read (it refuses keys added since) is
# given its own: BIN=CONFIG_DIR, e.g. /tmp/old/stagecraft=/tmp/old-config (git archive REV config).
# needs: valgrind, nginx, python3, curl. Ports 18500/18501 (gateway) and 9001/9002 (backend).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
dir="$(mktemp -d)"
cleanup() { [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

# The example configuration, or CONFIG_DIR for BIN=CONFIG_DIR, with the bench's ports.
config_for() {
    rm -rf "$dir/cfg"
    cp -a "$1" "$dir/cfg"
    sed -i -e 's/^threads: .*/threads: 1/' -e 's/127.0.0.1:8080/127.0.0.1:18500/' \
        -e 's/127.0.0.1:9901/127.0.0.1:18501/' "$dir/cfg/gateway.yaml"
}
cat >"$dir/nginx.conf" <<NGINX
daemon on; worker_processes 1; pid $dir/nginx.pid; error_log $dir/nginx.err;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $dir/t1; proxy_temp_path $dir/t2;
  fastcgi_temp_path $dir/t3; uwsgi_temp_path $dir/t4; scgi_temp_path $dir/t5;
  server { listen 127.0.0.1:9001; listen 127.0.0.1:9002; location / { return 200 "hello\n"; } } }
NGINX
nginx -c "$dir/nginx.conf"

# count BIN N: instructions of one run serving N requests.
count() {
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg" --dump-instr=no --collect-jumps=no \
        "$1" run --config "$dir/cfg" >"$dir/gw.log" 2>&1 &
    local vg=$!
    for _ in $(seq 1 600); do curl -sf 127.0.0.1:18501/readyz >/dev/null && break; sleep 0.2; done
    python3 "$root/benches/load/keepalive_gets.py" 18500 "$2"
    kill -TERM "$vg"
    wait "$vg" || true
    sed -n 's/^summary: //p' "$dir/cg"
}

for arg in "$@"; do
    bin="${arg%%=*}"
    if [ "$bin" = "$arg" ]; then config_for "$root/config"; else config_for "${arg#*=}"; fi
    small=$(count "$bin" 500)
    large=$(count "$bin" 2500)
    echo "$bin: $(( (large - small) / 2000 )) instructions per request (500: $small, 2500: $large)"
done
