//! The watermark plugin: forensic A/B marking at the last hop.
//!
//! The origin publishes two marked variants of a rendition `T` (`T.wm-a`, `T.wm-b`). A
//! viewer's SUBSCRIBE or FETCH of `T` is pointed at `T.wm-a` (subscribe phase), which tells the
//! relay to serve it from the variant set; the object phase then picks the variant of each group
//! from the viewer's id (see `tern_watermark`). The relay asks once per viewer and group.
//!
//! Sessions: with a `token` section the session is admitted on a JWT (as the token plugin does,
//! scopes included) and the viewer is its `sub`; without one, the session's token is taken as
//! the viewer string as is (closed networks and tests). Configuration: see `config.rs`.

pub mod config;

use config::{Config, MAX_VIEWER_BYTES};

/// What a session-open gives: the viewer and its scopes, or a deny code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub subject: String,
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    pub expires_at_ms: Option<u64>,
}

/// A decision on one request, before it becomes WIT types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Serve the variant set whose first variant is this track.
    UseTrack(Vec<u8>),
    Deny(u32, String),
}

impl Config {
    /// Session open: who is watching.
    pub fn open(&self, token: Option<&[u8]>, now_ms: u64) -> Result<Viewer, (u32, String)> {
        if let Some(tokens) = &self.token {
            let grant = tern_edge_jwt::verify::verify(tokens, token, now_ms)
                .map_err(|r| (r.code(), r.to_string()))?;
            return Ok(Viewer {
                subject: grant.subject,
                publish: grant.publish,
                subscribe: grant.subscribe,
                expires_at_ms: grant.expires_at_ms,
            });
        }
        let viewer = token.ok_or((1, "no viewer id (the session carries no token)".to_owned()))?;
        let subject = std::str::from_utf8(viewer)
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= MAX_VIEWER_BYTES)
            .filter(|s| s.chars().all(|c| !c.is_control()))
            .ok_or((
                2,
                format!("a viewer id is 1 to {MAX_VIEWER_BYTES} bytes of printable UTF-8"),
            ))?;
        Ok(Viewer {
            subject: subject.to_owned(),
            publish: vec![String::new()],
            subscribe: vec![String::new()],
            expires_at_ms: None,
        })
    }

    /// Subscribe (or FETCH): scopes first, then a watermarked track goes to its variant set.
    pub fn subscribe(
        &self,
        viewer: &Viewer,
        namespace: &[Vec<u8>],
        track: Option<&[u8]>,
        now_ms: u64,
    ) -> Decision {
        if let Some(denied) = self.scoped(&viewer.subscribe, viewer, namespace, now_ms) {
            return denied;
        }
        match track {
            Some(t) if self.tracks.iter().any(|w| w.as_bytes() == t) => {
                match tern_watermark::variant_track(t, tern_watermark::VARIANT_A) {
                    Some(name) => Decision::UseTrack(name),
                    None => Decision::Allow,
                }
            }
            _ => Decision::Allow,
        }
    }

    /// Publish: scopes only.
    pub fn publish(&self, viewer: &Viewer, namespace: &[Vec<u8>], now_ms: u64) -> Decision {
        self.scoped(&viewer.publish, viewer, namespace, now_ms)
            .unwrap_or(Decision::Allow)
    }

    fn scoped(
        &self,
        scopes: &[String],
        viewer: &Viewer,
        namespace: &[Vec<u8>],
        now_ms: u64,
    ) -> Option<Decision> {
        self.token.as_ref()?;
        match tern_edge_jwt::check_request(scopes, namespace, viewer.expires_at_ms, now_ms) {
            tern_edge_jwt::Check::Allow => None,
            tern_edge_jwt::Check::Deny(code, reason) => Some(Decision::Deny(code, reason)),
        }
    }

    /// Object: the variant of `group` for `viewer`; `None` for a track that is not marked.
    pub fn object(&self, viewer: &str, track: &[u8], group: u64) -> Option<u32> {
        let (base, _) = tern_watermark::split_variant(track)?;
        self.tracks.iter().any(|t| t.as_bytes() == base).then(|| {
            let id = self.code.viewer_id(viewer);
            self.code.variant(id, group)
        })
    }
}

#[cfg(target_arch = "wasm32")]
#[allow(clippy::too_many_arguments)] // the generated export glue
mod bindings {
    wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

    use std::sync::OnceLock;

    use super::{Config, Decision, Viewer};
    use tern::edge::types::{Claims, Deny};

    static CONFIG: OnceLock<Config> = OnceLock::new();

    struct Watermark;

    fn viewer(c: Claims) -> Viewer {
        Viewer {
            subject: c.subject,
            publish: c.publish,
            subscribe: c.subscribe,
            expires_at_ms: c.expires_at_ms,
        }
    }

    fn request(d: Decision) -> RequestDecision {
        match d {
            Decision::Allow => RequestDecision::Allow,
            Decision::UseTrack(name) => RequestDecision::UseTrack(name),
            Decision::Deny(code, reason) => RequestDecision::Deny(Deny { code, reason }),
        }
    }

    fn unconfigured() -> Deny {
        Deny {
            code: 1,
            reason: "watermark plugin not configured".into(),
        }
    }

    impl Guest for Watermark {
        fn configure(config: String) -> Result<(), String> {
            let parsed = Config::parse(&config)?;
            CONFIG
                .set(parsed)
                .map_err(|_| "watermark plugin configured twice".to_string())
        }

        fn session_open(req: SessionRequest) -> SessionDecision {
            let Some(config) = CONFIG.get() else {
                return SessionDecision::Deny(unconfigured());
            };
            match config.open(req.token.as_deref(), req.now_ms) {
                Ok(v) => SessionDecision::Allow(Claims {
                    subject: v.subject,
                    publish: v.publish,
                    subscribe: v.subscribe,
                    expires_at_ms: v.expires_at_ms,
                }),
                Err((code, reason)) => SessionDecision::Deny(Deny { code, reason }),
            }
        }

        fn subscribe(req: Request) -> RequestDecision {
            let Some(config) = CONFIG.get() else {
                return RequestDecision::Deny(unconfigured());
            };
            let track = req.track.clone();
            let v = viewer(req.claims);
            request(config.subscribe(&v, &req.namespace, track.as_deref(), req.now_ms))
        }

        fn publish(req: Request) -> RequestDecision {
            let Some(config) = CONFIG.get() else {
                return RequestDecision::Deny(unconfigured());
            };
            let v = viewer(req.claims);
            request(config.publish(&v, &req.namespace, req.now_ms))
        }

        fn object(req: ObjectRequest) -> ObjectDecision {
            match CONFIG
                .get()
                .and_then(|c| c.object(&req.viewer, &req.track, req.group))
            {
                Some(variant) => ObjectDecision::UseVariant(variant),
                None => ObjectDecision::Pass,
            }
        }

        fn log(_event: LogEvent) {}
    }

    export!(Watermark);
}

#[cfg(test)]
mod tests;
