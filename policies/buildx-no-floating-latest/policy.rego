# buildx-no-floating-latest: refuse images referenced by the floating "latest"
# tag (or by no tag at all, which means "latest") without a digest.
#
# A buildx build policy, self-contained (buildx policies cannot read data
# files): it runs unchanged under `docker buildx build --policy` (every FROM /
# COPY --from image, plus the build's local, git and http sources) and at
# admission in attestgate (one evaluation per container and platform), which
# both query data.docker.decision.
#
# Allowed: build-context sources (input.local, input.git, input.http); images
# with a tag other than "latest"; any image referenced by digest
# (input.image.isCanonical, e.g. alpine@sha256:... or alpine:latest@sha256:...).
# Denied: anything else, notably alpine, alpine:latest, ghcr.io/org/app:latest.
#
# Configuration: none.
package docker

default allow := false

allow if input.local

allow if input.git

allow if input.http

allow if {
	input.image
	not floating
}

# input.image.isCanonical is absent (not false) for a tag-only reference:
# buildx omits empty fields.
floating if {
	input.image.tag == "latest"
	not input.image.isCanonical
}

floating if {
	not input.image.tag
	not input.image.isCanonical
}

deny_msg contains msg if {
	input.image
	floating
	msg := sprintf(
		"buildx-no-floating-latest: %s uses the floating tag \"latest\" without a digest; pin a version tag or a digest (%s@sha256:...).",
		[floating_ref, floating_name],
	)
}

floating_ref := r if {
	r := input.image.ref
	is_string(r)
} else := "image"

floating_name := n if {
	n := input.image.fullRepo
	is_string(n)
} else := "image"

decision := {"allow": allow, "deny_msg": deny_msg}
