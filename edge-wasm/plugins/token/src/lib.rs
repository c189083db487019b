//! The token plugin: admits a session on a JWT and scopes its publish and subscribe requests to
//! namespace prefixes.
//!
//! Session open verifies the token (size first, then header, key, signature, `aud`, `iss`,
//! `exp`/`nbf` with the configured leeway) and turns its `publish`/`subscribe` claims into the
//! session's scopes; subscribe and publish check a namespace against them (see
//! `tern_edge_sdk::Scope` for the mapping). Configuration: see `tern_edge_jwt::config`.

pub use tern_edge_jwt::{Check, check_request, config, verify};

#[cfg(target_arch = "wasm32")]
#[allow(clippy::too_many_arguments)] // the generated export glue
mod bindings {
    wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

    use std::sync::OnceLock;

    use super::{Check, check_request, config::Config, verify::verify};
    use tern::edge::types::{Claims, Deny};

    static CONFIG: OnceLock<Config> = OnceLock::new();

    struct Token;

    fn decide(check: Check) -> RequestDecision {
        match check {
            Check::Allow => RequestDecision::Allow,
            Check::Deny(code, reason) => RequestDecision::Deny(Deny { code, reason }),
        }
    }

    impl Guest for Token {
        fn configure(config: String) -> Result<(), String> {
            let parsed = Config::parse(&config)?;
            CONFIG
                .set(parsed)
                .map_err(|_| "token plugin configured twice".to_string())
        }

        fn session_open(req: SessionRequest) -> SessionDecision {
            let Some(config) = CONFIG.get() else {
                return SessionDecision::Deny(Deny {
                    code: 1,
                    reason: "token plugin not configured".into(),
                });
            };
            match verify(config, req.token.as_deref(), req.now_ms) {
                Ok(grant) => SessionDecision::Allow(Claims {
                    subject: grant.subject,
                    publish: grant.publish,
                    subscribe: grant.subscribe,
                    expires_at_ms: grant.expires_at_ms,
                }),
                Err(refusal) => SessionDecision::Deny(Deny {
                    code: refusal.code(),
                    reason: refusal.to_string(),
                }),
            }
        }

        fn subscribe(req: Request) -> RequestDecision {
            let c = &req.claims;
            decide(check_request(
                &c.subscribe,
                &req.namespace,
                c.expires_at_ms,
                req.now_ms,
            ))
        }

        fn publish(req: Request) -> RequestDecision {
            let c = &req.claims;
            decide(check_request(
                &c.publish,
                &req.namespace,
                c.expires_at_ms,
                req.now_ms,
            ))
        }

        fn object(_req: ObjectRequest) -> ObjectDecision {
            ObjectDecision::Pass
        }

        fn log(_event: LogEvent) {}
    }

    export!(Token);
}

#[cfg(test)]
mod tests;
