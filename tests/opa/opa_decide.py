#!/usr/bin/env python3
"""Evaluates Rego with the real OPA engine (v1.20.2, the PyPI wheel
opa-golib-python-bindings 0.4.4, loaded with ctypes) for the differential
tests: attestgate and OPA must agree on the shipped policies.

stdin:  {"modules": {"file.rego": "source", ...}, "data": {...},
         "queries": ["data.p.deny", ...], "inputs": [input, ...]}
stdout: {"results": [[value or null for each query] for each input]}
        or {"error": {"code": ..., "message": ...}} (exit status 1).
The shared library comes from $OPA_GOLIB_SO.
"""
import ctypes
import json
import os
import sys


class OpaError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def load(path):
    lib = ctypes.CDLL(path)
    u64, cp, vp, ci = ctypes.c_uint64, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int
    lib.OpaNew.restype, lib.OpaNew.argtypes = u64, []
    lib.OpaFreeString.restype, lib.OpaFreeString.argtypes = None, [vp]
    # Envelopes are malloc'd char*: keep the pointer (c_void_p) to free it.
    lib.OpaAddPolicy.restype, lib.OpaAddPolicy.argtypes = vp, [u64, cp, cp]
    lib.OpaAddData.restype, lib.OpaAddData.argtypes = vp, [u64, cp, cp]
    lib.OpaEvalQuery.restype, lib.OpaEvalQuery.argtypes = vp, [u64, cp, cp, ci, ci]
    return lib


def call(lib, fn, *args):
    ptr = fn(*args)
    if not ptr:
        raise OpaError("internal", "native call returned NULL")
    try:
        env = json.loads(ctypes.string_at(ptr))
    finally:
        lib.OpaFreeString(ptr)
    if env.get("error"):
        raise OpaError(env["error"].get("code", "unknown"), env["error"].get("message", ""))
    return env


def main():
    path = os.environ.get("OPA_GOLIB_SO")
    if not path or not os.path.isfile(path):
        print(json.dumps({"error": {"code": "no_opa", "message": f"OPA_GOLIB_SO={path!r} is not a file"}}))
        return 1
    request = json.load(sys.stdin)
    lib = load(path)
    h = lib.OpaNew()
    try:
        for name, src in request["modules"].items():
            call(lib, lib.OpaAddPolicy, h, name.encode(), src.encode())
        call(lib, lib.OpaAddData, h, b"", json.dumps(request.get("data") or {}).encode())
        results = []
        for doc in request["inputs"]:
            row = []
            input_json = json.dumps(doc).encode()
            for q in request["queries"]:
                env = call(lib, lib.OpaEvalQuery, h, f"x := {q}".encode(), input_json, 0, 0)
                rs = env.get("result") or []
                row.append(rs[0]["bindings"]["x"] if rs else None)
            results.append(row)
    except OpaError as e:
        print(json.dumps({"error": {"code": e.code, "message": e.message}}))
        return 1
    print(json.dumps({"results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
