//! Finding an image's attestations and reading them: discovery across
//! sources, in-toto statements, DSSE envelopes, and the `input.image` view.

pub mod discover;
pub mod dsse;
pub mod image;
pub mod provenance;
pub mod statement;

pub use discover::{
    Attestation, PlatformImage, PlatformSelection, ResolveError, ResolvedImage, Resolver,
    ResolverOptions, Source, SubjectBinding,
};
