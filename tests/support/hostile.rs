//! A hostile registry stand-in: a raw TCP server answering each request with
//! whatever the test scripts, including answers no real registry would give
//! (endless pagination, a body that stops half-way).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many body bytes, then hold the connection open silently.
    pub stall_after: Option<usize>,
}

impl Reply {
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap(),
            stall_after: None,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

pub struct Hostile {
    pub addr: String,
    pub requests: Arc<AtomicU64>,
}

/// Starts the server on a background thread (it outlives the test's runtime).
pub fn start<F>(respond: F) -> Hostile
where
    F: Fn(&str) -> Reply + Send + Sync + 'static,
{
    let respond = Arc::new(respond);
    let requests = Arc::new(AtomicU64::new(0));
    let counter = requests.clone();
    let addr = super::serve_in_background("127.0.0.1:0".into(), move |listener| async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let respond = respond.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                while let Some(path) = super::read_request_target(&mut stream).await {
                    counter.fetch_add(1, Ordering::Relaxed);
                    let reply = respond(&path);
                    let mut out = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (k, v) in &reply.headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    if stream.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                    match reply.stall_after {
                        Some(n) => {
                            let _ = stream
                                .write_all(&reply.body[..n.min(reply.body.len())])
                                .await;
                            let _ = stream.flush().await;
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        None => {
                            if stream.write_all(&reply.body).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
    .unwrap();
    Hostile { addr, requests }
}
