"""The typed JSON form of XML-RPC values (see README.md), for Python values
as xmlrpc.client writes and reads them."""

import base64
import datetime
import math
import xmlrpc.client as xc


def typed(v):
    """The typed JSON form of a Python value."""
    # bool before int: bool is a subclass of int in Python.
    if v is None:
        return {"type": "nil"}
    if isinstance(v, bool):
        return {"type": "boolean", "value": v}
    if isinstance(v, int):
        # Python has one int type: it writes only <int> (refusing anything
        # beyond 32 bits) and reads <int>, <i4> and <i8> alike.
        return {"type": "int", "value": v}
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{v!r} has no XML-RPC form")
        return {"type": "double", "value": repr(v)}
    if isinstance(v, str):
        return {"type": "string", "value": v}
    if isinstance(v, (bytes, bytearray, xc.Binary)):
        data = v.data if isinstance(v, xc.Binary) else bytes(v)
        return {"type": "base64", "value": base64.b64encode(data).decode()}
    if isinstance(v, xc.DateTime):
        return {"type": "dateTime.iso8601", "value": v.value}
    if isinstance(v, datetime.datetime):
        # Not strftime: glibc's %Y does not pad years before 1000.
        return {
            "type": "dateTime.iso8601",
            "value": f"{v.year:04}{v.month:02}{v.day:02}T{v.hour:02}:{v.minute:02}:{v.second:02}",
        }
    if isinstance(v, dict):
        return {"type": "struct", "value": {k: typed(m) for k, m in v.items()}}
    if isinstance(v, (list, tuple)):
        return {"type": "array", "value": [typed(i) for i in v]}
    raise TypeError(f"no typed form for {v!r}")
