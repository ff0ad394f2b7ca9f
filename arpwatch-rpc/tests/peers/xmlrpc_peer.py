#!/usr/bin/env python3
"""Python's own xmlrpc as the peer of arpwatch-rpc's tests.

Modes (first argument):
  serve         SimpleXMLRPCServer (allow_none, multicall, introspection,
                HTTP/1.1 keep-alive) on 127.0.0.1, port 0. Options:
                --cert F --key F  serve https with this certificate and key
                --client-ca F     require a client certificate from this CA
                --auth USER:PASS  answer 401 unless the request carries these
                                  HTTP basic credentials
  silent        accepts TCP connections and never answers.
  full-backlog  a listener whose accept queue is full, so new SYNs are dropped.
  redump        reads a methodCall or methodResponse on stdin, writes it back
                as Python marshals it (proves Python reads what we write, and
                gives us what Python writes).
  lease-call    writes arpwatch.lease_seen(lease) as an ARPwatch developer
                would build it in Python.

Listening modes print "PORT <n>" as their first line, then serve until stdin
closes (so a test that dies never leaves one behind).
"""

import argparse
import base64
import datetime
import os
import socket
import ssl
import sys
import threading
import xmlrpc.client
from socketserver import ThreadingMixIn
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer


def announce(port):
    print(f"PORT {port}", flush=True)

    def die_with_parent():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=die_with_parent, daemon=True).start()


CURRENT = threading.local()
COUNT = [0]
COUNT_LOCK = threading.Lock()


class Handler(SimpleXMLRPCRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        # The TLS handshake, in this connection's thread: a client that
        # fails it must not hold up the others.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def do_POST(self):
        CURRENT.port = self.client_address[1]
        with COUNT_LOCK:
            COUNT[0] += 1
        expected = self.server.authorization
        if expected and self.headers.get("Authorization") != expected:
            body = b"credentials required"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="arpwatch"')
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/junk":
            body = b"this is not XML-RPC"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_POST()

    def log_message(self, *args):
        pass


class Server(ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    tls = None
    authorization = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls:
            sock = self.tls.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        # Failed handshakes are what the TLS tests provoke, and the client's
        # side of them is what they check: nothing to print.
        pass


def serve():
    p = argparse.ArgumentParser(prog="xmlrpc_peer.py serve")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--client-ca")
    p.add_argument("--auth")
    args = p.parse_args(sys.argv[2:])
    server = Server(("127.0.0.1", 0), requestHandler=Handler, allow_none=True,
                    logRequests=False)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.client_ca)
        server.tls = ctx
    if args.auth:
        server.authorization = "Basic " + base64.b64encode(args.auth.encode()).decode()
    server.register_introspection_functions()
    server.register_multicall_functions()
    leases = []

    def echo(x):
        return x

    def nothing():
        return None

    def fail(code, message):
        raise xmlrpc.client.Fault(code, message)

    def client_port():
        return CURRENT.port

    def big(n):
        return "x" * n

    def requests():
        with COUNT_LOCK:
            return COUNT[0]

    def lease_seen(lease):
        leases.append(lease)
        return True

    def last_lease():
        return leases[-1] if leases else None

    for f in (echo, nothing, fail, client_port, big, requests, lease_seen,
              last_lease):
        server.register_function(f)
    server.register_function(lease_seen, "arpwatch.lease_seen")
    announce(server.server_address[1])
    server.serve_forever()


def silent():
    listener = socket.create_server(("127.0.0.1", 0))
    announce(listener.getsockname()[1])
    held = []
    while True:
        conn, _ = listener.accept()
        held.append(conn)  # read nothing, answer nothing, close nothing


def full_backlog():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    announce(port)
    threading.Event().wait()


def redump():
    try:
        params, method = xmlrpc.client.loads(sys.stdin.buffer.read(), use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        sys.stdout.write(xmlrpc.client.dumps(fault, methodresponse=True))
        return
    if method is None:
        sys.stdout.write(xmlrpc.client.dumps(params, methodresponse=True, allow_none=True))
    else:
        sys.stdout.write(xmlrpc.client.dumps(params, method, allow_none=True))


def lease_call():
    lease = {
        "ip": "2001:db8::7",
        "mac": "00:1b:2c:aa:bb:0f",
        "cltt": datetime.datetime(2026, 11, 24, 9, 0, 0),
        "expires": datetime.datetime(2026, 11, 24, 10, 0, 0),
        "valid_lifetime": 3600,
        "hostname": "K\u00fcche\\x00",
        "subnet_id": 42,
        "event": "renew",
        "node": "dhcp-b",
    }
    sys.stdout.write(xmlrpc.client.dumps((lease,), "arpwatch.lease_seen"))


MODES = {"serve": serve, "silent": silent, "full-backlog": full_backlog,
         "redump": redump, "lease-call": lease_call}

if __name__ == "__main__":
    MODES[sys.argv[1]]()
