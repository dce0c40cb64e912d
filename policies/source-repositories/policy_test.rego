package attestgate.source_repositories_test

import data.attestgate.source_repositories

# sha256("amd64"), sha256("arm64"), sha256("index"), sha256("other")
hex_amd64 := "5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51"

hex_arm64 := "f69162950f235e3cdbbad33f1f912d1a504be90d8a37d002c735d6f3e3882265"

hex_index := "1bc04b5291c26a46d918139138b992d2de976d6851d0893b0476b85bfbdfc6e6"

hex_other := "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"

image(arch, hex) := {
	"ref": "docker.io/example/web:3.2.0",
	"host": "docker.io",
	"repo": "example/web",
	"fullRepo": "docker.io/example/web",
	"tag": "3.2.0",
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

buildkit_metadata_key := "https://mobyproject.org/buildkit@v1#metadata"

# BuildKit SLSA v0.2, local context: only the git metadata names the repository.
v02_local(vcs_source) := {
	"builder": {"id": ""},
	"buildType": "https://mobyproject.org/buildkit@v1",
	"invocation": {
		"configSource": {"entryPoint": "Dockerfile"},
		"parameters": {"frontend": "dockerfile.v0"},
		"environment": {"platform": "linux/amd64"},
	},
	"materials": [],
	"metadata": {
		"buildInvocationID": "z9y8x7w6v5u4t3s2r1",
		buildkit_metadata_key: {"vcs": {"source": vcs_source, "revision": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"}},
	},
}

# BuildKit SLSA v0.2, remote git context.
v02_remote(uri) := {
	"builder": {"id": ""},
	"buildType": "https://mobyproject.org/buildkit@v1",
	"invocation": {
		"configSource": {"uri": uri, "digest": {"sha1": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"}, "entryPoint": "Dockerfile"},
		"parameters": {"frontend": "dockerfile.v0"},
	},
	"metadata": {},
}

# BuildKit SLSA v1.
v1_buildkit(config_uri, vcs_source) := {
	"buildDefinition": {
		"buildType": "https://mobyproject.org/buildkit@v1",
		"externalParameters": {
			"configSource": {"uri": config_uri, "digest": {"sha1": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"}, "path": "Dockerfile"},
			"request": {"frontend": "dockerfile.v0"},
		},
		"resolvedDependencies": [],
	},
	"runDetails": {
		"builder": {"id": ""},
		"metadata": {
			"invocationID": "z9y8x7w6v5u4t3s2r1",
			"buildkit_metadata": {"vcs": {"source": vcs_source, "revision": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"}},
		},
	},
}

# GitHub Actions artifact attestation (SLSA v1).
v1_github(repository) := {
	"buildDefinition": {
		"buildType": "https://actions.github.io/buildtypes/workflow/v1",
		"externalParameters": {"workflow": {"ref": "refs/tags/v3.2.0", "repository": repository, "path": ".github/workflows/release.yml"}},
	},
	"runDetails": {"builder": {"id": "https://github.com/actions/runner/github-hosted"}},
}

att(ptype, hex, bound, predicate) := {
	"predicateType": ptype,
	"statement": {
		"_type": "https://in-toto.io/Statement/v0.1",
		"subject": [{"name": "pkg:docker/example/web@3.2.0", "digest": {"sha256": hex}}],
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

allowed := ["https://github.com/example/*", "git@gitlab.example.com:platform/web-frontend.git"]

allowed_text := "https://github.com/example/*, https://gitlab.example.com/platform/web-frontend"

where := "docker.io/example/web:3.2.0 (linux/amd64)"

not_allowed_msg(sources_text) := concat("", [
	"source-repositories: ", where, " was built from ", sources_text,
	", which is not an allowed repository; allowed repositories: ", allowed_text, ".",
])

no_source_msg := concat("", [
	"source-repositories: ", where, " has no SLSA provenance naming its source repository; allowed repositories: ",
	allowed_text, ". Build from a git context or with BuildKit's git metadata (--provenance=mode=max).",
])

# --- unconfigured ---

test_unconfigured_is_inactive if {
	count(source_repositories.deny) == 0 with input as {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02_local("git@github.com:evil/x.git"))]}
	count(source_repositories.deny) == 0 with input as {"image": image_amd64, "attestations": []}
	count(source_repositories.deny) == 0 with input as {"image": image_amd64} with data.attestgate.source_repositories.repositories as []
}

# --- configured ---

test_v02_vcs_metadata_scp_url_allowed if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02_local("git@github.com:example/web.git"))]}
	count(source_repositories.deny) == 0 with input as inp with data.attestgate.source_repositories.repositories as allowed
}

test_v02_config_source_with_fragment_allowed if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02_remote("https://github.com/example/web.git#refs/tags/v3.2.0"))]}
	count(source_repositories.deny) == 0 with input as inp with data.attestgate.source_repositories.repositories as allowed
}

test_v1_config_source_index_bound_allowed if {
	pred := v1_buildkit("git+https://gitlab.example.com/platform/web-frontend.git#main:docker", "")
	inp := {"image": image_arm64, "attestations": [att(slsa1, hex_index, "index", pred)]}
	count(source_repositories.deny) == 0 with input as inp with data.attestgate.source_repositories.repositories as allowed
}

test_v1_vcs_metadata_allowed if {
	pred := object.remove(v1_buildkit("", "https://github.com/Example/Web.git"), ["buildDefinition"])
	inp := {"image": image_amd64, "attestations": [att(slsa1, hex_amd64, "platform", pred)]}
	count(source_repositories.deny) == 0 with input as inp with data.attestgate.source_repositories.repositories as allowed
}

test_github_workflow_repository_allowed if {
	inp := {"image": image_amd64, "attestations": [att(slsa1, hex_amd64, "platform", v1_github("https://github.com/example/web"))]}
	count(source_repositories.deny) == 0 with input as inp with data.attestgate.source_repositories.repositories as allowed
}

test_disallowed_repository_denied if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02_local("git@github.com:someone-else/web.git"))]}
	source_repositories.deny == {not_allowed_msg("https://github.com/someone-else/web")} with input as inp
		with data.attestgate.source_repositories.repositories as allowed
}

test_star_matches_one_segment_only if {
	inp := {"image": image_amd64, "attestations": [att(slsa1, hex_amd64, "platform", v1_github("https://github.com/example/web/extra"))]}
	source_repositories.deny == {not_allowed_msg("https://github.com/example/web/extra")} with input as inp
		with data.attestgate.source_repositories.repositories as allowed
	count(source_repositories.deny) == 0 with input as inp with data.attestgate.source_repositories.repositories as ["https://github.com/example/**"]
}

test_lookalike_host_denied if {
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", v02_remote("https://github.com.evil.example/example/web.git"))]}
	source_repositories.deny == {not_allowed_msg("https://github.com.evil.example/example/web")} with input as inp
		with data.attestgate.source_repositories.repositories as allowed
}

test_all_sources_listed_sorted_when_none_allowed if {
	pred := v1_buildkit("https://github.com/zeta/web.git#main", "git@github.com:alpha/web.git")
	inp := {"image": image_amd64, "attestations": [att(slsa1, hex_amd64, "platform", pred)]}
	source_repositories.deny == {not_allowed_msg("https://github.com/alpha/web, https://github.com/zeta/web")} with input as inp
		with data.attestgate.source_repositories.repositories as allowed
}

test_one_allowed_source_is_enough if {
	pred := v1_buildkit("https://github.com/example/web.git#main", "git@github.com:mirror/web.git")
	inp := {"image": image_amd64, "attestations": [att(slsa1, hex_amd64, "platform", pred)]}
	count(source_repositories.deny) == 0 with input as inp with data.attestgate.source_repositories.repositories as allowed
}

test_no_source_in_provenance_denied if {
	# Local build without git metadata: configSource has only an entryPoint.
	pred := object.remove(v02_local(""), ["metadata"])
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", pred)]}
	source_repositories.deny == {no_source_msg} with input as inp with data.attestgate.source_repositories.repositories as allowed
}

test_no_provenance_denied if {
	inp := {"image": image_amd64, "attestations": [att(spdx, hex_amd64, "platform", {})]}
	source_repositories.deny == {no_source_msg} with input as inp with data.attestgate.source_repositories.repositories as allowed
}

test_provenance_about_other_digest_ignored if {
	atts := [
		att(slsa02, hex_arm64, "platform", v02_local("git@github.com:example/web.git")),
		att(slsa02, hex_other, "index", v02_local("git@github.com:example/web.git")),
	]
	source_repositories.deny == {no_source_msg} with input as {"image": image_amd64, "attestations": atts}
		with data.attestgate.source_repositories.repositories as allowed
	count(source_repositories.deny) == 0 with input as {"image": image_arm64, "attestations": atts}
		with data.attestgate.source_repositories.repositories as allowed
}

test_summary_config_source_used if {
	img := object.union(image_amd64, {"provenance": {"predicateType": slsa02, "configSource": {"uri": "https://github.com/example/web.git#v3.2.0", "path": "Dockerfile"}}})
	count(source_repositories.deny) == 0 with input as {"image": img, "attestations": []}
		with data.attestgate.source_repositories.repositories as allowed
}

test_non_string_sources_ignored if {
	pred := v02_local({"url": "https://github.com/example/web"})
	inp := {"image": image_amd64, "attestations": [att(slsa02, hex_amd64, "platform", pred)]}
	source_repositories.deny == {no_source_msg} with input as inp with data.attestgate.source_repositories.repositories as allowed
}

test_normalisation if {
	source_repositories.normalize_source("git@github.com:docker/image-signer-verifier.git") == "https://github.com/docker/image-signer-verifier"
	source_repositories.normalize_source("https://github.com/moby/buildkit.git#refs/tags/v0.21.0") == "https://github.com/moby/buildkit"
	source_repositories.normalize_source("git+https://github.com/Org/Repo.git#main:sub") == "https://github.com/org/repo"
	source_repositories.normalize_source("ssh://git@github.com/org/repo.git") == "https://github.com/org/repo"
	source_repositories.normalize_source("https://x-access-token:secret@github.com/org/repo/") == "https://github.com/org/repo"
	source_repositories.normalize_source("https://github.com/org/repo.git?ref=v1&subdir=app") == "https://github.com/org/repo"
	source_repositories.normalize_source("git://example.com/a/b.git") == "https://example.com/a/b"
	source_repositories.normalize_source("https://gitlab.com/group/sub/project.git") == "https://gitlab.com/group/sub/project"
}
