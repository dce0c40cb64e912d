package attestgate.require_sbom_test

import data.attestgate.require_sbom

# sha256("amd64"), sha256("arm64"), sha256("index"), sha256("other")
hex_amd64 := "5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51"

hex_arm64 := "f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265"

hex_index := "1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6"

hex_other := "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"

image(arch, hex) := {
	"ref": "docker.io/example/api:2.0.1",
	"host": "docker.io",
	"repo": "example/api",
	"fullRepo": "docker.io/example/api",
	"tag": "2.0.1",
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

spdx_predicate := {
	"spdxVersion": "SPDX-2.3",
	"SPDXID": "SPDXRef-DOCUMENT",
	"name": "sbom",
	"dataLicense": "CC0-1.0",
	"packages": [{"name": "musl", "SPDXID": "SPDXRef-Package-apk-musl", "versionInfo": "1.2.4-r2"}],
}

cyclonedx_predicate := {
	"bomFormat": "CycloneDX",
	"specVersion": "1.5",
	"components": [{"type": "library", "name": "openssl", "version": "3.1.4"}],
}

att(ptype, hex, bound, predicate) := {
	"predicateType": ptype,
	"statement": {
		"_type": "https://in-toto.io/Statement/v0.1",
		"subject": [{"name": "pkg:docker/example/api@2.0.1", "digest": {"sha256": hex}}],
		"predicateType": ptype,
		"predicate": predicate,
	},
	"digest": "sha256:175f4eef35b9fb02bbbf2c6fdffa603cbc549a1881fac57f55807d8c7c93a876",
	"mediaType": "application/vnd.in-toto+json",
	"manifest": "sha256:b9194c8aba6701826eff11c1a1f059a7c11a643955a4810a602046cbd3dc71db",
	"source": "index",
	"subject": bound,
	"verified": false,
}

slsa02 := "https://slsa.dev/provenance/v0.2"

spdx := "https://spdx.dev/Document"

fix := " Build with --sbom=true (or --attest type=sbom)."

msg(ref_platform, found) := concat("", [
	"require-sbom: ",
	ref_platform,
	" has no SBOM attestation (SPDX or CycloneDX); found: ",
	found,
	".",
	fix,
])

test_spdx_bound_to_platform_allows if {
	inp := {"image": image_amd64, "attestations": [
		att(slsa02, hex_amd64, "platform", {}),
		att(spdx, hex_amd64, "platform", spdx_predicate),
	]}
	count(require_sbom.deny) == 0 with input as inp
}

test_cyclonedx_variants_allow if {
	count(require_sbom.deny) == 0 with input as {"image": image_arm64, "attestations": [att("https://cyclonedx.org/bom", hex_arm64, "platform", cyclonedx_predicate)]}
	count(require_sbom.deny) == 0 with input as {"image": image_arm64, "attestations": [att("https://cyclonedx.org/bom/v1.4", hex_arm64, "platform", cyclonedx_predicate)]}
	count(require_sbom.deny) == 0 with input as {"image": image_arm64, "attestations": [att("https://cyclonedx.org/bom/v1.6", hex_arm64, "platform", cyclonedx_predicate)]}
}

test_sbom_bound_to_index_allows if {
	count(require_sbom.deny) == 0 with input as {"image": image_arm64, "attestations": [att(spdx, hex_index, "index", spdx_predicate)]}
}

test_provenance_only_denied if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", {})]}
	require_sbom.deny == {msg("docker.io/example/api:2.0.1 (linux/amd64)", "https://slsa.dev/provenance/v0.2")} with input as inp
}

test_no_attestations_denied if {
	require_sbom.deny == {msg("docker.io/example/api:2.0.1 (linux/amd64)", "none")} with input as {"image": image_amd64}
}

test_sbom_about_other_platform_does_not_count if {
	atts := [att(spdx, hex_arm64, "platform", spdx_predicate), att(slsa02, hex_amd64, "platform", {})]
	require_sbom.deny == {msg("docker.io/example/api:2.0.1 (linux/amd64)", "https://slsa.dev/provenance/v0.2")} with input as {"image": image_amd64, "attestations": atts}
	count(require_sbom.deny) == 0 with input as {"image": image_arm64, "attestations": atts}
}

test_sbom_about_unrelated_digest_does_not_count if {
	atts := [att(spdx, hex_other, "index", spdx_predicate)]
	require_sbom.deny == {msg("docker.io/example/api:2.0.1 (linux/amd64)", "none")} with input as {"image": image_amd64, "attestations": atts}
}

test_lookalike_types_are_not_sboms if {
	atts := [
		att("https://spdx.dev/DocumentX", hex_amd64, "platform", {}),
		att("https://cyclonedx.org/bomb", hex_amd64, "platform", {}),
		att("https://cyclonedx.org/vex", hex_amd64, "platform", {}),
	]
	require_sbom.deny == {msg(
		"docker.io/example/api:2.0.1 (linux/amd64)",
		"https://cyclonedx.org/bomb, https://cyclonedx.org/vex, https://spdx.dev/DocumentX",
	)} with input as {"image": image_amd64, "attestations": atts}
}

# hasProvenance is true for an SBOM-only image (buildx semantics); the policy
# looks at the attestations, never at that flag.
test_has_provenance_flag_is_not_an_sbom if {
	count(require_sbom.deny) == 1 with input as {"image": image_amd64, "attestations": []}
}
