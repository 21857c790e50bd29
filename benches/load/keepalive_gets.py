"""Sends N GET /prod/hello requests over 10 keep-alive connections (one at a time on each, not
pipelined) to 127.0.0.1:PORT and checks every answer is a 200: the fixed workload of
benches/instructions.sh.

usage: keepalive_gets.py PORT N
"""
import socket
import sys

port, n, conns = int(sys.argv[1]), int(sys.argv[2]), 10
req = b"GET /prod/hello HTTP/1.1\r\nHost: gw\r\n\r\n"
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]


def read_one(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        assert d, "connection closed"
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    while len(rest) < length[0]:
        rest += s.recv(65536)


for _ in range(n // conns):
    for s in socks:
        s.sendall(req)
    for s in socks:
        read_one(s)
