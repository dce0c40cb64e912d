//! Registry credentials: dockerconfigjson parsing and the kubelet's matching of
//! credential keys to images. Credential helpers named in a config are never
//! executed, and secrets never appear in `Debug` output or logs.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// One set of credentials for a registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// A bearer token used as is (`registrytoken` in a docker config).
    Bearer(String),
}

impl Credential {
    /// A short, non-reversible label for logs and cache keys.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        match self {
            Credential::Basic { username, password } => {
                h.update(b"basic\0");
                h.update(username.as_bytes());
                h.update(b"\0");
                h.update(password.as_bytes());
            }
            Credential::Bearer(t) => {
                h.update(b"bearer\0");
                h.update(t.as_bytes());
            }
        }
        hex::encode(&h.finalize()[..6])
    }

    pub fn username(&self) -> Option<&str> {
        match self {
            Credential::Basic { username, .. } => Some(username),
            Credential::Bearer(_) => None,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => {
                write!(f, "Basic({username}, password redacted)")
            }
            Credential::Bearer(_) => f.write_str("Bearer(redacted)"),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthConfigError {
    #[error("docker config {source_name}: not valid JSON ({detail})")]
    Json { source_name: String, detail: String },
    #[error("docker config {source_name}: entry {key:?}: {detail}")]
    Entry {
        source_name: String,
        key: String,
        detail: String,
    },
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Credentials keyed the way the kubelet keys them, most specific first.
#[derive(Clone, Default)]
pub struct Keyring {
    /// (schemeless key such as `registry.example.com/team`, credential)
    entries: Vec<(String, Credential)>,
    /// Names of credential helpers the configs asked for and we ignored.
    pub ignored_helpers: Vec<String>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(k, c)| format!("{k}: {c:?}")))
            .finish()
    }
}

impl Keyring {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses a `.dockerconfigjson` (`{"auths": {...}}`) or a legacy
    /// `.dockercfg` (the map itself) and adds its entries.
    pub fn add_docker_config(
        &mut self,
        source_name: &str,
        bytes: &[u8],
    ) -> Result<(), AuthConfigError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| AuthConfigError::Json {
                source_name: source_name.into(),
                detail: e.to_string(),
            })?;
        let obj = value.as_object().ok_or_else(|| AuthConfigError::Json {
            source_name: source_name.into(),
            detail: "expected an object".into(),
        })?;
        for helper_key in ["credsStore", "credHelpers"] {
            if let Some(v) = obj.get(helper_key) {
                self.ignored_helpers.push(format!("{helper_key}={v}"));
            }
        }
        let auths = match obj.get("auths") {
            Some(serde_json::Value::Object(a)) => a.clone(),
            Some(serde_json::Value::Null) => Default::default(),
            Some(_) => {
                return Err(AuthConfigError::Json {
                    source_name: source_name.into(),
                    detail: "\"auths\" must be an object".into(),
                });
            }
            None => obj
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "credsStore" | "credHelpers"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        // All entries or none: a bad one leaves the keyring as it was.
        let mut added: Vec<(String, Credential)> = Vec::new();
        for (key, entry) in auths {
            let entry_err = |detail: String| AuthConfigError::Entry {
                source_name: source_name.into(),
                key: key.clone(),
                detail,
            };
            let entry: AuthEntry =
                serde_json::from_value(entry).map_err(|e| entry_err(e.to_string()))?;
            let credential = credential_of(&entry).map_err(entry_err)?;
            let Some(credential) = credential else {
                continue;
            };
            added.push((normalise_key(&key), credential));
        }
        self.entries.extend(added);
        // Reverse lexicographic order puts longer (more specific) paths first,
        // as the kubelet's keyring does.
        self.entries.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(())
    }

    /// Appends another keyring's entries after this one's (lower priority for
    /// equal keys), keeping the most-specific-first order.
    pub fn extend(&mut self, other: &Keyring) {
        self.entries.extend(other.entries.iter().cloned());
        self.entries.sort_by(|a, b| b.0.cmp(&a.0));
        self.ignored_helpers
            .extend(other.ignored_helpers.iter().cloned());
    }

    /// Every credential that applies to `registry/repository`, in the order the
    /// kubelet would try them.
    pub fn lookup(&self, registry: &str, repository: &str) -> Vec<Credential> {
        let target = format!("{registry}/{repository}");
        let mut found: Vec<Credential> = self
            .entries
            .iter()
            .filter(|(key, _)| key_matches(key, &target))
            .map(|(_, c)| c.clone())
            .collect();
        if found.is_empty() && is_docker_hub(registry) {
            found = self
                .entries
                .iter()
                .filter(|(key, _)| is_docker_hub(key.split('/').next().unwrap_or_default()))
                .map(|(_, c)| c.clone())
                .collect();
        }
        found.dedup();
        found
    }
}

fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

fn credential_of(entry: &AuthEntry) -> Result<Option<Credential>, String> {
    if let Some(token) = entry.registrytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::Bearer(token.to_owned())));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = STANDARD
            .decode(auth.trim())
            .map_err(|_| "\"auth\" is not valid base64".to_owned())?;
        let decoded = String::from_utf8(decoded).map_err(|_| "\"auth\" is not UTF-8".to_owned())?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| "\"auth\" must decode to username:password".to_owned())?;
        return Ok(Some(Credential::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credential::Basic {
            username: u.clone(),
            password: p.clone(),
        })),
        _ if entry.identitytoken.is_some() => {
            Err("identity tokens (OAuth2 refresh tokens) are not supported; use a username and password or registrytoken".into())
        }
        _ => Ok(None),
    }
}

/// `https://index.docker.io/v1/` → `index.docker.io`; `http://host:5000/v2/team` →
/// `host:5000/team`.
fn normalise_key(key: &str) -> String {
    let key = key.trim();
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path
        .strip_prefix("v1/")
        .or_else(|| path.strip_prefix("v2/"))
        .or_else(|| {
            if path == "v1" || path == "v2" {
                Some("")
            } else {
                None
            }
        })
        .unwrap_or(path)
        .trim_end_matches('/');
    let host = host.to_ascii_lowercase();
    if path.is_empty() {
        host
    } else {
        format!("{host}/{path}")
    }
}

/// The kubelet's `URLsMatch`: same number of host labels, each matched as a
/// glob, equal ports, and the key's path a prefix of the image's path.
fn key_matches(key: &str, target: &str) -> bool {
    let (key_host, key_path) = key.split_once('/').unwrap_or((key, ""));
    let (target_host, target_path) = target.split_once('/').unwrap_or((target, ""));
    let split_port = |h: &str| match h.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
            (host.to_owned(), port.to_owned())
        }
        _ => (h.to_owned(), String::new()),
    };
    let (kh, kp) = split_port(key_host);
    let (th, tp) = split_port(&target_host.to_ascii_lowercase());
    if kp != tp {
        return false;
    }
    let key_labels: Vec<&str> = kh.split('.').collect();
    let target_labels: Vec<&str> = th.split('.').collect();
    if key_labels.len() != target_labels.len() {
        return false;
    }
    if !key_labels
        .iter()
        .zip(&target_labels)
        .all(|(k, t)| glob_label(k, t))
    {
        return false;
    }
    target_path.starts_with(key_path)
}

/// `filepath.Match` restricted to what appears in host labels: `*` and `?`.
fn glob_label(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(u: &str) -> Credential {
        Credential::Basic {
            username: u.into(),
            password: "pw".into(),
        }
    }

    fn keyring(json: &str) -> Keyring {
        let mut k = Keyring::default();
        k.add_docker_config("test", json.as_bytes()).unwrap();
        k
    }

    #[test]
    fn kubelet_matching_rules() {
        let auth = |u: &str| STANDARD.encode(format!("{u}:pw"));
        let k = keyring(&format!(
            r#"{{"auths":{{
                "https://index.docker.io/v1/":{{"auth":"{}"}},
                "registry.example.com":{{"auth":"{}"}},
                "registry.example.com/team":{{"auth":"{}"}},
                "*.corp.example":{{"username":"wild","password":"pw"}},
                "localhost:5000":{{"auth":"{}"}}
            }}}}"#,
            auth("hub"),
            auth("host"),
            auth("team"),
            auth("local")
        ));
        assert_eq!(k.lookup("docker.io", "library/nginx"), vec![basic("hub")]);
        assert_eq!(
            k.lookup("registry.example.com", "team/app"),
            vec![basic("team"), basic("host")]
        );
        assert_eq!(
            k.lookup("registry.example.com", "other/app"),
            vec![basic("host")]
        );
        assert_eq!(k.lookup("a.corp.example", "x"), vec![basic("wild")]);
        assert!(
            k.lookup("a.b.corp.example", "x").is_empty(),
            "glob spans one label"
        );
        assert_eq!(k.lookup("localhost:5000", "x"), vec![basic("local")]);
        assert!(
            k.lookup("localhost:5001", "x").is_empty(),
            "ports must match"
        );
        assert!(k.lookup("localhost", "x").is_empty());
        assert!(k.lookup("evil.com", "registry.example.com/x").is_empty());
    }

    #[test]
    fn legacy_dockercfg_and_helpers_ignored() {
        let k = keyring(r#"{"r.io":{"username":"u","password":"p"},"credsStore":"evil-helper"}"#);
        assert_eq!(
            k.lookup("r.io", "a"),
            vec![Credential::Basic {
                username: "u".into(),
                password: "p".into()
            }]
        );
        assert_eq!(k.ignored_helpers.len(), 1);
    }

    #[test]
    fn bad_configs_are_clear_errors() {
        let mut k = Keyring::default();
        let err = k.add_docker_config("s", b"{not json").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"));
        let err = k
            .add_docker_config("s", br#"{"auths":{"r.io":{"auth":"!!!"}}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("base64"), "{err}");
        let err = k
            .add_docker_config("s", br#"{"auths":{"r.io":{"auth":"bm9jb2xvbg=="}}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("username:password"), "{err}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credential::Basic {
            username: "user".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credential::Bearer("tok3n".into())).contains("tok3n"));
        let k = keyring(r#"{"auths":{"r.io":{"username":"u","password":"hunter2"}}}"#);
        assert!(!format!("{k:?}").contains("hunter2"));
        assert_eq!(c.fingerprint().len(), 12);
    }
}
