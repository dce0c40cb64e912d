//! The token service in front of the token-auth distribution registry
//! (distribution implements the registry side of the Docker token flow; the
//! token service is always a separate program). It issues ES256 JWTs signed
//! with the key whose certificate distribution trusts. Repositories under
//! `public/` are pullable anonymously; anything else needs the test user.

use std::convert::Infallible;
use std::sync::OnceLock;

use base64::Engine as _;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use serde_json::json;

pub const USER: &str = "token-user";
pub const PASSWORD: &str = "token-pass";
pub const SERVICE: &str = "attestgate-test-registry";
pub const ISSUER: &str = "attestgate-test-issuer";

struct Signer {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
}

fn signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        use rustls_pki_types::pem::PemObject as _;
        let key_path = std::env::var("ATTESTGATE_TEST_TOKEN_KEY").unwrap();
        let cert_path = std::env::var("ATTESTGATE_TEST_TOKEN_CERT").unwrap();
        let pk8 = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_file(&key_path).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pk8.secret_pkcs8_der(),
            &rng,
        )
        .unwrap();
        let cert = rustls_pki_types::CertificateDer::from_pem_file(&cert_path).unwrap();
        Signer {
            key,
            cert_der: cert.to_vec(),
        }
    })
}

/// A token granting `actions` on `repository`.
pub fn mint(repository: &str, actions: &[&str]) -> String {
    let s = signer();
    let b64u = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let b64 = base64::engine::general_purpose::STANDARD;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [b64.encode(&s.cert_der)]});
    let claims = json!({
        "iss": ISSUER, "sub": "test", "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", super::unique_repo("jti")),
        "access": [{"type": "repository", "name": repository, "actions": actions}]
    });
    let signing_input = format!(
        "{}.{}",
        b64u.encode(serde_json::to_vec(&header).unwrap()),
        b64u.encode(serde_json::to_vec(&claims).unwrap())
    );
    let sig = s
        .key
        .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
        .unwrap();
    format!("{signing_input}.{}", b64u.encode(sig.as_ref()))
}

/// How many token requests the service has answered.
pub static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let query = req.uri().query().unwrap_or_default().to_owned();
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect();
    let scope = params
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|d| d == format!("{USER}:{PASSWORD}").as_bytes());
    let has_wrong_credentials = req.headers().contains_key("authorization") && !authorized;
    let repository = scope
        .strip_prefix("repository:")
        .and_then(|s| s.rsplit_once(':'))
        .map(|(name, _)| name.to_owned())
        .unwrap_or_default();
    if service != SERVICE || has_wrong_credentials {
        return Ok(Response::builder()
            .status(401)
            .body(Full::new(Bytes::from_static(
                b"{\"details\":\"bad credentials\"}",
            )))
            .unwrap());
    }
    // Anonymous callers get a token with no access to private repositories;
    // the registry then refuses it, as real token services do.
    let actions: &[&str] = if authorized || repository.starts_with("public/") {
        &["pull"]
    } else {
        &[]
    };
    let token = mint(&repository, actions);
    let body = json!({"token": token, "access_token": token, "expires_in": 300});
    Ok(Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&body).unwrap(),
    ))))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts the token service once per test process, on its own runtime.
pub fn ensure_running() -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| {
        let Ok(port) = std::env::var("ATTESTGATE_TEST_TOKEN_PORT") else {
            return false;
        };
        super::serve_in_background(format!("127.0.0.1:{port}"), |listener| async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, hyper::service::service_fn(handle))
                        .await;
                });
            }
        })
        .is_some()
    })
}
