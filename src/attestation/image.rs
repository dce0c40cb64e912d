//! `input.image`: the buildx build-policy view of one platform of an image
//! (same field names and meanings, fields absent when empty or false, as
//! buildx's `omitempty` makes them), plus `digest` and `index`.

use serde_json::{Map, Value};

use super::discover::{PlatformImage, ResolvedImage, SubjectBinding};
use super::provenance;

pub fn image_input(resolved: &ResolvedImage, p: &PlatformImage) -> Value {
    let r = &resolved.reference;
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        let empty = match &v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::Number(_) => false,
        };
        if !empty {
            m.insert(k.to_owned(), v);
        }
    };
    put("ref", r.normalized().into());
    put("host", r.registry.clone().into());
    put("repo", r.familiar_repo().into());
    put("fullRepo", r.full_repo().into());
    put("tag", r.tag.clone().unwrap_or_default().into());
    put("isCanonical", r.digest.is_some().into());
    put("checksum", resolved.root.as_str().into());
    put("platform", p.platform.to_string().into());
    put("os", p.platform.os.clone().into());
    put("arch", p.platform.architecture.clone().into());
    put(
        "variant",
        p.platform.variant.clone().unwrap_or_default().into(),
    );
    put("digest", p.manifest.as_str().into());
    put(
        "index",
        resolved
            .index
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default()
            .into(),
    );

    let c = &p.config;
    put(
        "createdTime",
        c.created
            .as_deref()
            .and_then(provenance::format_time_keep_offset)
            .unwrap_or_default()
            .into(),
    );
    put("env", c.config.env.clone().into());
    put(
        "labels",
        Value::Object(
            c.config
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
        ),
    );
    put("user", c.config.user.clone().into());
    put(
        "volumes",
        c.config.volumes.keys().cloned().collect::<Vec<_>>().into(),
    );
    put("workingDir", c.config.working_dir.clone().into());

    // The first provenance statement about the platform manifest (then the
    // index) that has a builder id or build type.
    let summary = [SubjectBinding::Platform, SubjectBinding::Index]
        .iter()
        .flat_map(|binding| p.attestations.iter().filter(move |a| a.subject == *binding))
        .filter(|a| provenance::is_provenance(a.predicate_type()))
        .find_map(|a| provenance::summarize(a.predicate_type(), &a.blob.statement.json));
    // buildx: true when the image has an attestation manifest or provenance.
    put(
        "hasProvenance",
        (summary.is_some() || !p.attestations.is_empty()).into(),
    );
    if let Some(s) = summary {
        put("provenance", s);
    }
    Value::Object(m)
}

/// `{"image": ..., "attestations": [...]}` for one platform: what a policy
/// sees at `input.image` and `input.attestations`.
pub fn platform_view(_resolved: &ResolvedImage, p: &PlatformImage) -> Value {
    let mut m = Map::new();
    m.insert("image".into(), (*p.image).clone());
    m.insert(
        "attestations".into(),
        Value::Array(p.attestations.iter().map(|a| a.to_json()).collect()),
    );
    Value::Object(m)
}
