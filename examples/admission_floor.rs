//! The load test's floor: the same TLS stack and HTTP server as `attestgate
//! serve` (rustls with ring, hyper via axum, the same accept loop), answering
//! every AdmissionReview with `allowed: true` after decoding it, judging
//! nothing. What attestgate costs is measured against this.
//!
//! `cargo run --release --example admission_floor -- LISTEN CERT KEY`

use std::sync::Arc;
use std::time::Duration;

use attestgate::admission::review;
use attestgate::admission::server::serve_https;
use attestgate::admission::tls::{CertStore, server_config};
use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;

async fn validate(body: Bytes) -> axum::response::Response {
    match review::parse(&body) {
        Ok(request) => {
            let response = review::Response {
                uid: request.uid,
                allowed: true,
                ..Default::default()
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                response.into_review().to_string(),
            )
                .into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, cert, key] = args.as_slice() else {
        eprintln!("usage: admission_floor LISTEN CERT KEY");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let certs =
            Arc::new(CertStore::from_files(cert.as_ref(), key.as_ref()).expect("certificate"));
        let tls = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(certs).expect("tls")));
        let listener = tokio::net::TcpListener::bind(listen).await.expect("listen");
        let app = Router::new().route("/validate", post(validate));
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        eprintln!("admission floor listening on {listen}");
        serve_https(listener, tls, app, stop_rx, Duration::from_secs(1)).await;
    });
}
