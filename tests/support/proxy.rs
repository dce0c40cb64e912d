//! An HTTP proxy in front of a real registry that counts every request by
//! method and path, can add latency to each answer, and can be stopped (the
//! registry "goes down": connections are then refused).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};

/// One request seen by the proxy: what, and when it started and ended.
#[derive(Debug, Clone)]
pub struct Seen {
    pub what: String,
    pub start: std::time::Instant,
    pub end: std::time::Instant,
}

pub struct Proxy {
    pub addr: String,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    timeline: Arc<Mutex<Vec<Seen>>>,
    pub delay_ms: Arc<AtomicU64>,
    stopped: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Proxy {
    /// `(method path)` → how many times it was asked for.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap().clone()
    }

    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
        self.timeline.lock().unwrap().clear();
    }

    pub fn timeline(&self) -> Vec<Seen> {
        self.timeline.lock().unwrap().clone()
    }

    /// The longest chain of requests each of which started after the
    /// previous one ended: how many round trips had to happen one after
    /// another.
    pub fn sequential_depth(&self) -> usize {
        let mut seen = self.timeline();
        seen.sort_by_key(|s| s.start);
        let mut depth = vec![1usize; seen.len()];
        for j in 0..seen.len() {
            for i in 0..j {
                if seen[i].end <= seen[j].start {
                    depth[j] = depth[j].max(depth[i] + 1);
                }
            }
        }
        depth.into_iter().max().unwrap_or(0)
    }

    /// Stops listening: the port refuses connections from now on.
    pub fn stop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a proxy to `upstream` (`host:port`, plain HTTP) on its own thread.
pub fn start(upstream: &str) -> Proxy {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let timeline = Arc::new(Mutex::new(Vec::new()));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let upstream = upstream.to_owned();
    let state = Shared {
        counts: counts.clone(),
        timeline: timeline.clone(),
        delay: delay_ms.clone(),
    };
    let s = stopped.clone();
    let addr = super::serve_in_background("127.0.0.1:0".into(), move |listener| async move {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        loop {
            let (stream, _) = tokio::select! {
                a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                _ = &mut stop_rx => return,
            };
            if s.load(Ordering::SeqCst) {
                return;
            }
            let (client, upstream, state) = (client.clone(), upstream.clone(), state.clone());
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        forward(client.clone(), upstream.clone(), state.clone(), req)
                    });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    })
    .unwrap();
    Proxy {
        addr,
        counts,
        timeline,
        delay_ms,
        stopped,
        stop: Some(stop_tx),
    }
}

#[derive(Clone)]
struct Shared {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    timeline: Arc<Mutex<Vec<Seen>>>,
    delay: Arc<AtomicU64>,
}

async fn forward(
    client: reqwest::Client,
    upstream: String,
    state: Shared,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let start = std::time::Instant::now();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let what = format!("{} {path}", req.method());
    *state
        .counts
        .lock()
        .unwrap()
        .entry(what.clone())
        .or_insert(0) += 1;
    let ms = state.delay.load(Ordering::Relaxed);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut fwd = client.request(req.method().clone(), format!("http://{upstream}{path}"));
    for (k, v) in req.headers() {
        if k != "host" {
            fwd = fwd.header(k, v);
        }
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let resp = match fwd.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return Ok(Response::builder()
                .status(502)
                .body(Full::new(Bytes::from(e.to_string())))
                .unwrap());
        }
    };
    let mut out = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        if k != "transfer-encoding" && k != "connection" {
            out = out.header(k, v);
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    state.timeline.lock().unwrap().push(Seen {
        what,
        start,
        end: std::time::Instant::now(),
    });
    Ok(out.body(Full::new(bytes)).unwrap())
}
