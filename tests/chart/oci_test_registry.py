"""A read-only OCI registry for the chart tests, on 127.0.0.1 over plain HTTP.

Each tag is a BuildKit-style index: a linux/amd64 image and its attestation
manifest (listed in the index) holding one SLSA v0.2 provenance statement that
names a builder id and a source repository. There is no referrers API and no
cosign tag (404), as with a registry that has neither.
"""

import hashlib
import http.server
import json
import threading

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"


class TestRegistry:
    def __init__(self):
        self.blobs = {}
        self.tags = {}
        self.server = None

    def _put(self, content, media_type):
        data = content if isinstance(content, bytes) else json.dumps(content, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = (data, media_type)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add_image(self, tag, builder_id, source_uri):
        config = self._put({"architecture": "amd64", "os": "linux", "config": {},
                            "rootfs": {"type": "layers", "diff_ids": []}}, OCI_CONFIG)
        image = self._put({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": []}, OCI_MANIFEST)
        statement = self._put({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": SLSA_V02,
            "subject": [{"name": f"chart-test:{tag}", "digest": {"sha256": image["digest"].split(":", 1)[1]}}],
            "predicate": {"builder": {"id": builder_id}, "buildType": "https://mobyproject.org/buildkit@v1",
                          "invocation": {"configSource": {"uri": source_uri, "entryPoint": "Dockerfile"}}},
        }, "application/vnd.in-toto+json")
        statement["annotations"] = {"in-toto.io/predicate-type": SLSA_V02}
        empty = self._put(b"{}", OCI_CONFIG)
        attestation = self._put({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": empty,
                                 "layers": [statement]}, OCI_MANIFEST)
        attestation["platform"] = {"os": "unknown", "architecture": "unknown"}
        attestation["annotations"] = {"vnd.docker.reference.type": "attestation-manifest",
                                      "vnd.docker.reference.digest": image["digest"]}
        image["platform"] = {"os": "linux", "architecture": "amd64"}
        index = self._put({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [image, attestation]}, OCI_INDEX)
        self.tags[tag] = index["digest"]

    def start(self):
        """Serves in a daemon thread; returns the registry's host:port."""
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self._answer(with_body=True)

            def do_HEAD(self):
                self._answer(with_body=False)

            def _answer(self, with_body):
                parts = self.path.split("?", 1)[0].split("/")
                found = None
                if self.path == "/v2/":
                    found = (b"{}", "application/json")
                elif len(parts) >= 5 and parts[-2] in ("manifests", "blobs"):
                    found = registry.blobs.get(registry.tags.get(parts[-1], parts[-1]))
                code = 200 if found else 404
                body, media_type = found or (b'{"errors":[{"code":"NOT_FOUND","message":"not found"}]}', "application/json")
                self.send_response(code)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
