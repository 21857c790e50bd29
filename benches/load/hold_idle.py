#!/usr/bin/env python3
"""Hold N idle HTTP/1.1 keep-alive connections open to a server (stdlib only).

usage: hold_idle.py --port PORT [--host 127.0.0.1] [--path /] [-n 10000] [--concurrency 200]

Every connection sends one `GET PATH HTTP/1.1` (Host: x), reads the whole response (by its
Content-Length, or chunked), and then stays open and idle in keep-alive. Once all attempts are
done it prints `ready OK FAILED` on stdout, then waits for EOF on stdin (or SIGTERM/SIGINT),
then prints `open STILL_OPEN closed CLOSED_BY_PEER` and exits. A response with
`Connection: close` or a status other than 2xx counts as failed. Used by benches/load.sh to
measure the proxy's memory per idle connection; needs N file descriptors (the soft limit is
raised to the hard limit).
"""

import argparse
import asyncio
import os
import resource
import signal
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/")
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--timeout", type=float, default=10.0, help="per connection setup, seconds")
    return p.parse_args()


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", ""):
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        raise RuntimeError("response without Content-Length or chunked framing")
    if headers.get("connection") == "close":
        raise RuntimeError("server answered Connection: close")
    if not 200 <= status < 300:
        raise RuntimeError(f"status {status}")


async def main():
    args = parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.n + 50 > hard:
        print(f"warning: fd limit {hard} is below {args.n} connections", file=sys.stderr)

    request = f"GET {args.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    sem = asyncio.Semaphore(args.concurrency)
    held = []  # (writer, watcher task)
    errors = {}

    async def watch(reader):
        # Completes when the peer closes (b"") or sends something unsolicited.
        try:
            return await reader.read(1)
        except (ConnectionError, OSError):
            return b""

    async def one():
        async with sem:
            writer = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port), args.timeout)
                writer.write(request)
                await writer.drain()
                await asyncio.wait_for(read_response(reader), args.timeout)
            except Exception as e:  # noqa: BLE001 - counted and reported
                key = f"{type(e).__name__}: {e}"[:120]
                errors[key] = errors.get(key, 0) + 1
                if writer is not None:
                    writer.close()
                return
            held.append((writer, asyncio.ensure_future(watch(reader))))

    await asyncio.gather(*(one() for _ in range(args.n)))
    failed = args.n - len(held)
    for k, v in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
        print(f"hold_idle: {v} x {k}", file=sys.stderr)
    print(f"ready {len(held)} {failed}", flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stdin_eof = loop.run_in_executor(None, sys.stdin.buffer.read)
    stdin_eof.add_done_callback(lambda _f: stop.set())
    await stop.wait()

    closed = sum(1 for _w, t in held if t.done())
    print(f"open {len(held) - closed} closed {closed}", flush=True)
    for w, _t in held:
        w.close()
    # The executor thread may still block on stdin (stopped by a signal): leave without it.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
