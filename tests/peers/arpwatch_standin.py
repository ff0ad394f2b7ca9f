#!/usr/bin/env python3
"""An ARPwatch stand-in for system tests: an independent XML-RPC server, in
Python's standard library, that serves arpwatch.lease_seen / lease_gone and
system.multicall the way ARPwatch does, and records every notice it gets.

Each notice is appended to --record as one line of tab-separated fields
(method, ip, mac, event, node, hostname, valid_lifetime, subnet_id, cltt,
expires), with backslash, tab and newline escaped as \\\\, \\t and \\n; each
system.multicall request adds a line "system.multicall<TAB><number of calls>",
and each call of a method it does not serve "refused<TAB><method>".

--without-multicall serves no system.multicall, the way a SimpleXMLRPCServer
without register_multicall_functions() does (a multicall gets fault 1);
--introspection adds system.listMethods and the other system.* methods.

Prints "listening <port>" on stdout once it accepts connections, so a fixture
can start it on port 0 and learn the port without sleeping.

With --tls-cert and --tls-key it serves https (a client certificate from
--client-ca required, if given); with --auth-file, whose one line is
user:password, it answers 401 to a request without those HTTP basic
credentials. A notice is recorded only once TLS and the credentials passed.
"""

import argparse
import base64
import socketserver
import ssl
import sys
import threading
import time
from xmlrpc.client import Fault
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

FIELDS = ("ip", "mac", "event", "node", "hostname", "valid_lifetime", "subnet_id", "cltt", "expires")


class Handler(SimpleXMLRPCRequestHandler):
    # HTTP/1.1 so the client's keep-alive connection is kept; any path.
    protocol_version = "HTTP/1.1"
    rpc_paths = ()

    def setup(self):
        # The handshake in this connection's thread, so a client failing it
        # holds up no other.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def do_POST(self):
        expected = self.server.authorization
        if expected and self.headers.get("Authorization") != expected:
            body = b"credentials required"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="arpwatch"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_POST()

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    # One thread per connection: each aae worker keeps its own connection open.
    daemon_threads = True
    allow_reuse_address = True
    # aae opens several connections at once; the default backlog of 5 drops
    # SYNs, which looks like a 1 s connect timeout.
    request_queue_size = 128

    def __init__(self, args):
        super().__init__(("127.0.0.1", args.port), requestHandler=Handler,
                         allow_none=True, logRequests=False)
        self.args = args
        self.lock = threading.Lock()
        self.record = open(args.record, "a", encoding="utf-8")
        if not args.without_multicall:
            self.register_multicall_functions()
        if args.introspection:
            self.register_introspection_functions()
        self.register_function(self.lease_seen, "arpwatch.lease_seen")
        self.register_function(self.lease_gone, "arpwatch.lease_gone")
        self.tls = None
        if args.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(args.tls_cert, args.tls_key)
            if args.client_ca:
                self.tls.verify_mode = ssl.CERT_REQUIRED
                self.tls.load_verify_locations(args.client_ca)
        self.authorization = None
        if args.auth_file:
            with open(args.auth_file, encoding="utf-8") as f:
                pair = f.read().strip()
            self.authorization = "Basic " + base64.b64encode(pair.encode()).decode()

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        # Failed handshakes are what the TLS tests provoke: one line each.
        print(f"stand-in: {sys.exc_info()[1]!r}", file=sys.stderr, flush=True)

    def write(self, fields):
        line = "\t".join(escape(str(f)) for f in fields) + "\n"
        with self.lock:
            self.record.write(line)
            self.record.flush()

    def notice(self, method, lease):
        if self.args.delay_ms:
            time.sleep(self.args.delay_ms / 1000)
        if not isinstance(lease, dict):
            raise Fault(-32602, f"parameter 1 (lease) of {method}: expected a struct")
        self.write([method] + [value_text(lease.get(f)) for f in FIELDS])
        if self.args.fault:
            raise Fault(-32500, f"{method}: the stand-in was told to refuse every notice")
        return True

    def lease_seen(self, lease):
        return self.notice("arpwatch.lease_seen", lease)

    def lease_gone(self, lease):
        return self.notice("arpwatch.lease_gone", lease)

    def _dispatch(self, method, params):
        if method not in self.funcs:
            self.write(["refused", method])
        return super()._dispatch(method, params)

    def system_multicall(self, calls):
        self.write(["system.multicall", len(calls)])
        return super().system_multicall(calls)


def value_text(v):
    # xmlrpc.client.DateTime keeps the wire text in .value (20261124T09:12:15).
    return getattr(v, "value", v)


def escape(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--record", required=True)
    p.add_argument("--delay-ms", type=int, default=0, help="answer every notice this late")
    p.add_argument("--fault", action="store_true", help="answer every notice with a fault")
    p.add_argument("--without-multicall", action="store_true", help="serve no system.multicall")
    p.add_argument("--introspection", action="store_true", help="serve system.listMethods etc.")
    p.add_argument("--tls-cert", help="serve https with this PEM certificate (chain)")
    p.add_argument("--tls-key", help="the PEM key of --tls-cert")
    p.add_argument("--client-ca", help="require a client certificate issued by this PEM CA")
    p.add_argument("--auth-file", help="require the HTTP basic credentials user:password in it")
    args = p.parse_args()
    server = Server(args)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
