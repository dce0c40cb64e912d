# no-critical-vulnerabilities: deny a (container, platform) whose vulnerability
# report lists critical vulnerabilities.
#
# Reports: in-toto statements about this image with predicate type
# https://in-toto.io/attestation/vulns/v0.1 (any https://in-toto.io/attestation/vulns/...
# version) or https://cosign.sigstore.dev/attestation/vuln/v1; findings are
# predicate.scanner.result[] = {id, severity: [{method, score}, ...]}.
#
# A finding is critical when one of its severity scores is the word "CRITICAL"
# (any case) or a CVSS number (a JSON number or a string like "9.8") >= the
# threshold. Other words ("HIGH", ...) and CVSS vectors are not critical.
#
# Configuration (all optional):
#   data.attestgate.no_critical_vulnerabilities.threshold       number, default 9.0
#   data.attestgate.no_critical_vulnerabilities.ignore          vulnerability ids never reported (case-insensitive)
#   data.attestgate.no_critical_vulnerabilities.require_report  true: deny (instead of warn) when there is no report
package attestgate.no_critical_vulnerabilities

cosign_vuln_type := "https://cosign.sigstore.dev/attestation/vuln/v1"

intoto_vulns_prefix := "https://in-toto.io/attestation/vulns/"

deny contains msg if {
	count(critical_ids) > 0
	ids := sort([id | some id in critical_ids])
	msg := sprintf(
		"no-critical-vulnerabilities: %s (%s) has %s critical %s: %s. Update the affected packages and rebuild, or list accepted ids in data.attestgate.no_critical_vulnerabilities.ignore.",
		[image_ref, platform, format_int(count(ids), 10), vulnerability_word(count(ids)), concat(", ", ids)],
	)
}

deny contains msg if {
	count(reports) == 0
	report_required
	msg := sprintf("no-critical-vulnerabilities: %s (%s) has no vulnerability report attestation, and one is required.", [image_ref, platform])
}

warn contains msg if {
	count(reports) == 0
	not report_required
	msg := sprintf("no-critical-vulnerabilities: %s (%s) has no vulnerability report attestation; vulnerabilities were not checked.", [image_ref, platform])
}

vulnerability_word(n) := "vulnerability" if {
	n == 1
} else := "vulnerabilities"

# ---------------------------------------------------------------------------
# Configuration

cvss_threshold := t if {
	t := data.attestgate.no_critical_vulnerabilities.threshold
	is_number(t)
} else := 9.0

ignored_ids contains normalized if {
	some id in ignore_setting
	is_string(id)
	normalized := upper(trim(id, " "))
}

ignore_setting := s if {
	s := data.attestgate.no_critical_vulnerabilities.ignore
	is_array(s)
} else := []

report_required if data.attestgate.no_critical_vulnerabilities.require_report == true

# ---------------------------------------------------------------------------
# Reports and findings

is_vuln_type(t) if t == cosign_vuln_type

is_vuln_type(t) if startswith(t, intoto_vulns_prefix)

reports contains att if {
	some att in input.attestations
	is_vuln_type(predicate_type(att))
	about_image(att)
}

findings contains finding if {
	some att in reports
	results := att.statement.predicate.scanner.result
	is_array(results)
	some finding in results
	is_object(finding)
}

critical_ids contains id if {
	some finding in findings
	critical(finding)
	id := finding_id(finding)
	not ignored(id)
}

ignored(id) if upper(trim(id, " ")) in ignored_ids

finding_id(finding) := id if {
	id := finding.id
	is_string(id)
	id != ""
} else := "<unnamed finding>"

critical(finding) if {
	some score in severity_scores(finding)
	critical_score(score)
}

# severity is normally an array of {method, score}; a single object or a bare
# score is accepted too.
severity_scores(finding) := [score |
	some s in finding.severity
	score := score_of(s)
] if {
	is_array(finding.severity)
} else := [score |
	s := finding.severity
	score := score_of(s)
]

score_of(s) := s.score if is_object(s)

score_of(s) := s if not is_object(s)

critical_score(score) if {
	is_string(score)
	upper(trim(score, " ")) == "CRITICAL"
}

critical_score(score) if {
	is_number(score)
	score >= cvss_threshold
}

# CVSS base scores are 0.0 .. 10.0; the regex guard keeps to_number from ever
# failing (a builtin error is fatal under OPA's strict mode).
critical_score(score) if {
	is_string(score)
	s := trim(score, " ")
	regex.match(`^(10|[0-9])(\.[0-9]{1,2})?$`, s)
	to_number(s) >= cvss_threshold
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
