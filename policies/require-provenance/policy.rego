# require-provenance: every (container, platform) must carry an SLSA provenance
# attestation (v0.2 or v1) whose in-toto subject is this image: the platform
# manifest digest (input.image.digest) or the index digest (input.image.index).
#
# input.image.hasProvenance is NOT used: it follows buildx semantics and is
# also true for an image that only has an SBOM attestation.
#
# Configuration: none.
package attestgate.require_provenance

slsa_provenance_types := {
	"https://slsa.dev/provenance/v0.2",
	"https://slsa.dev/provenance/v1",
}

deny contains msg if {
	not provenance_found
	msg := concat("", [
		sprintf(
			"require-provenance: %s (%s) has no SLSA provenance attestation; found: %s.",
			[image_ref, platform, found_types_text],
		),
		foreign_text,
		" Build with --provenance=mode=max (or --attest type=provenance,mode=max).",
	])
}

provenance_found if {
	some att in input.attestations
	predicate_type(att) in slsa_provenance_types
	about_image(att)
}

# Predicate types of the statements bound to this image, sorted, or "none".
found_types contains t if {
	some att in input.attestations
	about_image(att)
	t := predicate_type(att)
}

found_types_text := concat(", ", sort([t | some t in found_types])) if {
	count(found_types) > 0
} else := "none"

# Provenance statements that are about some other digest never count, but say
# so: it usually means the image was re-tagged or rebuilt after attesting.
foreign_provenance_count := count([att |
	some att in input.attestations
	predicate_type(att) in slsa_provenance_types
	not about_image(att)
])

foreign_text := sprintf(
	" Ignored %s provenance statement(s) whose subject is another digest.",
	[format_int(foreign_provenance_count, 10)],
) if {
	foreign_provenance_count > 0
} else := ""

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
