"""A Lambda authorizer function behind a minimal invocation endpoint, for the authorizer tests.

POST /2015-03-31/functions/function/invocations runs `handler` with the event, as Lambda's Invoke
API does: its result as JSON, or an exception as Lambda's error shape {"errorMessage",
"errorType"} with X-Amz-Function-Error. The handler is written the way AWS's blueprint writes
authorizers: the policy's resources are built from the event's methodArn.

TOKEN events: the token decides.
  allow-NAME     Allow on every method of the stage; principalId NAME; a context
  narrow-NAME    Allow on GET /orders/* only (other requests are implicitly denied)
  deny-NAME      an explicit Deny on everything
  key-VALUE      as allow-VALUE, with usageIdentifierKey VALUE (for api_key_source: authorizer)
  slow-NAME      waits 0.5 s, then as allow-NAME (for concurrent cold-cache requests)
  sleep-NAME     waits 5 s, then as allow-NAME (for the authorizer timeout)
  unauthorized   raises Exception("Unauthorized"): AWS's 401
  fail           raises Exception("Error: Invalid token")
  malformed      answers {"principalId": "x"} (no policy)
  notjson        answers a body that is not JSON
REQUEST events: Allow when the query's `tenant` is `acme`, an explicit Deny otherwise; the
principal is the `x-user` header.

GET /calls answers {"total": N, "by_identity": {...}}; GET /events the events seen, in order.

Usage: python authorizer.py PORT   (0 picks a free port; prints "listening PORT")
Threaded: requests that wait do not hold up the others.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INVOCATIONS = "/2015-03-31/functions/function/invocations"
LOCK = threading.Lock()
CALLS = {"total": 0, "by_identity": {}}
EVENTS = []


def policy(principal, effect, resources, context=None):
    answer = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}],
        },
    }
    if context is not None:
        answer["context"] = context
    return answer


def arn_base(method_arn):
    """arn:aws:execute-api:REGION:ACCOUNT:API/STAGE (the blueprint's split)."""
    head, _, rest = method_arn.partition("/")
    stage = rest.split("/")[0]
    return f"{head}/{stage}"


def handler(event, context):
    base = arn_base(event["methodArn"])
    if event["type"] == "REQUEST":
        user = (event.get("headers") or {}).get("x-user", "")
        tenant = (event.get("queryStringParameters") or {}).get("tenant", "")
        effect = "Allow" if tenant == "acme" else "Deny"
        return policy(user, effect, f"{base}/*", {"tenant": tenant})
    token = event["authorizationToken"]
    kind, _, name = token.partition("-")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "fail":
        raise Exception("Error: Invalid token")
    if token == "malformed":
        return {"principalId": "x"}
    if kind == "slow":
        time.sleep(0.5)
    if kind == "sleep":
        time.sleep(5)
    if kind in ("allow", "slow", "sleep"):
        return policy(name, "Allow", [f"{base}/*/*"], {"tier": "gold", "count": 7, "vip": True})
    if kind == "key":
        answer = policy(name, "Allow", [f"{base}/*/*"])
        answer["usageIdentifierKey"] = name
        return answer
    if kind == "narrow":
        return policy(name, "Allow", f"{base}/GET/orders/*")
    if kind == "deny":
        return policy(name, "Deny", f"{base}/*")
    raise Exception("Error: unknown token")


class Context:
    function_name = "authorizer"


class Invoke(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        with LOCK:
            doc = CALLS if self.path == "/calls" else EVENTS if self.path == "/events" else None
            out = json.dumps(doc).encode()
        self.answer(200 if doc is not None else 404, out, None)

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        payload = self.rfile.read(length)
        if self.path != INVOCATIONS:
            self.answer(404, b'{"message": "unknown path"}', None)
            return
        event = json.loads(payload)
        identity = event.get("authorizationToken")
        if identity is None:
            h = event.get("headers") or {}
            q = event.get("queryStringParameters") or {}
            identity = f"{h.get('x-user', '')}|{q.get('tenant', '')}"
        with LOCK:
            CALLS["total"] += 1
            CALLS["by_identity"][identity] = CALLS["by_identity"].get(identity, 0) + 1
            EVENTS.append(event)
        try:
            result = handler(event, Context())
            if identity == "notjson":
                self.answer(200, b"this is not json", None)
                return
            self.answer(200, json.dumps(result).encode(), None)
        except Exception as e:  # the function failed: Lambda's error shape
            doc = {"errorMessage": str(e), "errorType": type(e).__name__}
            self.answer(200, json.dumps(doc).encode(), "Unhandled")

    def answer(self, status, out, function_error):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        if function_error:
            self.send_header("x-amz-function-error", function_error)
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    # The default backlog of 5 resets concurrent connections beyond it.
    request_queue_size = 256
    daemon_threads = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Invoke)
    print(f"listening {server.server_port}", flush=True)
    server.serve_forever()
