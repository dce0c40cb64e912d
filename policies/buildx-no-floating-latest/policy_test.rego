package docker

alpine_latest := {
	"ref": "docker.io/library/alpine:latest",
	"host": "docker.io",
	"repo": "alpine",
	"fullRepo": "docker.io/library/alpine",
	"tag": "latest",
	"checksum": "sha256:1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6",
	"platform": "linux/amd64",
	"os": "linux",
	"arch": "amd64",
}

alpine_latest_msg := "buildx-no-floating-latest: docker.io/library/alpine:latest uses the floating tag \"latest\" without a digest; pin a version tag or a digest (docker.io/library/alpine@sha256:...)."

test_latest_tag_denied if {
	decision == {"allow": false, "deny_msg": {alpine_latest_msg}} with input as {"env": {"filename": "Dockerfile"}, "image": alpine_latest}
}

test_explicit_false_is_canonical_denied if {
	img := object.union(alpine_latest, {"isCanonical": false})
	decision == {"allow": false, "deny_msg": {alpine_latest_msg}} with input as {"image": img}
}

test_missing_tag_without_digest_denied if {
	img := object.remove(object.union(alpine_latest, {"ref": "ghcr.io/example/app", "fullRepo": "ghcr.io/example/app", "repo": "ghcr.io/example/app", "host": "ghcr.io"}), ["tag"])
	decision == {"allow": false, "deny_msg": {"buildx-no-floating-latest: ghcr.io/example/app uses the floating tag \"latest\" without a digest; pin a version tag or a digest (ghcr.io/example/app@sha256:...)."}} with input as {"image": img}
}

test_latest_pinned_by_digest_allowed if {
	img := object.union(alpine_latest, {
		"ref": "docker.io/library/alpine:latest@sha256:1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6",
		"isCanonical": true,
	})
	decision == {"allow": true, "deny_msg": set()} with input as {"image": img}
}

test_digest_only_allowed if {
	img := object.remove(object.union(alpine_latest, {
		"ref": "docker.io/library/alpine@sha256:1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6",
		"isCanonical": true,
	}), ["tag"])
	decision == {"allow": true, "deny_msg": set()} with input as {"image": img}
}

test_version_tag_allowed if {
	img := object.union(alpine_latest, {"ref": "docker.io/library/alpine:3.19", "tag": "3.19"})
	decision == {"allow": true, "deny_msg": set()} with input as {"image": img}
}

test_tag_containing_latest_is_not_floating if {
	img := object.union(alpine_latest, {"ref": "docker.io/library/alpine:latest-3.19", "tag": "latest-3.19"})
	decision.allow with input as {"image": img}
}

test_build_contexts_allowed if {
	decision == {"allow": true, "deny_msg": set()} with input as {"env": {"filename": "Dockerfile"}, "local": {"name": "context"}}
	decision == {"allow": true, "deny_msg": set()} with input as {"git": {"schema": "https", "host": "github.com", "remote": "https://github.com/example/app.git", "tagName": "v1.0.0"}}
	decision == {"allow": true, "deny_msg": set()} with input as {"http": {"url": "https://example.com/app.tar.gz", "schema": "https", "host": "example.com"}}
}

test_unknown_source_denied_without_message if {
	decision == {"allow": false, "deny_msg": set()} with input as {"env": {"capsRequest": true}}
}

# At admission attestgate adds request/container/attestations; the decision is
# the same.
test_admission_input if {
	inp := {
		"request": {"operation": "CREATE", "namespace": "prod", "kind": {"group": "", "version": "v1", "kind": "Pod"}},
		"container": {"name": "app", "type": "container", "image": "alpine"},
		"image": alpine_latest,
		"attestations": [],
	}
	decision == {"allow": false, "deny_msg": {alpine_latest_msg}} with input as inp
	img := object.union(alpine_latest, {"ref": "docker.io/library/alpine:3.19", "tag": "3.19"})
	decision.allow with input as object.union(inp, {"image": img})
}
