package attestgate.trusted_builders_test

import data.attestgate.trusted_builders

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

gha_run := "https://github.com/example/app/actions/runs/8123456789"

v02_predicate(builder_id) := {
	"builder": {"id": builder_id},
	"buildType": "https://mobyproject.org/buildkit@v1",
	"invocation": {
		"configSource": {"entryPoint": "Dockerfile"},
		"parameters": {"frontend": "dockerfile.v0", "locals": [{"name": "context"}, {"name": "dockerfile"}]},
		"environment": {"platform": "linux/amd64"},
	},
	"materials": [{
		"uri": "pkg:docker/golang@1.22-alpine?platform=linux%2Famd64",
		"digest": {"sha256": "e9481786b25a2b7875083f96ef05b5a6ae7b715d3d3f44c4b757cf056878bbec"},
	}],
	"metadata": {"buildInvocationID": "q1w2e3r4t5y6u7i8o9p0", "completeness": {"parameters": true, "environment": true, "materials": false}},
}

v1_predicate(builder_id) := {
	"buildDefinition": {
		"buildType": "https://mobyproject.org/buildkit@v1",
		"externalParameters": {
			"configSource": {"path": "Dockerfile"},
			"request": {"frontend": "dockerfile.v0"},
		},
		"resolvedDependencies": [],
	},
	"runDetails": {
		"builder": {"id": builder_id},
		"metadata": {"invocationID": "q1w2e3r4t5y6u7i8o9p0"},
	},
}

att(ptype, hex, bound, predicate) := {
	"predicateType": ptype,
	"statement": {
		"_type": "https://in-toto.io/Statement/v0.1",
		"subject": [{"name": "pkg:docker/ghcr.io/example/app@1.4.2", "digest": {"sha256": hex}}],
		"predicateType": ptype,
		"predicate": predicate,
	},
	"digest": "sha256:6b48fc1311393570ef8e630ff70f0f74b3a06259463bde7627f3d813a71f7edb",
	"mediaType": "application/vnd.in-toto+json",
	"manifest": "sha256:b9194c8aba6701826eff11c1a1f059a7c11a643955a4810a602046cbd3dc71db",
	"source": "index",
	"subject": bound,
	"verified": false,
}

slsa02 := "https://slsa.dev/provenance/v0.2"

slsa1 := "https://slsa.dev/provenance/v1"

spdx := "https://spdx.dev/Document"

prov02(hex, bound, id) := att(slsa02, hex, bound, v02_predicate(id))

prov1(hex, bound, id) := att(slsa1, hex, bound, v1_predicate(id))

allowed := ["https://github.com/example/*/actions/runs/*", "https://github.com/actions/runner/github-hosted"]

allowed_text := "https://github.com/actions/runner/github-hosted, https://github.com/example/*/actions/runs/*"

where := "ghcr.io/example/app:1.4.2 (linux/amd64)"

untrusted_msg(id) := concat("", ["trusted-builders: ", where, " was built by untrusted builder \"", id, "\"; allowed builders: ", allowed_text, "."])

missing_msg := concat("", [
	"trusted-builders: ", where, " has SLSA provenance without a builder id; allowed builders: ", allowed_text,
	". Set one when building, e.g. --attest type=provenance,mode=max,builder-id=<url>.",
])

no_provenance_msg := concat("", [
	"trusted-builders: ", where, " has no SLSA provenance attestation, so its builder cannot be verified; allowed builders: ", allowed_text, ".",
])

# --- unconfigured: the policy says nothing, whatever the image looks like ---

test_unconfigured_is_inactive if {
	inp := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", "https://evil.example/builder")]}
	count(trusted_builders.deny) == 0 with input as inp
	count(trusted_builders.deny) == 0 with input as {"image": image_amd64, "attestations": []}
}

test_empty_list_is_inactive if {
	inp := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", "")]}
	count(trusted_builders.deny) == 0 with input as inp with data.attestgate.trusted_builders.builders as []
	count(trusted_builders.deny) == 0 with input as inp with data.attestgate.trusted_builders.builders as ["", 3]
}

# --- configured ---

test_v02_builder_matching_pattern_allowed if {
	inp := {"image": image_amd64, "attestations": [att(spdx, hex_amd64, "platform", {}), prov02(hex_amd64, "platform", gha_run)]}
	count(trusted_builders.deny) == 0 with input as inp with data.attestgate.trusted_builders.builders as allowed
}

test_v1_builder_exact_id_allowed if {
	inp := {"image": image_arm64, "attestations": [prov1(hex_index, "index", "https://github.com/actions/runner/github-hosted")]}
	count(trusted_builders.deny) == 0 with input as inp with data.attestgate.trusted_builders.builders as allowed
}

test_untrusted_builder_denied if {
	inp := {"image": image_amd64, "attestations": [prov1(hex_amd64, "platform", "https://ci.evil.example/runner/7")]}
	trusted_builders.deny == {untrusted_msg("https://ci.evil.example/runner/7")} with input as inp
		with data.attestgate.trusted_builders.builders as allowed
}

test_empty_builder_id_denied if {
	# BuildKit's default: builder.id is "".
	inp := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", "")]}
	trusted_builders.deny == {missing_msg} with input as inp with data.attestgate.trusted_builders.builders as allowed
}

test_missing_builder_object_denied if {
	pred := object.remove(v1_predicate("x"), ["runDetails"])
	inp := {"image": image_amd64, "attestations": [att(slsa1, hex_amd64, "platform", pred)]}
	trusted_builders.deny == {missing_msg} with input as inp with data.attestgate.trusted_builders.builders as allowed
}

test_no_provenance_denied if {
	inp := {"image": image_amd64, "attestations": [att(spdx, hex_amd64, "platform", {})]}
	trusted_builders.deny == {no_provenance_msg} with input as inp with data.attestgate.trusted_builders.builders as allowed
}

test_provenance_about_other_digest_ignored if {
	inp := {"image": image_amd64, "attestations": [prov02(hex_arm64, "platform", gha_run), prov02(hex_other, "index", gha_run)]}
	trusted_builders.deny == {no_provenance_msg} with input as inp with data.attestgate.trusted_builders.builders as allowed
}

# Every provenance statement about the image must name a trusted builder.
test_one_untrusted_statement_among_several_denied if {
	inp := {"image": image_amd64, "attestations": [
		prov02(hex_amd64, "platform", gha_run),
		prov1(hex_index, "index", "https://ci.evil.example/runner/7"),
	]}
	trusted_builders.deny == {untrusted_msg("https://ci.evil.example/runner/7")} with input as inp
		with data.attestgate.trusted_builders.builders as allowed
}

test_trusted_and_empty_ids_denied if {
	inp := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", gha_run), prov1(hex_index, "index", "")]}
	trusted_builders.deny == {missing_msg} with input as inp with data.attestgate.trusted_builders.builders as allowed
}

test_summary_builder_id_is_checked if {
	img := object.union(image_amd64, {"provenance": {"predicateType": slsa02, "builderID": "https://ci.evil.example/runner/7"}})
	trusted_builders.deny == {untrusted_msg("https://ci.evil.example/runner/7")} with input as {"image": img, "attestations": []}
		with data.attestgate.trusted_builders.builders as allowed
	img2 := object.union(image_amd64, {"provenance": {"predicateType": slsa02, "builderID": gha_run}})
	count(trusted_builders.deny) == 0 with input as {"image": img2, "attestations": []}
		with data.attestgate.trusted_builders.builders as allowed
	img3 := object.union(image_amd64, {"provenance": {"predicateType": slsa02}})
	trusted_builders.deny == {missing_msg} with input as {"image": img3, "attestations": []}
		with data.attestgate.trusted_builders.builders as allowed
}

test_star_does_not_cross_slash if {
	inp := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", gha_run)]}
	trusted_builders.deny == {concat("", [
		"trusted-builders: ", where, " was built by untrusted builder \"", gha_run,
		"\"; allowed builders: https://github.com/*.",
	])} with input as inp with data.attestgate.trusted_builders.builders as ["https://github.com/*"]
	count(trusted_builders.deny) == 0 with input as inp with data.attestgate.trusted_builders.builders as ["https://github.com/**"]
	count(trusted_builders.deny) == 0 with input as inp with data.attestgate.trusted_builders.builders as ["https://github.com/example/**/runs/*"]
}

test_pattern_metacharacters_are_literal if {
	inp := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", "https://ci.example.com/build?id=42")]}
	count(trusted_builders.deny) == 0 with input as inp with data.attestgate.trusted_builders.builders as ["https://ci.example.com/build?id=*"]
	inp2 := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", "https://ci.example.com/buildXid=42")]}
	count(trusted_builders.deny) == 1 with input as inp2 with data.attestgate.trusted_builders.builders as ["https://ci.example.com/build?id=*"]
	count(trusted_builders.deny) == 1 with input as inp2 with data.attestgate.trusted_builders.builders as ["https://ci.example.com/build.id=(.*)|[a-z]+{1}^$"]
}

test_exact_id_needs_exact_match if {
	inp := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", "https://github.com/actions/runner/github-hosted-evil")]}
	count(trusted_builders.deny) == 1 with input as inp with data.attestgate.trusted_builders.builders as allowed
}

test_single_string_setting if {
	inp := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", gha_run)]}
	count(trusted_builders.deny) == 0 with input as inp with data.attestgate.trusted_builders.builders as gha_run
	count(trusted_builders.deny) == 1 with input as inp with data.attestgate.trusted_builders.builders as "https://other.example/builder"
}

test_no_warnings_ever if {
	inp := {"image": image_amd64, "attestations": [prov02(hex_amd64, "platform", "")]}
	not trusted_builders.warn with input as inp with data.attestgate.trusted_builders.builders as allowed
}
