//! The provenance summary of `input.image.provenance`, with buildx's field
//! names and meanings, from SLSA provenance v0.2 or v1 statements.

use serde_json::{Map, Value};

pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

pub fn is_provenance(predicate_type: &str) -> bool {
    predicate_type == SLSA_V02
        || predicate_type == SLSA_V1
        || predicate_type.starts_with("https://slsa.dev/provenance/v1.")
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn get_str(v: &Value, path: &[&str]) -> Option<String> {
    get(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// An RFC 3339 time re-formatted as buildx does (UTC, whole seconds).
pub fn format_time_utc(s: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

/// An RFC 3339 time at whole seconds, offset kept (buildx's `createdTime`).
pub fn format_time_keep_offset(s: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn insert_str(out: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(v) = value {
        out.insert(key.into(), Value::String(v));
    }
}

fn string_map(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), Value::String(s.to_owned()))))
                .collect()
        })
        .unwrap_or_default()
}

fn flag(v: Option<&Value>) -> Value {
    Value::Bool(v.and_then(Value::as_bool).unwrap_or(false))
}

/// The summary of one provenance statement, or `None` when the predicate has
/// neither a build type nor a builder id (buildx skips those too).
pub fn summarize(predicate_type: &str, statement: &Value) -> Option<Value> {
    let p = statement.get("predicate")?;
    let v1 = predicate_type != SLSA_V02;
    let mut out = Map::new();
    out.insert(
        "predicateType".into(),
        Value::String(predicate_type.to_owned()),
    );
    let (build_type, builder_id) = if v1 {
        (
            get_str(p, &["buildDefinition", "buildType"]),
            get_str(p, &["runDetails", "builder", "id"]),
        )
    } else {
        (get_str(p, &["buildType"]), get_str(p, &["builder", "id"]))
    };
    if build_type.is_none() && builder_id.is_none() {
        return None;
    }
    insert_str(&mut out, "buildType", build_type);
    insert_str(&mut out, "builderID", builder_id);

    let (config_source, request) = if v1 {
        let ext = get(p, &["buildDefinition", "externalParameters"]);
        (
            ext.and_then(|e| e.get("configSource")),
            ext.and_then(|e| e.get("request")),
        )
    } else {
        (
            get(p, &["invocation", "configSource"]),
            get(p, &["invocation", "parameters"]),
        )
    };
    let mut cs = Map::new();
    if let Some(c) = config_source {
        insert_str(&mut cs, "uri", get_str(c, &["uri"]));
        let digest = string_map(c.get("digest"));
        if !digest.is_empty() {
            cs.insert("digest".into(), Value::Object(digest));
        }
        let path = if v1 {
            get_str(c, &["path"])
        } else {
            get_str(c, &["entryPoint"])
        };
        insert_str(&mut cs, "path", path);
    }
    out.insert("configSource".into(), Value::Object(cs));
    if let Some(r) = request {
        insert_str(&mut out, "frontend", get_str(r, &["frontend"]));
        let raw = string_map(r.get("args"));
        let build_args: Map<String, Value> = raw
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("build-arg:")
                    .map(|k| (k.to_owned(), v.clone()))
            })
            .collect();
        if !build_args.is_empty() {
            out.insert("buildArgs".into(), Value::Object(build_args));
        }
        if !raw.is_empty() {
            out.insert("rawArgs".into(), Value::Object(raw));
        }
    }

    let metadata = if v1 {
        get(p, &["runDetails", "metadata"])
    } else {
        get(p, &["metadata"])
    };
    if let Some(m) = metadata.filter(|m| m.is_object()) {
        if v1 {
            insert_str(&mut out, "invocationID", get_str(m, &["invocationID"]));
            insert_str(
                &mut out,
                "startedOn",
                get_str(m, &["startedOn"]).and_then(|t| format_time_utc(&t)),
            );
            insert_str(
                &mut out,
                "finishedOn",
                get_str(m, &["finishedOn"]).and_then(|t| format_time_utc(&t)),
            );
            out.insert("reproducible".into(), flag(m.get("buildkit_reproducible")));
            out.insert("hermetic".into(), flag(m.get("buildkit_hermetic")));
            let c = m.get("buildkit_completeness");
            let mut completeness = Map::new();
            completeness.insert("parameters".into(), flag(c.and_then(|c| c.get("request"))));
            completeness.insert(
                "materials".into(),
                flag(c.and_then(|c| c.get("resolvedDependencies"))),
            );
            out.insert("completeness".into(), Value::Object(completeness));
        } else {
            insert_str(&mut out, "invocationID", get_str(m, &["buildInvocationID"]));
            insert_str(
                &mut out,
                "startedOn",
                get_str(m, &["buildStartedOn"]).and_then(|t| format_time_utc(&t)),
            );
            insert_str(
                &mut out,
                "finishedOn",
                get_str(m, &["buildFinishedOn"]).and_then(|t| format_time_utc(&t)),
            );
            out.insert("reproducible".into(), flag(m.get("reproducible")));
            out.insert(
                "hermetic".into(),
                flag(m.get("https://mobyproject.org/buildkit@v1#hermetic")),
            );
            let c = m.get("completeness");
            let mut completeness = Map::new();
            for k in ["parameters", "environment", "materials"] {
                completeness.insert(k.into(), flag(c.and_then(|c| c.get(k))));
            }
            out.insert("completeness".into(), Value::Object(completeness));
        }
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slsa_v02_buildkit() {
        let st = json!({"predicate": {
            "builder": {"id": "https://github.com/o/r/actions/runs/1"},
            "buildType": "https://mobyproject.org/buildkit@v1",
            "invocation": {"configSource": {"uri": "https://github.com/o/r.git#refs/tags/v1", "digest": {"sha1": "52b0"}, "entryPoint": "Dockerfile"},
                           "parameters": {"frontend": "dockerfile.v0", "args": {"build-arg:FOO": "1", "source": "x"}}},
            "metadata": {"buildInvocationID": "inv", "buildStartedOn": "2024-04-29T10:23:45.125886079Z",
                         "completeness": {"parameters": true, "environment": true}, "reproducible": false}}});
        let s = summarize(SLSA_V02, &st).unwrap();
        assert_eq!(s["builderID"], "https://github.com/o/r/actions/runs/1");
        assert_eq!(
            s["configSource"],
            json!({"uri": "https://github.com/o/r.git#refs/tags/v1", "digest": {"sha1": "52b0"}, "path": "Dockerfile"})
        );
        assert_eq!(s["frontend"], "dockerfile.v0");
        assert_eq!(s["buildArgs"], json!({"FOO": "1"}));
        assert_eq!(s["rawArgs"]["source"], "x");
        assert_eq!(s["startedOn"], "2024-04-29T10:23:45Z");
        assert_eq!(
            s["completeness"],
            json!({"parameters": true, "environment": true, "materials": false})
        );
        assert_eq!(s["hermetic"], false);
        assert!(s.get("finishedOn").is_none());
    }

    #[test]
    fn slsa_v1_buildkit() {
        let st = json!({"predicate": {
            "buildDefinition": {"buildType": "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md",
                "externalParameters": {"configSource": {"uri": "https://github.com/o/r.git", "path": "Dockerfile"},
                                       "request": {"frontend": "gateway.v0", "args": {"build-arg:A": "b"}}}},
            "runDetails": {"builder": {"id": "https://builder.example/1"},
                "metadata": {"invocationID": "i1", "startedOn": "2025-01-02T03:04:05+01:00", "finishedOn": "2025-01-02T03:05:05Z",
                             "buildkit_completeness": {"request": true, "resolvedDependencies": true}, "buildkit_hermetic": true}}}});
        let s = summarize(SLSA_V1, &st).unwrap();
        assert_eq!(s["builderID"], "https://builder.example/1");
        assert_eq!(s["startedOn"], "2025-01-02T02:04:05Z");
        assert_eq!(
            s["completeness"],
            json!({"parameters": true, "materials": true})
        );
        assert_eq!(s["hermetic"], true);
        assert_eq!(s["reproducible"], false);
        assert_eq!(s["buildArgs"], json!({"A": "b"}));
        assert_eq!(s["configSource"]["path"], "Dockerfile");
    }

    #[test]
    fn empty_predicate_is_no_summary() {
        assert!(summarize(SLSA_V02, &json!({"predicate": {}})).is_none());
        assert!(summarize(SLSA_V02, &json!({})).is_none());
    }
}
