package attestgate.no_critical_vulnerabilities_test

import data.attestgate.no_critical_vulnerabilities as ncv

# sha256("amd64"), sha256("arm64"), sha256("index"), sha256("other")
hex_amd64 := "5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51"

hex_arm64 := "f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265"

hex_index := "1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6"

hex_other := "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"

image(arch, hex) := {
	"ref": "registry.example.com/team/worker:7.1.0",
	"host": "registry.example.com",
	"repo": "registry.example.com/team/worker",
	"fullRepo": "registry.example.com/team/worker",
	"tag": "7.1.0",
	"checksum": concat(":", ["sha256", hex_index]),
	"index": concat(":", ["sha256", hex_index]),
	"digest": concat(":", ["sha256", hex]),
	"platform": concat("/", ["linux", arch]),
	"os": "linux",
	"arch": arch,
	"hasProvenance": true,
}

image_amd64 := image("amd64", hex_amd64)

image_arm64 := image("arm64", hex_arm64)

vulns := "https://in-toto.io/attestation/vulns/v0.1"

cosign_vuln := "https://cosign.sigstore.dev/attestation/vuln/v1"

spdx := "https://spdx.dev/Document"

finding(id, method, score) := {
	"id": id,
	"severity": [{"method": method, "score": score}],
	"annotations": [{"package": "pkg:apk/alpine/openssl@3.1.4-r1"}],
}

report(results) := {
	"scanner": {
		"uri": "pkg:github/aquasecurity/trivy@0.50.1",
		"version": "0.50.1",
		"db": {"uri": "pkg:github/aquasecurity/trivy-db", "version": "2024-04-01T00:00:00Z"},
		"result": results,
	},
	"metadata": {"scanStartedOn": "2024-04-01T10:00:00Z", "scanFinishedOn": "2024-04-01T10:00:09Z"},
}

att(ptype, hex, bound, predicate) := {
	"predicateType": ptype,
	"statement": {
		"_type": "https://in-toto.io/Statement/v1",
		"subject": [{"name": "registry.example.com/team/worker", "digest": {"sha256": hex}}],
		"predicateType": ptype,
		"predicate": predicate,
	},
	"digest": "sha256:e9481786b25a2b7875083f96ef05b5a6ae7b715d3d3f44c4b757cf056878bbec",
	"mediaType": "application/vnd.in-toto+json",
	"manifest": "sha256:b9194c8aba6701826eff11c1a1f059a7c11a643955a4810a602046cbd3dc71db",
	"source": "referrers",
	"subject": bound,
	"verified": false,
}

where := "registry.example.com/team/worker:7.1.0 (linux/amd64)"

critical_msg(n, word, ids) := concat("", [
	"no-critical-vulnerabilities: ", where, " has ", n, " critical ", word, ": ", ids,
	". Update the affected packages and rebuild, or list accepted ids in data.attestgate.no_critical_vulnerabilities.ignore.",
])

no_report_warning := concat("", ["no-critical-vulnerabilities: ", where, " has no vulnerability report attestation; vulnerabilities were not checked."])

no_report_denial := concat("", ["no-critical-vulnerabilities: ", where, " has no vulnerability report attestation, and one is required."])

mixed := [
	finding("CVE-2024-3094", "nvd", "10.0"),
	finding("CVE-2023-5678", "nvd", "7.5"),
	finding("GHSA-xxxx-yyyy-zzzz", "ghsa", "HIGH"),
	finding("CVE-2024-0727", "redhat", "critical"),
	finding("CVE-2022-1111", "nvd", "9.0"),
	finding("CVE-2022-2222", "nvd", "8.99"),
]

# --- no report ---

test_no_report_warns_but_allows if {
	inp := {"image": image_amd64, "attestations": [att(spdx, hex_amd64, "platform", {})]}
	count(ncv.deny) == 0 with input as inp
	ncv.warn == {no_report_warning} with input as inp
}

test_no_report_denied_when_required if {
	inp := {"image": image_amd64, "attestations": []}
	ncv.deny == {no_report_denial} with input as inp with data.attestgate.no_critical_vulnerabilities.require_report as true
	count(ncv.warn) == 0 with input as inp with data.attestgate.no_critical_vulnerabilities.require_report as true
}

test_report_about_other_digest_is_no_report if {
	atts := [att(vulns, hex_arm64, "platform", report(mixed)), att(vulns, hex_other, "index", report(mixed))]
	count(ncv.deny) == 0 with input as {"image": image_amd64, "attestations": atts}
	ncv.warn == {no_report_warning} with input as {"image": image_amd64, "attestations": atts}
}

# --- findings ---

test_clean_report_allows if {
	inp := {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report([
		finding("CVE-2023-5678", "nvd", "7.5"),
		finding("GHSA-xxxx-yyyy-zzzz", "ghsa", "HIGH"),
	]))]}
	count(ncv.deny) == 0 with input as inp
	count(ncv.warn) == 0 with input as inp
}

test_empty_and_null_results_allow if {
	count(ncv.deny) == 0 with input as {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report([]))]}
	count(ncv.deny) == 0 with input as {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report(null))]}
	count(ncv.warn) == 0 with input as {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report(null))]}
}

test_critical_words_and_scores_denied_sorted if {
	inp := {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report(mixed))]}
	ncv.deny == {critical_msg("3", "vulnerabilities", "CVE-2022-1111, CVE-2024-0727, CVE-2024-3094")} with input as inp
	count(ncv.warn) == 0 with input as inp
}

test_single_critical_vulnerability_message if {
	inp := {"image": image_amd64, "attestations": [att(vulns, hex_index, "index", report([finding("CVE-2024-3094", "nvd", "10")]))]}
	ncv.deny == {critical_msg("1", "vulnerability", "CVE-2024-3094")} with input as inp
}

test_numeric_json_scores if {
	inp := {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report([
		finding("CVE-2024-1000", "nvd", 9.1),
		finding("CVE-2024-1001", "nvd", 8.9),
	]))]}
	ncv.deny == {critical_msg("1", "vulnerability", "CVE-2024-1000")} with input as inp
}

test_threshold_from_data if {
	inp := {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report(mixed))]}
	ncv.deny == {critical_msg("5", "vulnerabilities", "CVE-2022-1111, CVE-2022-2222, CVE-2023-5678, CVE-2024-0727, CVE-2024-3094")} with input as inp
		with data.attestgate.no_critical_vulnerabilities.threshold as 7
	ncv.deny == {critical_msg("1", "vulnerability", "CVE-2024-0727")} with input as inp
		with data.attestgate.no_critical_vulnerabilities.threshold as 10.5
}

test_non_numeric_threshold_falls_back_to_default if {
	inp := {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report(mixed))]}
	ncv.deny == {critical_msg("3", "vulnerabilities", "CVE-2022-1111, CVE-2024-0727, CVE-2024-3094")} with input as inp
		with data.attestgate.no_critical_vulnerabilities.threshold as "7"
}

test_ignore_list_case_insensitive if {
	inp := {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report(mixed))]}
	ncv.deny == {critical_msg("1", "vulnerability", "CVE-2024-0727")} with input as inp
		with data.attestgate.no_critical_vulnerabilities.ignore as ["cve-2024-3094", "CVE-2022-1111", 42]
	count(ncv.deny) == 0 with input as inp
		with data.attestgate.no_critical_vulnerabilities.ignore as ["CVE-2024-3094", "CVE-2022-1111", "CVE-2024-0727"]
}

test_findings_merged_across_reports_and_deduplicated if {
	inp := {"image": image_amd64, "attestations": [
		att(vulns, hex_amd64, "platform", report([finding("CVE-2024-3094", "nvd", "10.0")])),
		att(cosign_vuln, hex_index, "index", report([finding("CVE-2024-3094", "ghsa", "CRITICAL"), finding("CVE-2021-44228", "nvd", "10.0")])),
	]}
	ncv.deny == {critical_msg("2", "vulnerabilities", "CVE-2021-44228, CVE-2024-3094")} with input as inp
}

test_any_severity_entry_can_be_critical if {
	f := {"id": "CVE-2024-2222", "severity": [{"method": "ghsa", "score": "MODERATE"}, {"method": "nvd", "score": "9.8"}]}
	ncv.deny == {critical_msg("1", "vulnerability", "CVE-2024-2222")} with input as {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report([f]))]}
}

test_malformed_scores_never_error if {
	results := [
		finding("CVE-2024-0001", "nvd", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
		finding("CVE-2024-0002", "nvd", "n/a"),
		finding("CVE-2024-0003", "nvd", "9.8.1"),
		finding("CVE-2024-0004", "nvd", ""),
		finding("CVE-2024-0005", "nvd", null),
		finding("CVE-2024-0006", "nvd", {"base": 9.8}),
		finding("CVE-2024-0007", "nvd", "99"),
		{"id": "CVE-2024-0008"},
		{"id": "CVE-2024-0009", "severity": "high"},
		"CVE-2024-0010",
		7,
	]
	inp := {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report(results))]}
	count(ncv.deny) == 0 with input as inp
	count(ncv.warn) == 0 with input as inp
}

test_single_object_severity_and_missing_id if {
	results := [
		{"id": "CVE-2024-0011", "severity": {"method": "nvd", "score": "9.9"}},
		{"severity": [{"method": "nvd", "score": "CRITICAL"}]},
	]
	inp := {"image": image_amd64, "attestations": [att(vulns, hex_amd64, "platform", report(results))]}
	ncv.deny == {critical_msg("2", "vulnerabilities", "<unnamed finding>, CVE-2024-0011")} with input as inp
}

test_multi_platform_reports_judged_per_platform if {
	atts := [
		att(vulns, hex_amd64, "platform", report([finding("CVE-2024-3094", "nvd", "10.0")])),
		att(vulns, hex_arm64, "platform", report([finding("CVE-2023-5678", "nvd", "7.5")])),
	]
	ncv.deny == {critical_msg("1", "vulnerability", "CVE-2024-3094")} with input as {"image": image_amd64, "attestations": atts}
	count(ncv.deny) == 0 with input as {"image": image_arm64, "attestations": atts}
}
