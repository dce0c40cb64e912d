package attestgate.pinned_base_images_test

import data.attestgate.pinned_base_images

# sha256("amd64"), sha256("arm64"), sha256("index"), sha256("other")
hex_amd64 := "5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51"

hex_arm64 := "f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265"

hex_index := "1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6"

hex_other := "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"

image(arch, hex) := {
	"ref": "docker.io/library/nginx-custom:1.25",
	"host": "docker.io",
	"repo": "nginx-custom",
	"fullRepo": "docker.io/library/nginx-custom",
	"tag": "1.25",
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

# sha256("vuln"), sha256("sbom-amd64")
pinned_alpine := {"uri": "pkg:docker/alpine@3.19?platform=linux%2Famd64", "digest": {"sha256": "e9481786b25a2b7875083f96ef05b5a6ae7b715d3d3f44c4b757cf056878bbec"}}

pinned_frontend := {"uri": "pkg:docker/docker/dockerfile@1.7", "digest": {"sha256": "175f4eef35b9fb02bbbf2c6fdffa603cbc549a1881fac57f55807d8c7c93a876"}}

git_material := {"uri": "https://github.com/example/nginx-custom.git#refs/heads/main", "digest": {"sha1": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"}}

http_material := {"uri": "https://example.com/nginx.conf"}

unpinned_node := {"uri": "pkg:docker/node@20?platform=linux%2Famd64"}

unpinned_oci := {"uri": "pkg:oci/base?repository_url=registry.example.com%2Fbase&tag=latest", "digest": {"sha1": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"}}

bad_hex := {"uri": "pkg:docker/busybox@1.36", "digest": {"sha256": "sha256:e9481786b25a2b7875083f96ef05b5a6ae7b715d3d3f44c4b757cf056878bbec"}}

v02(materials) := {
	"builder": {"id": ""},
	"buildType": "https://mobyproject.org/buildkit@v1",
	"invocation": {"configSource": {"entryPoint": "Dockerfile"}, "parameters": {"frontend": "dockerfile.v0"}},
	"materials": materials,
	"metadata": {"completeness": {"parameters": true, "environment": true, "materials": false}},
}

v1(deps) := {
	"buildDefinition": {
		"buildType": "https://mobyproject.org/buildkit@v1",
		"externalParameters": {"configSource": {"path": "Dockerfile"}, "request": {"frontend": "dockerfile.v0"}},
		"resolvedDependencies": deps,
	},
	"runDetails": {"builder": {"id": ""}, "metadata": {"invocationID": "m1n2b3v4c5x6z7"}},
}

att(ptype, hex, bound, predicate) := {
	"predicateType": ptype,
	"statement": {
		"_type": "https://in-toto.io/Statement/v0.1",
		"subject": [{"name": "pkg:docker/nginx-custom@1.25", "digest": {"sha256": hex}}],
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

where := "docker.io/library/nginx-custom:1.25 (linux/amd64)"

unpinned_msg(uris) := concat("", [
	"pinned-base-images: ", where, " was built from image materials without a sha256 digest: ", uris,
	". Pin them by digest (FROM name:tag@sha256:...) and rebuild with a builder that records material digests.",
])

no_materials_warning := concat("", [
	"pinned-base-images: ", where,
	" has SLSA provenance that lists no image materials; base images could not be checked (use --provenance=mode=max).",
])

test_v02_all_image_materials_pinned if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02([pinned_frontend, pinned_alpine, git_material, http_material]))]}
	count(pinned_base_images.deny) == 0 with input as inp
	count(pinned_base_images.warn) == 0 with input as inp
}

test_v1_all_image_materials_pinned if {
	inp := {"image": image_arm64, "attestations": [att(slsa1, hex_index, "index", v1([pinned_alpine, git_material]))]}
	count(pinned_base_images.deny) == 0 with input as inp
	count(pinned_base_images.warn) == 0 with input as inp
}

test_v02_unpinned_material_denied if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02([pinned_alpine, unpinned_node, http_material]))]}
	pinned_base_images.deny == {unpinned_msg("pkg:docker/node@20?platform=linux%2Famd64")} with input as inp
}

test_v1_offenders_listed_sorted if {
	inp := {"image": image_amd64, "attestations": [att(slsa1, hex_amd64, "platform", v1([unpinned_oci, pinned_alpine, unpinned_node, bad_hex]))]}
	pinned_base_images.deny == {unpinned_msg(concat(", ", [
		"pkg:docker/busybox@1.36",
		"pkg:docker/node@20?platform=linux%2Famd64",
		"pkg:oci/base?repository_url=registry.example.com%2Fbase&tag=latest",
	]))} with input as inp
}

test_offenders_merged_across_statements if {
	inp := {"image": image_amd64, "attestations": [
		att(slsa02, hex_amd64, "platform", v02([unpinned_node])),
		att(slsa1, hex_index, "index", v1([unpinned_node, bad_hex])),
	]}
	pinned_base_images.deny == {unpinned_msg("pkg:docker/busybox@1.36, pkg:docker/node@20?platform=linux%2Famd64")} with input as inp
}

test_git_and_http_materials_not_checked if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02([pinned_alpine, git_material, http_material, {"uri": "https://example.com/x.tgz", "digest": {}}]))]}
	count(pinned_base_images.deny) == 0 with input as inp
}

test_no_provenance_is_not_this_policys_business if {
	count(pinned_base_images.deny) == 0 with input as {"image": image_amd64, "attestations": [att(spdx, hex_amd64, "platform", {})]}
	count(pinned_base_images.warn) == 0 with input as {"image": image_amd64, "attestations": [att(spdx, hex_amd64, "platform", {})]}
	count(pinned_base_images.deny) == 0 with input as {"image": image_amd64}
}

test_provenance_about_other_digest_ignored if {
	atts := [att(slsa02, hex_arm64, "platform", v02([unpinned_node])), att(slsa02, hex_other, "index", v02([unpinned_node]))]
	count(pinned_base_images.deny) == 0 with input as {"image": image_amd64, "attestations": atts}
	count(pinned_base_images.warn) == 0 with input as {"image": image_amd64, "attestations": atts}
	pinned_base_images.deny == {concat("", [
		"pinned-base-images: docker.io/library/nginx-custom:1.25 (linux/arm64) was built from image materials without a sha256 digest: ",
		"pkg:docker/node@20?platform=linux%2Famd64",
		". Pin them by digest (FROM name:tag@sha256:...) and rebuild with a builder that records material digests.",
	])} with input as {"image": image_arm64, "attestations": atts}
}

test_provenance_without_image_materials_warns if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02([git_material]))]}
	count(pinned_base_images.deny) == 0 with input as inp
	pinned_base_images.warn == {no_materials_warning} with input as inp
	inp2 := {"image": image_amd64, "attestations": [att(slsa1, hex_amd64, "platform", object.remove(v1([]), ["buildDefinition"]))]}
	pinned_base_images.warn == {no_materials_warning} with input as inp2
}

test_malformed_materials_never_error if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02([
		"pkg:docker/alpine@3.19",
		7,
		{"uri": 12},
		{"digest": {"sha256": "e9481786b25a2b7875083f96ef05b5a6ae7b715d3d3f44c4b757cf056878bbec"}},
		{"uri": "pkg:docker/debian@12", "digest": "sha256:e9481786b25a2b7875083f96ef05b5a6ae7b715d3d3f44c4b757cf056878bbec"},
		{"uri": "pkg:docker/ubuntu@24.04", "digest": {"sha256": 5}},
	]))]}
	pinned_base_images.deny == {unpinned_msg("pkg:docker/debian@12, pkg:docker/ubuntu@24.04")} with input as inp
	count(pinned_base_images.warn) == 0 with input as inp
}

test_materials_not_a_list if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02({"uri": "pkg:docker/node@20"}))]}
	count(pinned_base_images.deny) == 0 with input as inp
	pinned_base_images.warn == {no_materials_warning} with input as inp
}
