//! The live policy set: loaded at start, reloaded when the files change, and
//! kept at the last good version when a change does not load.

use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::config::Policies;
use crate::policy::{PolicyError, PolicyOptions, PolicySet, Sources};

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    pub loaded: bool,
    pub fingerprint: String,
    pub modules: usize,
    /// The last reload failure, while it lasts (the last good set serves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

pub struct LivePolicies {
    settings: Policies,
    current: RwLock<Option<Arc<PolicySet>>>,
    status: RwLock<PolicyStatus>,
    /// Fingerprint of the sources last tried, good or bad.
    last_tried: RwLock<String>,
}

impl LivePolicies {
    pub fn new(settings: Policies) -> LivePolicies {
        LivePolicies {
            settings,
            current: RwLock::new(None),
            status: RwLock::new(PolicyStatus::default()),
            last_tried: RwLock::new(String::new()),
        }
    }

    fn sources(&self) -> Result<Sources, PolicyError> {
        let mut sources = if self.settings.include_default {
            Sources::embedded()
        } else {
            Sources::default()
        };
        sources.extend(Sources::read(&self.settings.paths, false)?);
        Ok(sources)
    }

    pub fn current(&self) -> Option<Arc<PolicySet>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    pub fn status(&self) -> PolicyStatus {
        self.status.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Loads the policies if their sources changed since the last attempt.
    /// `Ok(true)` when a new set is in place.
    pub fn reload(&self) -> Result<bool, PolicyError> {
        let result = self.sources().and_then(|sources| {
            let fingerprint = sources.fingerprint();
            if self
                .last_tried
                .read()
                .map(|t| *t == fingerprint)
                .unwrap_or(false)
            {
                return Ok(None);
            }
            if let Ok(mut t) = self.last_tried.write() {
                *t = fingerprint;
            }
            let options = PolicyOptions {
                eval_timeout: self.settings.eval_timeout.0,
                ..PolicyOptions::default()
            };
            PolicySet::compile(&sources, &options).map(Some)
        });
        let mut status = self.status.write().map_err(|_| PolicyError::Read {
            path: "policies".into(),
            detail: "status lock poisoned".into(),
        })?;
        match result {
            Ok(None) => Ok(false),
            Ok(Some(set)) => {
                status.loaded = true;
                status.fingerprint = set.fingerprint().to_owned();
                status.modules = set.module_paths().len();
                status.last_error = None;
                if let Ok(mut c) = self.current.write() {
                    *c = Some(Arc::new(set));
                }
                Ok(true)
            }
            Err(e) => {
                status.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }
}

impl Sources {
    /// A hash of every source's path and content.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        for f in self.modules.iter().chain(&self.data) {
            h.update(f.path.as_bytes());
            h.update([0]);
            h.update(f.contents.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..12])
    }
}
