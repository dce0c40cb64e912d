//! The admission webhook: the HTTPS server, AdmissionReview decoding and
//! responses, the cluster view (nodes, pull secrets), live policies, TLS.

pub mod cluster;
pub mod policies;
pub mod review;
pub mod server;
pub mod tls;
pub mod webhook;
