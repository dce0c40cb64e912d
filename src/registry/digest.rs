//! Content digests (`sha256:<hex>` / `sha512:<hex>`) and their verification.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha512};

/// A validated content digest. Only algorithms we can verify are accepted, so
/// every digest that exists in the program can be checked against bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid digest {value:?}: {reason}")]
pub struct DigestError {
    pub value: String,
    pub reason: &'static str,
}

impl Digest {
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let err = |reason| DigestError {
            value: value.chars().take(160).collect(),
            reason,
        };
        let (algorithm, hex) = value
            .split_once(':')
            .ok_or_else(|| err("expected <algorithm>:<hex>"))?;
        let len = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => {
                return Err(err(
                    "unsupported algorithm (sha256 and sha512 are supported)",
                ));
            }
        };
        if hex.len() != len {
            return Err(err("wrong length for its algorithm"));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(err("not lowercase hex"));
        }
        Ok(Digest(value.to_owned()))
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map(|(a, _)| a).unwrap_or_default()
    }

    pub fn hex(&self) -> &str {
        self.0.split_once(':').map(|(_, h)| h).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `bytes` hash to this digest, with this digest's algorithm.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        let computed = match self.algorithm() {
            "sha512" => hex::encode(Sha512::digest(bytes)),
            _ => hex::encode(Sha256::digest(bytes)),
        };
        computed == self.hex()
    }

    /// The referrers fallback tag of this digest (`sha256-<hex>`).
    pub fn fallback_tag(&self) -> String {
        format!("{}-{}", self.algorithm(), self.hex())
    }

    /// The cosign attestation tag of this digest (`sha256-<hex>.att`).
    pub fn cosign_attestation_tag(&self) -> String {
        format!("{}-{}.att", self.algorithm(), self.hex())
    }

    /// A short form for messages (`sha256:0123456789ab`).
    pub fn short(&self) -> &str {
        let end = (self.algorithm().len() + 1 + 12).min(self.0.len());
        &self.0[..end]
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Digest::parse(&value)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_verifies() {
        let d = Digest::sha256_of(b"hello");
        assert_eq!(
            d.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(d.matches(b"hello"));
        assert!(!d.matches(b"hello!"));
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        assert_eq!(d.fallback_tag(), format!("sha256-{}", d.hex()));
        assert_eq!(
            d.cosign_attestation_tag(),
            format!("sha256-{}.att", d.hex())
        );
        assert_eq!(d.short(), "sha256:2cf24dba5fb0");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "sha256",
            "sha256:abc",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
            "sha256:../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sha512_verifies() {
        let hex = hex::encode(Sha512::digest(b"x"));
        let d = Digest::parse(&format!("sha512:{hex}")).unwrap();
        assert!(d.matches(b"x"));
    }
}
