//! The template plugin: every phase answers with its neutral decision. Copy this crate to start
//! a plugin of your own (see edge-wasm/README.md).

#[cfg(target_arch = "wasm32")]
#[allow(clippy::too_many_arguments)] // the generated export glue
mod bindings {
    wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

    use tern::edge::types::Claims;

    struct Template;

    impl Guest for Template {
        fn configure(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn session_open(req: SessionRequest) -> SessionDecision {
            SessionDecision::Allow(Claims {
                subject: format!("anonymous@{}", req.peer),
                publish: Vec::new(),
                subscribe: Vec::new(),
                expires_at_ms: None,
            })
        }

        fn subscribe(_req: Request) -> RequestDecision {
            RequestDecision::Allow
        }

        fn publish(_req: Request) -> RequestDecision {
            RequestDecision::Allow
        }

        fn object(_req: ObjectRequest) -> ObjectDecision {
            ObjectDecision::Pass
        }

        fn log(_event: LogEvent) {}
    }

    export!(Template);
}
