"""The baseline: what one would otherwise write. Python's SimpleXMLRPCServer
(threaded, so concurrent clients are served at all) answering
arpwatch.get_mac from Redis with redis-py.

usage: xmlrpc_redis.py LISTEN_PORT REDIS_PORT KEY_PREFIX
"""
import json
import socketserver
import sys
from xmlrpc.server import SimpleXMLRPCServer

import redis


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    request_queue_size = 256


def main():
    port, redis_port, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    r = redis.Redis(host="127.0.0.1", port=redis_port)

    def get_mac(ip):
        v = r.get(prefix + ip)
        return None if v is None else json.loads(v)["mac"]

    s = Server(("127.0.0.1", port), allow_none=True, logRequests=False)
    s.register_function(get_mac, "arpwatch.get_mac")
    s.serve_forever()


if __name__ == "__main__":
    main()
