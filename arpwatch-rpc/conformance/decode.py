#!/usr/bin/env python3
"""Reads XML-RPC documents with Python's xmlrpc.client and prints what it
understood, in the typed JSON form (README.md).

stdin: a JSON array of documents (strings). stdout: one JSON object per
document, in order: {"kind": "call", "method", "params"}, {"kind":
"response", "value"}, {"kind": "fault", "code", "string"} or {"kind":
"error", "message"}. Used by tests/conformance.rs."""

import json
import pathlib
import sys
import xmlrpc.client as xc

# No __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from typed import typed  # noqa: E402


def decode(doc):
    try:
        params, method = xc.loads(doc.encode("utf-8"), use_builtin_types=True)
    except xc.Fault as f:
        return {"kind": "fault", "code": f.faultCode, "string": f.faultString}
    except Exception as e:  # noqa: BLE001 - the test shows any refusal
        return {"kind": "error", "message": f"{type(e).__name__}: {e}"}
    if method is None:
        if len(params) != 1:
            return {"kind": "error", "message": f"response with {len(params)} params"}
        return {"kind": "response", "value": typed(params[0])}
    return {"kind": "call", "method": method, "params": [typed(p) for p in params]}


for doc in json.load(sys.stdin):
    print(json.dumps(decode(doc), ensure_ascii=False))
