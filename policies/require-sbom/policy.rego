# require-sbom: every (container, platform) must carry an SBOM attestation,
# SPDX (https://spdx.dev/Document) or CycloneDX (https://cyclonedx.org/bom,
# also with a version suffix such as https://cyclonedx.org/bom/v1.5), whose
# in-toto subject is this image: the platform manifest digest
# (input.image.digest) or the index digest (input.image.index).
#
# Configuration: none.
package attestgate.require_sbom

sbom_type_bases := ["https://spdx.dev/Document", "https://cyclonedx.org/bom"]

deny contains msg if {
	not sbom_found
	msg := sprintf(
		"require-sbom: %s (%s) has no SBOM attestation (SPDX or CycloneDX); found: %s. Build with --sbom=true (or --attest type=sbom).",
		[image_ref, platform, found_types_text],
	)
}

sbom_found if {
	some att in input.attestations
	is_sbom_type(predicate_type(att))
	about_image(att)
}

# "https://spdx.dev/Document", "https://cyclonedx.org/bom",
# "https://cyclonedx.org/bom/v1.4", ...
is_sbom_type(t) if {
	some base in sbom_type_bases
	t == base
}

is_sbom_type(t) if {
	some base in sbom_type_bases
	startswith(t, concat("", [base, "/"]))
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
