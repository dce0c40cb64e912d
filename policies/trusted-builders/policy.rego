# trusted-builders: the SLSA provenance of every (container, platform) must
# name a builder from an allow-list.
#
# Configuration (inactive, no deny and no warn, while the list is empty or
# absent):
#   data.attestgate.trusted_builders.builders: list of builder ids, each an
#   exact id or a pattern where "*" matches within one "/"-separated segment
#   and "**" matches across segments, e.g.
#     "https://github.com/example/*/actions/runs/*"
#     "https://github.com/actions/runner/github-hosted"
#
# Builder ids are read from every SLSA provenance statement about this image
# (v0.2 predicate.builder.id, v1 predicate.runDetails.builder.id) and from the
# summary input.image.provenance.builderID. Every id found must be allowed, and
# a provenance statement without a builder id is denied (BuildKit leaves it
# empty unless the build sets one, e.g.
# --attest type=provenance,mode=max,builder-id=<url>).
package attestgate.trusted_builders

slsa_v02 := "https://slsa.dev/provenance/v0.2"

slsa_v1 := "https://slsa.dev/provenance/v1"

# The configured list; a single string counts as a one-element list.
configured_builders := sort([b | some b in configured_builder_set])

configured_builder_set contains b if {
	some b in builders_setting
	is_string(b)
	b != ""
}

builders_setting := s if {
	s := data.attestgate.trusted_builders.builders
	is_array(s)
} else := [s] if {
	s := data.attestgate.trusted_builders.builders
	is_string(s)
} else := []

active if count(configured_builders) > 0

allowed_text := concat(", ", configured_builders)

deny contains msg if {
	active
	no_provenance
	msg := sprintf(
		"trusted-builders: %s (%s) has no SLSA provenance attestation, so its builder cannot be verified; allowed builders: %s.",
		[image_ref, platform, allowed_text],
	)
}

deny contains msg if {
	active
	missing_builder_id
	msg := sprintf(
		"trusted-builders: %s (%s) has SLSA provenance without a builder id; allowed builders: %s. Set one when building, e.g. --attest type=provenance,mode=max,builder-id=<url>.",
		[image_ref, platform, allowed_text],
	)
}

deny contains msg if {
	active
	some id in builder_ids
	not builder_allowed(id)
	msg := sprintf(
		"trusted-builders: %s (%s) was built by untrusted builder \"%s\"; allowed builders: %s.",
		[image_ref, platform, id, allowed_text],
	)
}

builder_allowed(id) if {
	some pattern in configured_builders
	pattern_matches(pattern, id)
}

# SLSA provenance statements bound to this image.
provenance_atts contains att if {
	some att in input.attestations
	predicate_type(att) in {slsa_v02, slsa_v1}
	about_image(att)
}

statement_builder_id(att) := id if {
	predicate_type(att) == slsa_v02
	id := att.statement.predicate.builder.id
	is_string(id)
} else := id if {
	predicate_type(att) == slsa_v1
	id := att.statement.predicate.runDetails.builder.id
	is_string(id)
} else := ""

summary_builder_id := id if {
	id := input.image.provenance.builderID
	is_string(id)
	id != ""
}

builder_ids contains id if {
	some att in provenance_atts
	id := statement_builder_id(att)
	id != ""
}

builder_ids contains id if {
	id := summary_builder_id
}

no_provenance if {
	count(provenance_atts) == 0
	not provenance_summary
}

# Note: "not is_object(input.image.provenance)" would NOT do: when the ref is
# undefined, OPA makes the whole body undefined while regorus evaluates the
# negation to true. Negate a rule instead.
provenance_summary if is_object(input.image.provenance)

missing_builder_id if {
	some att in provenance_atts
	statement_builder_id(att) == ""
}

# Provenance is summarised in input.image but no statement is bound to this
# image (e.g. it was filtered out): the summary must name the builder.
missing_builder_id if {
	count(provenance_atts) == 0
	provenance_summary
	not summary_builder_id
}

# Pattern matching, identical under OPA and regorus (whose glob.match
# implementations differ): a pattern without "*" must match exactly; in a
# pattern, "*" matches any run of characters except "/", "**" matches any run
# of characters including "/", and every other character is literal.
pattern_matches(pattern, value) if pattern == value

pattern_matches(pattern, value) if {
	contains(pattern, "*")
	regex.match(pattern_regex(pattern), value)
}

# Escapes the regular-expression metacharacters, then turns "**" into ".*" and
# "*" into "[^/]*". The result is always a valid RE2 / Rust regex.
pattern_regex(pattern) := concat("", ["^", concat(".*", [replace(part, "*", "[^/]*") | some part in split(escaped, "**")]), "$"]) if {
	escaped := replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
		pattern,
		`\`, `\\`),
		".", `\.`),
		"+", `\+`),
		"?", `\?`),
		"(", `\(`),
		")", `\)`),
		"|", `\|`),
		"[", `\[`),
		"]", `\]`),
		"{", `\{`),
		"}", `\}`),
		"^", `\^`),
		"$", `\$`)
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
