#!/usr/bin/env python3
"""Configuration reload driver for benches/load.sh (stdlib only).

Every reload rewrites one deployment file the way a deploy tool should: write a hidden
temporary file next to it (the gateway ignores dot files), then rename it over the old one.

  reload.py churn --file DIR/deployments/b-1.yaml --base BASE.yaml --count 100
            [--min-ms 100] [--max-ms 150]
      COUNT reloads, one every MIN..MAX ms (uniform, fixed seed). Each version is BASE plus,
      on every other reload, one extra route (so the route set changes), and a description
      naming the reload (so every version has new contents). Prints `churn done N S` (reloads
      written, seconds taken).

  reload.py latency --file DIR/deployments/b-1.yaml --base BASE.yaml --admin HOST:PORT
            [--routes 1000] [--count 20] [--gap-ms 300]
      Writes a deployment of ROUTES routes (BASE's routes plus generated ones shaped like a
      real API: GET /resN, GET /resN/{id}, POST /resN, DELETE /resN/{id},
      GET /resN/{id}/items/{item}), waits for it to be published, then COUNT times: touch the
      description, rename, and poll the admin `/readyz` (its `generation`) in a tight loop on
      one keep-alive connection until the generation moves. The time from just before the
      rename to the first poll that sees the new generation is the reload latency; the
      resolution is one poll round trip, printed as `poll_us`.
      Also reads `stagecraft_config_reload_seconds` _sum/_count (first file event -> publish,
      when the gateway exports it) around the timed reloads only.
      Prints `latency n=.. failed=.. min_ms=.. p50_ms=.. p95_ms=.. max_ms=.. mean_ms=..
      poll_us=.. hist_mean_ms=.. hist_n=..` (hist_mean_ms=nan when the metric is absent).
"""

import argparse
import http.client
import json
import math
import os
import random
import statistics
import sys
import time


def write_atomically(path, text):
    d, name = os.path.split(path)
    tmp = os.path.join(d, f".{name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    t0 = time.perf_counter()
    os.rename(tmp, path)
    return t0


def extra_routes(n, start=0):
    shapes = [
        ("GET /res{i}", "backend://be:live/res{i}"),
        ("GET /res{i}/{{id}}", "backend://be:live/res{i}/{{id}}"),
        ("POST /res{i}", "backend://be:live/res{i}"),
        ("DELETE /res{i}/{{id}}", "backend://be:live/res{i}/{{id}}"),
        ("GET /res{i}/{{id}}/items/{{item}}", "backend://be:live/res{i}/{{id}}/items/{{item}}"),
    ]
    out = []
    for k in range(start, start + n):
        route, uri = shapes[k % len(shapes)]
        i = k // len(shapes)
        out.append(
            f'  - {{route: "{route.format(i=i)}", '
            f'integration: {{type: http_proxy, uri: "{uri.format(i=i)}"}}}}\n')
    return "".join(out)


def version(base, routes_text, description):
    # BASE ends with its `routes:` list; the extra routes continue it.
    return base.rstrip("\n") + "\n" + routes_text + f'description: "{description}"\n'


class Admin:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.conn = None

    def get(self, path):
        for _ in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return body
            except (OSError, http.client.HTTPException):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
        raise RuntimeError(f"admin {self.host}:{self.port}{path} does not answer")

    def generation(self):
        return json.loads(self.get("/readyz")).get("generation")

    def metric(self, name):
        """Sum of the series called NAME (any labels) on /metrics, or None if absent."""
        total, found = 0.0, False
        for line in self.get("/metrics").decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None


def count_routes(base):
    return sum(1 for line in base.splitlines() if line.lstrip().startswith("- route:")
               or line.lstrip().startswith("- {route:"))


def churn(args):
    base = open(args.base).read()
    rng = random.Random(42)
    started = time.perf_counter()
    for k in range(args.count):
        extra = extra_routes(1, k % 5) if k % 2 == 0 else ""
        write_atomically(args.file, version(base, extra, f"churn reload {k}"))
        time.sleep(rng.uniform(args.min_ms, args.max_ms) / 1000)
    print(f"churn done {args.count} {time.perf_counter() - started:.1f}", flush=True)


def wait_generation_above(admin, gen, timeout):
    deadline = time.perf_counter() + timeout
    polls = 0
    while True:
        g = admin.generation()
        polls += 1
        now = time.perf_counter()
        if g is not None and g > gen:
            return now, g, polls
        if now > deadline:
            return None, g, polls


def latency(args):
    base = open(args.base).read()
    admin = Admin(args.admin)
    n_extra = max(0, args.routes - count_routes(base))
    routes_text = extra_routes(n_extra)
    gen = admin.generation()
    write_atomically(args.file, version(base, routes_text, "large: initial"))
    t, gen2, _ = wait_generation_above(admin, gen, 30)
    if t is None:
        print(f"the {args.routes}-route deployment was not published within 30 s "
              f"(generation still {gen2}); see the gateway log", file=sys.stderr)
        sys.exit(1)
    gen = gen2
    # Poll resolution: the round trip of one /readyz on the kept-alive connection.
    probes = []
    for _ in range(200):
        a = time.perf_counter()
        admin.generation()
        probes.append(time.perf_counter() - a)
    poll_us = statistics.median(probes) * 1e6
    hist = "stagecraft_config_reload_seconds"
    hs0, hc0 = admin.metric(hist + "_sum"), admin.metric(hist + "_count")
    lat, failed = [], 0
    for k in range(args.count):
        time.sleep(args.gap_ms / 1000)
        t0 = write_atomically(args.file, version(base, routes_text, f"large: touch {k}"))
        t1, g, _ = wait_generation_above(admin, gen, 10)
        if t1 is None:
            failed += 1
            continue
        lat.append((t1 - t0) * 1e3)
        gen = g
    time.sleep(0.2)
    hs1, hc1 = admin.metric(hist + "_sum"), admin.metric(hist + "_count")
    if None not in (hs0, hc0, hs1, hc1) and hc1 > hc0:
        hist_txt = f"hist_mean_ms={(hs1 - hs0) / (hc1 - hc0) * 1e3:.1f} hist_n={hc1 - hc0:.0f}"
    else:
        hist_txt = "hist_mean_ms=nan hist_n=0"
    if not lat:
        print(f"latency n=0 failed={failed} {hist_txt}")
        return
    lat.sort()
    p95 = lat[max(0, math.ceil(0.95 * len(lat)) - 1)]  # nearest rank
    print(f"latency n={len(lat)} failed={failed} routes={n_extra + count_routes(base)} "
          f"min_ms={lat[0]:.1f} p50_ms={statistics.median(lat):.1f} p95_ms={p95:.1f} "
          f"max_ms={lat[-1]:.1f} mean_ms={statistics.mean(lat):.1f} poll_us={poll_us:.0f} {hist_txt}",
          flush=True)


def main():
    p = argparse.ArgumentParser(description="configuration reload driver")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("churn")
    c.add_argument("--file", required=True)
    c.add_argument("--base", required=True)
    c.add_argument("--count", type=int, default=100)
    c.add_argument("--min-ms", type=float, default=100)
    c.add_argument("--max-ms", type=float, default=150)
    lt = sub.add_parser("latency")
    lt.add_argument("--file", required=True)
    lt.add_argument("--base", required=True)
    lt.add_argument("--admin", required=True)
    lt.add_argument("--routes", type=int, default=1000)
    lt.add_argument("--count", type=int, default=20)
    lt.add_argument("--gap-ms", type=float, default=300)
    args = p.parse_args()
    churn(args) if args.cmd == "churn" else latency(args)


if __name__ == "__main__":
    main()
