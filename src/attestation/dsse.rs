//! DSSE envelopes (`application/vnd.dsse.envelope.v1+json`) and Sigstore
//! bundles that carry one. Signatures are recorded, not yet verified: the
//! policy input says `verified: false`, and `keyid` is only ever a hint.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;

pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub keyid: Option<String>,
    pub sig: Vec<u8>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("malformed DSSE envelope: {0}")]
    Shape(String),
}

#[derive(Deserialize)]
struct RawEnvelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: Option<String>,
    #[serde(default)]
    sig: String,
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .ok()
}

impl Envelope {
    pub fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        Envelope::from_raw(raw)
    }

    /// A Sigstore bundle (v0.1–v0.3): its DSSE envelope, or `None` for a
    /// bundle holding a message signature (a signature, not an attestation).
    pub fn parse_bundle(bytes: &[u8]) -> Result<Option<Envelope>, EnvelopeError> {
        #[derive(Deserialize)]
        struct Bundle {
            #[serde(rename = "dsseEnvelope")]
            dsse_envelope: Option<RawEnvelope>,
            #[serde(rename = "messageSignature")]
            message_signature: Option<serde_json::Value>,
        }
        let bundle: Bundle =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        match (bundle.dsse_envelope, bundle.message_signature) {
            (Some(raw), _) => Envelope::from_raw(raw).map(Some),
            (None, Some(_)) => Ok(None),
            (None, None) => Err(EnvelopeError::Shape(
                "the Sigstore bundle holds neither a DSSE envelope nor a message signature".into(),
            )),
        }
    }

    fn from_raw(raw: RawEnvelope) -> Result<Envelope, EnvelopeError> {
        let payload = decode_b64(&raw.payload)
            .ok_or_else(|| EnvelopeError::Shape("payload is not base64".into()))?;
        let signatures = raw
            .signatures
            .into_iter()
            .map(|s| {
                Ok(Signature {
                    keyid: s.keyid.filter(|k| !k.is_empty()),
                    sig: decode_b64(&s.sig)
                        .ok_or_else(|| EnvelopeError::Shape("a signature is not base64".into()))?,
                })
            })
            .collect::<Result<Vec<_>, EnvelopeError>>()?;
        Ok(Envelope {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    /// The bytes a DSSE signature covers.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_builds_pae() {
        let e = Envelope::parse(
            br#"{"payload":"aGVsbG8gd29ybGQ=","payloadType":"http://example.com/HelloWorld","signatures":[{"keyid":"","sig":"AAEC"}]}"#,
        )
        .unwrap();
        assert_eq!(e.payload, b"hello world");
        assert_eq!(e.signatures[0].keyid, None);
        assert_eq!(
            e.pae(),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn rejects_malformed() {
        assert!(Envelope::parse(b"{}").is_err());
        assert!(Envelope::parse(br#"{"payload":"***","payloadType":"x"}"#).is_err());
        assert_eq!(
            Envelope::parse_bundle(br#"{"messageSignature":{}}"#),
            Ok(None)
        );
        assert!(Envelope::parse_bundle(br#"{"mediaType":"x"}"#).is_err());
    }
}
