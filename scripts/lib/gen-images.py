#!/usr/bin/env python3
"""Pushes N distinct single-platform images to a registry over plain HTTP,
each with an in-index attestation manifest holding an SLSA provenance and an
SPDX SBOM statement padded to PAD bytes (so the caches fill up).

usage: gen-images.py REGISTRY N PAD_BYTES   (repositories mem/app-<i>, tag v1)
"""
import hashlib
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def put_blob(base, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"{base}/blobs/uploads/", method="POST")
    location = urllib.request.urlopen(req).headers["Location"]
    if not location.startswith("http"):
        location = base.split("/v2/")[0] + location
    sep = "&" if "?" in location else "?"
    urllib.request.urlopen(urllib.request.Request(
        f"{location}{sep}digest={digest}", data=data, method="PUT",
        headers={"Content-Type": "application/octet-stream"}))
    return {"digest": digest, "size": len(data)}


def put_manifest(base, ref, doc, media_type):
    data = json.dumps(doc).encode()
    urllib.request.urlopen(urllib.request.Request(
        f"{base}/manifests/{ref}", data=data, method="PUT", headers={"Content-Type": media_type}))
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def push(registry, i, pad):
    base = f"http://{registry}/v2/mem/app-{i}"
    layer = put_blob(base, f"layer {i}".encode())
    config = put_blob(base, json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": [f"N={i}"]},
                                         "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}}).encode())
    manifest = put_manifest(base, "x", {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}]},
        "application/vnd.oci.image.manifest.v1+json")
    subject = [{"name": f"app-{i}", "digest": {"sha256": manifest["digest"][7:]}}]
    provenance = {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v0.2",
                  "subject": subject, "predicate": {"builder": {"id": "https://github.com/example/builder"},
                  "buildType": "https://mobyproject.org/buildkit@v1", "materials": []}}
    sbom = {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document",
            "subject": subject, "predicate": {"spdxVersion": "SPDX-2.3", "name": f"app-{i}",
            "packages": [{"name": f"pkg-{i}-{k}", "SPDXID": f"SPDXRef-{k}", "versionInfo": "1.0." + "0" * 40}
                         for k in range(max(1, pad // 100))]}}
    layers = []
    for statement in (provenance, sbom):
        blob = put_blob(base, json.dumps(statement).encode())
        layers.append({"mediaType": "application/vnd.in-toto+json", **blob,
                       "annotations": {"in-toto.io/predicate-type": statement["predicateType"]}})
    att_config = put_blob(base, b'{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}')
    att = put_manifest(base, "att", {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **att_config}, "layers": layers},
        "application/vnd.oci.image.manifest.v1+json")
    put_manifest(base, "v1", {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {**manifest, "platform": {"architecture": "amd64", "os": "linux"}},
        {**att, "platform": {"architecture": "unknown", "os": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": manifest["digest"]}}]},
        "application/vnd.oci.image.index.v1+json")


def main():
    registry, n, pad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: push(registry, i, pad), range(n)))


if __name__ == "__main__":
    main()
