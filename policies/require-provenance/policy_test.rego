package attestgate.require_provenance_test

import data.attestgate.require_provenance

# sha256("amd64"), sha256("arm64"), sha256("index"), sha256("other")
hex_amd64 := "5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51"

hex_arm64 := "f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265"

hex_index := "1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6"

hex_other := "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"

image(arch, hex) := {
	"ref": "ghcr.io/example/app:1.4.2",
	"host": "ghcr.io",
	"repo": "ghcr.io/example/app",
	"fullRepo": "ghcr.io/example/app",
	"tag": "1.4.2",
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

subjects(hex) := [{
	"name": "pkg:docker/ghcr.io/example/app@1.4.2",
	"digest": {"sha256": hex},
}]

statement(ptype, subj) := {
	"_type": "https://in-toto.io/Statement/v0.1",
	"subject": subj,
	"predicateType": ptype,
	"predicate": {},
}

wrap(ptype, st, bound) := {
	"predicateType": ptype,
	"statement": st,
	"digest": "sha256:6b48fc1311393570ef8e630ff70f0f74b3a06259463bde7627f3d813a71f7edb",
	"mediaType": "application/vnd.in-toto+json",
	"manifest": "sha256:b9194c8aba6701826eff11c1a1f059a7c11a643955a4810a602046cbd3dc71db",
	"source": "index",
	"subject": bound,
	"verified": false,
}

att(ptype, hex, bound) := wrap(ptype, statement(ptype, subjects(hex)), bound)

slsa02 := "https://slsa.dev/provenance/v0.2"

slsa1 := "https://slsa.dev/provenance/v1"

spdx := "https://spdx.dev/Document"

cyclonedx := "https://cyclonedx.org/bom/v1.5"

vulns := "https://in-toto.io/attestation/vulns/v0.1"

fix := " Build with --provenance=mode=max (or --attest type=provenance,mode=max)."

test_v02_provenance_bound_to_platform_allows if {
	inp := {"image": image_amd64, "attestations": [
		att(spdx, hex_amd64, "platform"),
		att(slsa02, hex_amd64, "platform"),
	]}
	count(require_provenance.deny) == 0 with input as inp
}

test_v1_provenance_bound_to_index_allows if {
	inp := {"image": image_arm64, "attestations": [att(slsa1, hex_index, "index")]}
	count(require_provenance.deny) == 0 with input as inp
}

test_sbom_only_denied if {
	inp := {"image": image_amd64, "attestations": [att(spdx, hex_amd64, "platform")]}
	require_provenance.deny == {concat("", [
		"require-provenance: ghcr.io/example/app:1.4.2 (linux/amd64) has no SLSA provenance attestation; ",
		"found: https://spdx.dev/Document.",
		fix,
	])} with input as inp
}

test_no_attestations_denied if {
	require_provenance.deny == {concat("", [
		"require-provenance: ghcr.io/example/app:1.4.2 (linux/amd64) has no SLSA provenance attestation; ",
		"found: none.",
		fix,
	])} with input as {"image": image_amd64, "attestations": []}
}

test_missing_attestations_field_denied if {
	count(require_provenance.deny) == 1 with input as {"image": image_amd64}
}

# Provenance about the arm64 manifest must not satisfy the amd64 evaluation.
test_provenance_about_other_platform_ignored if {
	inp := {"image": image_amd64, "attestations": [
		att(slsa02, hex_arm64, "platform"),
		att(spdx, hex_amd64, "platform"),
	]}
	require_provenance.deny == {concat("", [
		"require-provenance: ghcr.io/example/app:1.4.2 (linux/amd64) has no SLSA provenance attestation; ",
		"found: https://spdx.dev/Document.",
		" Ignored 1 provenance statement(s) whose subject is another digest.",
		fix,
	])} with input as inp
}

test_provenance_about_unrelated_digest_ignored if {
	inp := {"image": image_amd64, "attestations": [att(slsa1, hex_other, "index"), att(slsa02, hex_other, "platform")]}
	require_provenance.deny == {concat("", [
		"require-provenance: ghcr.io/example/app:1.4.2 (linux/amd64) has no SLSA provenance attestation; ",
		"found: none.",
		" Ignored 2 provenance statement(s) whose subject is another digest.",
		fix,
	])} with input as inp
}

# Multi-platform image: each (container, platform) is evaluated on its own.
test_multi_platform_each_platform_judged_alone if {
	atts := [
		att(slsa02, hex_amd64, "platform"),
		att(spdx, hex_amd64, "platform"),
		att(spdx, hex_arm64, "platform"),
	]
	count(require_provenance.deny) == 0 with input as {"image": image_amd64, "attestations": atts}
	require_provenance.deny == {concat("", [
		"require-provenance: ghcr.io/example/app:1.4.2 (linux/arm64) has no SLSA provenance attestation; ",
		"found: https://spdx.dev/Document.",
		" Ignored 1 provenance statement(s) whose subject is another digest.",
		fix,
	])} with input as {"image": image_arm64, "attestations": atts}
}

test_found_types_sorted_and_deduplicated if {
	inp := {"image": image_amd64, "attestations": [
		att(vulns, hex_amd64, "platform"),
		att(spdx, hex_amd64, "platform"),
		att(cyclonedx, hex_index, "index"),
		att(spdx, hex_index, "index"),
	]}
	require_provenance.deny == {concat("", [
		"require-provenance: ghcr.io/example/app:1.4.2 (linux/amd64) has no SLSA provenance attestation; ",
		"found: https://cyclonedx.org/bom/v1.5, https://in-toto.io/attestation/vulns/v0.1, https://spdx.dev/Document.",
		fix,
	])} with input as inp
}

test_older_slsa_version_not_accepted if {
	inp := {"image": image_amd64, "attestations": [att("https://slsa.dev/provenance/v0.1", hex_amd64, "platform")]}
	require_provenance.deny == {concat("", [
		"require-provenance: ghcr.io/example/app:1.4.2 (linux/amd64) has no SLSA provenance attestation; ",
		"found: https://slsa.dev/provenance/v0.1.",
		fix,
	])} with input as inp
}

test_predicate_type_read_from_statement if {
	a := object.remove(att(slsa1, hex_amd64, "platform"), ["predicateType"])
	count(require_provenance.deny) == 0 with input as {"image": image_amd64, "attestations": [a]}
}

# A single-platform image has no index: only the manifest digest binds.
test_single_platform_image_without_index if {
	img := object.remove(image_amd64, ["index"])
	count(require_provenance.deny) == 0 with input as {"image": img, "attestations": [att(slsa02, hex_amd64, "platform")]}
	count(require_provenance.deny) == 1 with input as {"image": img, "attestations": [att(slsa02, hex_index, "index")]}
}

test_malformed_statements_do_not_count if {
	bad_subject := wrap(slsa02, statement(slsa02, "sha256:x"), "platform")
	bad_digest := wrap(slsa02, statement(slsa02, [{"name": "x", "digest": hex_amd64}]), "platform")
	no_statement := object.remove(att(slsa02, hex_amd64, "platform"), ["statement"])
	count(require_provenance.deny) == 1 with input as {"image": image_amd64, "attestations": [bad_subject, bad_digest, no_statement, "junk", 7]}
}

test_subject_with_several_digest_algorithms if {
	a := wrap(slsa02, statement(slsa02, [{"name": "x", "digest": {"sha512": "00", "sha256": hex_amd64}}]), "platform")
	count(require_provenance.deny) == 0 with input as {"image": image_amd64, "attestations": [a]}
}

test_ref_falls_back_to_container_image if {
	img := object.remove(image_amd64, ["ref", "platform"])
	inp := {
		"container": {"name": "app", "type": "container", "image": "ghcr.io/example/app:1.4.2"},
		"image": img,
		"attestations": [],
	}
	require_provenance.deny == {concat("", [
		"require-provenance: ghcr.io/example/app:1.4.2 (unknown platform) has no SLSA provenance attestation; ",
		"found: none.",
		fix,
	])} with input as inp
}

test_admission_input_with_request if {
	inp := {
		"request": {"uid": "0b2b5e6c-1f0d-4c1a-9d0e-2d3f4a5b6c7d", "operation": "CREATE", "namespace": "prod", "name": "web"},
		"object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web"}, "spec": {"containers": [{"name": "app", "image": "ghcr.io/example/app:1.4.2"}]}},
		"container": {"name": "app", "type": "container", "image": "ghcr.io/example/app:1.4.2"},
		"image": image_amd64,
		"attestations": [att(slsa1, hex_amd64, "platform")],
	}
	count(require_provenance.deny) == 0 with input as inp
}
