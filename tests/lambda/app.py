"""A tiny ASGI application (no framework) for the Mangum end-to-end test of `aws_proxy`.

GET  /hello/{name}?greeting=G  -> 200 JSON {"message": "G, name", "query": ..., "headers": {...}}
POST /echo                     -> the request body back, same Content-Type (binary both ways)
GET  /missing                  -> 404 JSON
GET  /cookies                  -> 201, two Set-Cookie headers and two X-Multi headers
GET  /boom                     -> raises (Mangum answers 500 Internal Server Error)
"""

import json
from urllib.parse import parse_qs


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def send_response(send, status, headers, body):
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    assert scope["type"] == "http"
    path = scope["path"]
    headers = {k.decode(): v.decode() for k, v in scope["headers"]}
    body = await read_body(receive)
    if path.startswith("/hello/"):
        query = parse_qs(scope["query_string"].decode())
        greeting = query.get("greeting", ["hello"])[-1]
        out = {
            "message": f"{greeting}, {path[len('/hello/'):]}",
            "method": scope["method"],
            "query": query,
            "x_custom": headers.get("x-custom"),
            "stage": scope["aws.event"]["requestContext"]["stage"],
            "stage_variables": scope["aws.event"]["stageVariables"],
        }
        await send_response(send, 200, [(b"content-type", b"application/json")], json.dumps(out).encode())
    elif path == "/echo":
        ct = headers.get("content-type", "application/octet-stream").encode()
        await send_response(send, 200, [(b"content-type", ct), (b"x-length", str(len(body)).encode())], body)
    elif path == "/cookies":
        await send_response(
            send,
            201,
            [
                (b"content-type", b"text/plain"),
                (b"set-cookie", b"a=1; Path=/"),
                (b"set-cookie", b"b=2; Path=/"),
                (b"x-multi", b"one"),
                (b"x-multi", b"two"),
            ],
            b"made",
        )
    elif path == "/boom":
        raise RuntimeError("the app blew up")
    else:
        await send_response(send, 404, [(b"content-type", b"application/json")], b'{"error": "no such thing"}')
