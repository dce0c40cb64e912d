#!/usr/bin/env python3
"""Pushes an OCI image layout byte-exact to a registry over plain HTTP:
every blob, then every manifest children-first, then the tags of index.json.

usage: push-layout.py REGISTRY REPOSITORY LAYOUT_DIR
"""
import json
import os
import sys
import urllib.request

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    return urllib.request.urlopen(req)


def media_type(doc):
    return doc.get("mediaType") or (INDEX if "manifests" in doc else MANIFEST)


def main():
    registry, repo, layout = sys.argv[1:4]
    base = f"http://{registry}/v2/{repo}"
    blobs = os.path.join(layout, "blobs", "sha256")
    manifests = {}
    for name in sorted(os.listdir(blobs)):
        data = open(os.path.join(blobs, name), "rb").read()
        try:
            doc = json.loads(data)
            if isinstance(doc, dict) and ("manifests" in doc or "layers" in doc):
                manifests["sha256:" + name] = (doc, data)
                continue
        except ValueError:
            pass
        location = request("POST", f"{base}/blobs/uploads/").headers["Location"]
        if not location.startswith("http"):
            location = f"http://{registry}{location}"
        sep = "&" if "?" in location else "?"
        request("PUT", f"{location}{sep}digest=sha256:{name}", data, {"Content-Type": "application/octet-stream"})
    done = set()
    while len(done) < len(manifests):
        progressed = False
        for digest, (doc, data) in manifests.items():
            children = [m["digest"] for m in doc.get("manifests", []) if m["digest"] in manifests]
            if digest not in done and all(c in done for c in children):
                request("PUT", f"{base}/manifests/{digest}", data, {"Content-Type": media_type(doc)})
                done.add(digest)
                progressed = True
        if not progressed:
            sys.exit("manifest dependency cycle")
    for entry in json.load(open(os.path.join(layout, "index.json")))["manifests"]:
        name = entry.get("annotations", {}).get("org.opencontainers.image.ref.name")
        if name:
            tag = name.rsplit(":", 1)[-1]
            doc, data = manifests[entry["digest"]]
            request("PUT", f"{base}/manifests/{tag}", data, {"Content-Type": media_type(doc)})


if __name__ == "__main__":
    main()
