#!/usr/bin/env python3
"""Writes the Python conformance fixtures: XML-RPC documents made by Python's
own xmlrpc.client, each with a JSON statement of the value it carries.

Run from anywhere:  python3 arpwatch-rpc/conformance/gen_fixtures.py
Output: arpwatch-rpc/conformance/fixtures/python/NAME.xml and NAME.json.

The expectation is derived from the Python value handed to xmlrpc.client,
never from the XML it wrote, so the Rust test checks our parser against what
Python meant to send. The typed JSON form is described in README.md.
"""

import datetime
import json
import pathlib
import sys
import xmlrpc.client as xc

# No __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from typed import typed  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "fixtures" / "python"


FIXTURES = []


def call(name, method, params, expect_params=None):
    doc = xc.dumps(tuple(params), method, allow_none=True)
    expect = expect_params if expect_params is not None else [typed(p) for p in params]
    FIXTURES.append((name, doc, {"kind": "call", "method": method, "params": expect}))


def response(name, value, expect=None):
    doc = xc.dumps((value,), methodresponse=True, allow_none=True)
    FIXTURES.append((name, doc, {"kind": "response", "value": expect or typed(value)}))


def fault(name, code, message):
    doc = xc.dumps(xc.Fault(code, message), methodresponse=True)
    FIXTURES.append((name, doc, {"kind": "fault", "code": code, "string": message}))


def refused(name, doc, code):
    """A document Python writes that no conforming parser may accept."""
    FIXTURES.append((name, doc, {"kind": "error", "fault_code": code}))


def multicall_request(name, calls):
    """The body xmlrpc.client.MultiCall sends: one array of
    {methodName, params} structs, params as a tuple (so an array)."""
    shaped = [{"methodName": m, "params": tuple(p)} for m, p in calls]
    call(name, "system.multicall", [shaped])


class _Capture(xc.Transport):
    """A transport that keeps the request body instead of sending it."""

    def __init__(self, answer):
        super().__init__()
        self.body = None
        self.answer = answer

    def request(self, host, handler, request_body, verbose=False):
        self.body = request_body
        return (self.answer,)


def real_multicall(request_name, response_name):
    """A request body made by xmlrpc.client.MultiCall itself, and the answer
    Python's own server (SimpleXMLRPCDispatcher) gives to that body."""
    from xmlrpc.server import SimpleXMLRPCDispatcher

    transport = _Capture(answer=[])
    proxy = xc.ServerProxy("http://arpwatch.invalid/RPC2", transport=transport, allow_none=True)
    multi = xc.MultiCall(proxy)
    multi.arpwatch.get_mac("192.0.2.1")
    multi.arpwatch.get_mac("bogus")
    multi.arpwatch.lease_seen({"ip": "192.0.2.2", "valid_lifetime": 60, "expires": None})
    list(multi())
    body = transport.body.decode("utf-8")
    calls = [
        {"methodName": "arpwatch.get_mac", "params": ["192.0.2.1"]},
        {"methodName": "arpwatch.get_mac", "params": ["bogus"]},
        {"methodName": "arpwatch.lease_seen", "params": [{"ip": "192.0.2.2", "valid_lifetime": 60, "expires": None}]},
    ]
    FIXTURES.append((request_name, body, {"kind": "call", "method": "system.multicall", "params": [typed(calls)]}))

    def get_mac(ip):
        if ip == "bogus":
            raise xc.Fault(-32602, "invalid IP address 'bogus'")
        return "00:11:22:33:44:55"

    def lease_seen(lease):
        return None

    server = SimpleXMLRPCDispatcher(allow_none=True)
    server.register_function(get_mac, "arpwatch.get_mac")
    server.register_function(lease_seen, "arpwatch.lease_seen")
    server.register_multicall_functions()
    answer = server._marshaled_dispatch(transport.body).decode("utf-8")
    results = [["00:11:22:33:44:55"], {"faultCode": -32602, "faultString": "invalid IP address 'bogus'"}, [None]]
    FIXTURES.append((response_name, answer, {"kind": "response", "value": typed(results)}))


def build():
    call(
        "strings_whitespace",
        "test.strings",
        [" leading", "trailing ", "  both  ", "\n\tnewline and tab\n", " ", "inner  double  spaces"],
    )
    call(
        "strings_markup",
        "test.strings",
        ["a<b&c", "x > y", "]]>", "quote \" apos '", "&amp; literally", "<![CDATA[not cdata]]>"],
    )
    call("strings_non_ascii", "test.strings", ["ü", "日本", "emoji 😀", "Ωmega ∑ ≠ ∞", "\u00a0nbsp"])
    call("strings_empty", "test.strings", ["", "", "x"])
    # Python writes \r raw; XML line-end normalization turns \r\n and a lone
    # \r into \n, so every XML parser (expat included) reads \n. The
    # expectation is what a conforming parser must read, not what was sent.
    call(
        "strings_carriage_return_normalized",
        "test.strings",
        ["a\r\nb", "c\rd"],
        expect_params=[typed("a\nb"), typed("c\nd")],
    )
    call("booleans", "test.booleans", [True, False])
    call("ints", "test.ints", [0, 1, -1, 2147483647, -2147483648, 42])
    call(
        "doubles",
        "test.doubles",
        [0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, 1e300, -1e-300, 5e-324, 2.5e-8, 123456789.125, 1.7976931348623157e308],
    )
    call("nil", "test.nil", [None, [None], {"n": None}])
    call(
        "datetimes",
        "test.datetimes",
        [
            xc.DateTime(datetime.datetime(2026, 11, 24, 9, 5, 0)),
            xc.DateTime(datetime.datetime(1970, 1, 1, 0, 0, 0)),
            xc.DateTime(datetime.datetime(2024, 2, 29, 23, 59, 59)),
        ],
    )
    call(
        "base64",
        "test.base64",
        [
            xc.Binary(b""),
            xc.Binary(b"abc"),
            # Over 57 bytes: Python's encodebytes wraps lines at 76 characters.
            xc.Binary(bytes(range(256))),
            xc.Binary(b"\x00\xff" * 100),
        ],
    )
    call("empty_containers", "test.empty", [[], {}, [[]], {"e": {}}, [{}]])
    call(
        "nested",
        "test.nested",
        [
            {
                "ip": "192.0.2.1",
                "list": [1, "two", [3.5, [True, None]], {"deep": {"deeper": ["x"]}}],
                "matrix": [[1, 2], [3, 4], []],
            },
            [{"a": [{"b": []}]}],
        ],
    )
    call(
        "struct_member_names",
        "test.names",
        [{"": "empty name", " spaced ": 1, "a<b&c": 2, "ü日本": 3, "faultCode": "not a fault"}],
    )
    call("no_params", "system.listMethods", [])
    call(
        "lease_seen",
        "arpwatch.lease_seen",
        [
            {
                "ip": "192.0.2.10",
                "mac": "00:11:22:33:44:55",
                "expires": xc.DateTime(datetime.datetime(2026, 11, 24, 10, 5, 0)),
                "valid_lifetime": 3600,
                "hostname": "host-a",
                "subnet_id": 1,
                "event": "lease4_select",
                "node": "kea-1",
            }
        ],
    )
    multicall_request(
        "multicall_request",
        [
            ("arpwatch.get_mac", ["192.0.2.1"]),
            ("arpwatch.lease_seen", [{"ip": "192.0.2.2", "valid_lifetime": 60}]),
            ("system.listMethods", []),
        ],
    )
    real_multicall("multicall_request_from_MultiCall", "multicall_response_from_SimpleXMLRPCDispatcher")
    # What a server answers to system.multicall: each result wrapped in a
    # one-element array, each failure as a fault struct.
    response(
        "multicall_response",
        [["00:11:22:33:44:55"], {"faultCode": -32602, "faultString": "bad ip 'x'"}, [None], [[]]],
    )
    response("response_string", "  spaced result  ")
    response("response_nil", None)
    response("response_struct", {"mac": "00:11:22:33:44:55", "seen": xc.DateTime(datetime.datetime(2026, 1, 2, 3, 4, 5))})
    response("response_empty_array", [])
    fault("fault_invalid_params", -32602, "bad ip 'x': <not an address> & more")
    fault("fault_store", -32000, "lease store unavailable")
    fault("fault_empty_message", 1, "")
    # xmlrpc.client does not check characters: it writes \x01 raw, which XML
    # 1.0 forbids (expat refuses the document too).
    refused("refused_control_char", xc.dumps(("a\x01b",), "test.strings"), -32700)


def main():
    build()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*"):
        old.unlink()
    for name, doc, expect in FIXTURES:
        (OUT / f"{name}.xml").write_bytes(doc.encode("utf-8"))
        expect["generator"] = f"python {sys.version.split()[0]} xmlrpc.client"
        (OUT / f"{name}.json").write_text(json.dumps(expect, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(FIXTURES)} fixtures to {OUT}")


if __name__ == "__main__":
    main()
