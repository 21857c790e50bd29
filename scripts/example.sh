#!/usr/bin/env bash
# Runs the example: two demo backends (orders v1 on :9001, v2 on :9002) and the gateway serving
# config/ on :8080 (admin on :9901). Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --bin stagecraft --example demo_backend
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT INT TERM
target/release/examples/demo_backend --listen 127.0.0.1:9001 --name orders-v1 & pids+=($!)
target/release/examples/demo_backend --listen 127.0.0.1:9002 --name orders-v2 & pids+=($!)
# The function behind ANY /dev/fn/{proxy+} (aws_proxy, backend "functions", alias dev = v2 on
# :9102): the Mangum-wrapped ASGI app of the tests, when its venv exists (cargo test --test
# e2e lambda:: creates target/lambda-venv). Any Lambda container image works too:
#   docker run -p 9102:8080 IMAGE
if [ -x target/lambda-venv/bin/python ]; then
  API_GATEWAY_BASE_PATH=/fn target/lambda-venv/bin/python tests/lambda/invoke.py 9102 & pids+=($!)
fi
# The token authorizer of GET /dev/me (backend "auth" on :9201): standard library only.
python3 tests/lambda/authorizer.py 9201 >/dev/null & pids+=($!)
cat <<'MSG'

stagecraft is serving config/ on http://127.0.0.1:8080. The console: http://127.0.0.1:9901/
(token for changes: stagecraft-demo-admin-token). Try:
  curl -i http://127.0.0.1:8080/prod/orders/42        # prod: 95% orders-v1, 5% orders-v2
  for i in $(seq 100); do curl -s http://127.0.0.1:8080/prod/orders/1; echo; done | sort | uniq -c
  curl -i http://127.0.0.1:8080/dev/orders/42         # dev: 100% orders-v2
  curl -i http://127.0.0.1:8080/dev/ping              # mock integration (no backend)
  curl -i http://127.0.0.1:8080/dev/orders/42/summary # http integration, templated response
  curl -i 'http://127.0.0.1:8080/dev/fn/hello/ada?greeting=hi' # aws_proxy: a Lambda-style function
  curl -i -H 'Authorization: allow-ada' http://127.0.0.1:8080/dev/me   # a token authorizer: 200
  curl -i http://127.0.0.1:8080/dev/me                # no token: 401
  curl -i -X DELETE http://127.0.0.1:8080/v1/orders/1 # v1 stage serves deployment shop-1: 405
  curl -i -X POST http://127.0.0.1:8080/dev/orders -H 'content-type: application/json' -d '{"item": "x"}'
                                                      # dev validates the body: 400 with the schema's detail
  curl -i -X OPTIONS http://127.0.0.1:8080/dev/orders -H 'origin: http://localhost:3000' \
       -H 'access-control-request-method: POST'       # a CORS preflight, answered by the gateway
  edit config/stages/prod.yaml (e.g. alias: dev) and the next request follows it, no restart.

MSG
target/release/stagecraft run --config config & pids+=($!)
wait "${pids[-1]}"
