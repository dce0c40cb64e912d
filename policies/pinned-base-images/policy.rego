# pinned-base-images: every container image the build used (base images,
# COPY --from images, the Dockerfile frontend image), as recorded in the build
# materials of the SLSA provenance, must carry a sha256 digest.
#
# Materials: SLSA v0.2 predicate.materials[], SLSA v1
# predicate.buildDefinition.resolvedDependencies[]; each {uri, digest{sha256}}.
#
# Scope (a deliberate choice): only materials whose uri is an image package
# URL, "pkg:docker/..." or "pkg:oci/...", are checked. Git and HTTP materials
# are identified by other digests (a git commit is a sha1) and local contexts
# carry none, so requiring sha256 of them would deny ordinary builds.
#
# Only statements about this image count, and only when provenance exists: an
# image without provenance is left to require-provenance. Provenance that lists
# no image material at all gives a warning (nothing could be checked).
#
# Configuration: none.
package attestgate.pinned_base_images

slsa_v02 := "https://slsa.dev/provenance/v0.2"

slsa_v1 := "https://slsa.dev/provenance/v1"

image_material_prefixes := ["pkg:docker/", "pkg:oci/"]

deny contains msg if {
	count(unpinned) > 0
	msg := sprintf(
		"pinned-base-images: %s (%s) was built from image materials without a sha256 digest: %s. Pin them by digest (FROM name:tag@sha256:...) and rebuild with a builder that records material digests.",
		[image_ref, platform, concat(", ", sort([uri | some uri in unpinned]))],
	)
}

warn contains msg if {
	count(provenance_atts) > 0
	count(image_materials) == 0
	msg := sprintf(
		"pinned-base-images: %s (%s) has SLSA provenance that lists no image materials; base images could not be checked (use --provenance=mode=max).",
		[image_ref, platform],
	)
}

# SLSA provenance statements bound to this image.
provenance_atts contains att if {
	some att in input.attestations
	predicate_type(att) in {slsa_v02, slsa_v1}
	about_image(att)
}

materials contains m if {
	some att in provenance_atts
	predicate_type(att) == slsa_v02
	list := att.statement.predicate.materials
	is_array(list)
	some m in list
	is_object(m)
}

materials contains m if {
	some att in provenance_atts
	predicate_type(att) == slsa_v1
	list := att.statement.predicate.buildDefinition.resolvedDependencies
	is_array(list)
	some m in list
	is_object(m)
}

image_materials contains m if {
	some m in materials
	is_string(m.uri)
	some prefix in image_material_prefixes
	startswith(m.uri, prefix)
}

unpinned contains uri if {
	some m in image_materials
	not has_sha256(m)
	uri := m.uri
}

has_sha256(m) if {
	is_object(m.digest)
	d := m.digest.sha256
	is_string(d)
	regex.match(`^[a-f0-9]{64}$`, d)
}

# ---------------------------------------------------------------------------
# Helpers (each policy directory is self-contained: no shared library).

image_ref := r if {
	r := input.image.ref
	is_string(r)
} else := r if {
	r := input.container.image
	is_string(r)
} else := "<unknown image>"

platform := p if {
	p := input.image.platform
	is_string(p)
} else := "unknown platform"

predicate_type(att) := t if {
	t := att.predicateType
	is_string(t)
} else := t if {
	t := att.statement.predicateType
	is_string(t)
}

# The digests a statement may be bound to: the platform manifest and, for a
# multi-platform image, the root index.
image_digests contains d if {
	d := input.image.digest
	is_string(d)
	d != ""
}

image_digests contains d if {
	d := input.image.index
	is_string(d)
	d != ""
}

# True when one of the statement's subjects names one of image_digests.
about_image(att) if {
	subjects := att.statement.subject
	is_array(subjects)
	some subject in subjects
	is_object(subject.digest)
	some alg, hex in subject.digest
	is_string(alg)
	is_string(hex)
	concat(":", [alg, hex]) in image_digests
}
