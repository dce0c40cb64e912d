# source-repositories: the SLSA provenance of every (container, platform) must
# show that the image was built from an allowed source repository.
#
# Configuration (inactive, no deny and no warn, while the list is empty or
# absent):
#   data.attestgate.source_repositories.repositories: list of repository URLs
#   or patterns, e.g. "https://github.com/example/*" ("*" matches within one
#   "/"-separated segment, "**" across segments; patterns are normalised like
#   the sources, so "git@github.com:example/app.git" works too).
#
# Sources, from every SLSA provenance statement about this image:
#   v0.2  predicate.invocation.configSource.uri
#   v0.2  predicate.metadata["https://mobyproject.org/buildkit@v1#metadata"].vcs.source
#   v1    predicate.buildDefinition.externalParameters.configSource.uri
#   v1    predicate.runDetails.metadata.buildkit_metadata.vcs.source
#   v1    predicate.buildDefinition.externalParameters.workflow.repository
#         (GitHub Actions artifact attestations)
# and the summary input.image.provenance.configSource.uri.
#
# Normalisation: "git+" prefix, "#ref:subdir" fragment, "?query", user info,
# trailing "/" and ".git" are stripped; scp-like "git@host:org/repo" and the
# ssh://, git:// and http:// schemes become https://; the result is lower-case
# (hosting services treat repository paths case-insensitively). So
# "git@github.com:Example/App.git#main" becomes "https://github.com/example/app".
#
# The image passes when at least one source is allowed; it is denied when no
# source can be determined or none is allowed.
package attestgate.source_repositories

slsa_v02 := "https://slsa.dev/provenance/v0.2"

slsa_v1 := "https://slsa.dev/provenance/v1"

buildkit_metadata_key := "https://mobyproject.org/buildkit@v1#metadata"

configured_patterns := sort([p | some p in configured_pattern_set])

configured_pattern_set contains p if {
	some r in repositories_setting
	is_string(r)
	trim(r, " ") != ""
	p := normalize_source(r)
}

repositories_setting := s if {
	s := data.attestgate.source_repositories.repositories
	is_array(s)
} else := [s] if {
	s := data.attestgate.source_repositories.repositories
	is_string(s)
} else := []

active if count(configured_patterns) > 0

allowed_text := concat(", ", configured_patterns)

deny contains msg if {
	active
	count(sources) == 0
	msg := sprintf(
		"source-repositories: %s (%s) has no SLSA provenance naming its source repository; allowed repositories: %s. Build from a git context or with BuildKit's git metadata (--provenance=mode=max).",
		[image_ref, platform, allowed_text],
	)
}

deny contains msg if {
	active
	count(sources) > 0
	not some_source_allowed
	msg := sprintf(
		"source-repositories: %s (%s) was built from %s, which is not an allowed repository; allowed repositories: %s.",
		[image_ref, platform, concat(", ", sort([s | some s in sources])), allowed_text],
	)
}

some_source_allowed if {
	some s in sources
	some pattern in configured_patterns
	pattern_matches(pattern, s)
}

# Normalised source repositories named by the provenance of this image.
sources contains s if {
	some raw in raw_sources
	is_string(raw)
	trim(raw, " ") != ""
	s := normalize_source(raw)
}

raw_sources contains uri if {
	some att in provenance_atts
	predicate_type(att) == slsa_v02
	uri := att.statement.predicate.invocation.configSource.uri
}

raw_sources contains src if {
	some att in provenance_atts
	predicate_type(att) == slsa_v02
	src := att.statement.predicate.metadata[buildkit_metadata_key].vcs.source
}

raw_sources contains uri if {
	some att in provenance_atts
	predicate_type(att) == slsa_v1
	uri := att.statement.predicate.buildDefinition.externalParameters.configSource.uri
}

raw_sources contains src if {
	some att in provenance_atts
	predicate_type(att) == slsa_v1
	src := att.statement.predicate.runDetails.metadata.buildkit_metadata.vcs.source
}

raw_sources contains repo if {
	some att in provenance_atts
	predicate_type(att) == slsa_v1
	repo := att.statement.predicate.buildDefinition.externalParameters.workflow.repository
}

raw_sources contains uri if {
	uri := input.image.provenance.configSource.uri
}

# SLSA provenance statements bound to this image.
provenance_atts contains att if {
	some att in input.attestations
	predicate_type(att) in {slsa_v02, slsa_v1}
	about_image(att)
}

# ---------------------------------------------------------------------------
# Source normalisation (only string builtins: same result in every engine).

normalize_source(raw) := out if {
	s1 := trim_prefix(trim(raw, " "), "git+")
	without_fragment := split(s1, "#")
	without_query := split(without_fragment[0], "?")
	s4 := to_https(without_query[0])
	out := lower(trim_suffix(trim_suffix(trim_suffix(s4, "/"), ".git"), "/"))
}

# scp-like syntax: [user@]host:path (no scheme).
to_https(s) := out if {
	not contains(s, "://")
	regex.match(`^([^@/:]+@)?[^@/:]+:`, s)
	host_path := scp_host_path(s)
	out := concat("", ["https://", host_path[0], "/", trim_prefix(host_path[1], "/")])
} else := out if {
	# scheme://[user[:password]@]host/path
	contains(s, "://")
	parts := split(s, "://")
	lower(parts[0]) in {"https", "http", "ssh", "git"}
	rest := concat("://", [p | some i, p in parts; i > 0])
	segments := split(rest, "/")
	authority := split(segments[0], "@")
	host := authority[count(authority) - 1]
	out := concat("/", array.concat([concat("", ["https://", host])], [p | some i, p in segments; i > 0]))
} else := s

# ["host", "path"] of an scp-like location.
scp_host_path(s) := [host, path] if {
	without_user := user_stripped(s)
	parts := split(without_user, ":")
	host := parts[0]
	path := concat(":", [p | some i, p in parts; i > 0])
}

user_stripped(s) := rest if {
	regex.match(`^[^@/:]+@`, s)
	parts := split(s, "@")
	rest := concat("@", [p | some i, p in parts; i > 0])
} else := s

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
