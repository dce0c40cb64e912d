//! The admission webhook: AdmissionReview decoding and responses.

pub mod review;
