"""A minimal Lambda invocation endpoint: answers POST /2015-03-31/functions/function/invocations
(the Lambda runtime interface emulator's path) by calling the Mangum-wrapped ASGI app in app.py
with the event and returning its result as JSON. An exception becomes Lambda's error shape
{"errorMessage", "errorType"} with X-Amz-Function-Error, as Lambda's Invoke API answers.

Usage: [API_GATEWAY_BASE_PATH=/fn] python invoke.py PORT
(0 picks a free port; the port is printed as "listening PORT")
Single-threaded, one request per connection: Mangum runs its event loop on the main thread.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mangum import Mangum  # noqa: E402

from app import app  # noqa: E402

INVOCATIONS = "/2015-03-31/functions/function/invocations"
# API_GATEWAY_BASE_PATH: a prefix Mangum strips from the event's path (e.g. /fn for ANY /fn/{proxy+}).
asgi = Mangum(app, lifespan="off", api_gateway_base_path=os.environ.get("API_GATEWAY_BASE_PATH", "/"))


def handler(event, context):
    """The Lambda handler: Mangum answers the app's own exceptions with a 500 response; a
    failure of the handler itself (simulated on /crash) is a function error."""
    if event.get("path") == "/crash":
        raise RuntimeError("the handler crashed")
    return asgi(event, context)


class Context:
    function_name = "function"
    function_version = "$LATEST"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self):
        return 30000


class Invoke(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        payload = self.rfile.read(length)
        if self.path != INVOCATIONS:
            self.answer(404, {"message": "unknown path " + self.path}, None)
            return
        try:
            result = handler(json.loads(payload), Context())
            self.answer(200, result, None)
        except Exception as e:  # the function failed: Lambda's error shape
            self.answer(200, {"errorMessage": str(e), "errorType": type(e).__name__}, "Unhandled")

    def answer(self, status, doc, function_error):
        out = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        if function_error:
            self.send_header("x-amz-function-error", function_error)
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Invoke)
    print(f"listening {server.server_port}", flush=True)
    server.serve_forever()
