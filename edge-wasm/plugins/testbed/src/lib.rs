//! A misbehaving plugin for the host's sandbox tests. Session open reads the token:
//! `loop` spins forever, `grow:N` tries to reserve N MiB, `panic` panics, `recurse` overflows
//! the stack; anything else is admitted with subject `testbed`.

/// What session open does for a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Act {
    Spin,
    Grow(usize),
    Panic,
    Recurse,
    Admit,
}

/// Read a token.
pub fn act(token: &[u8]) -> Act {
    match token {
        b"loop" => Act::Spin,
        b"panic" => Act::Panic,
        b"recurse" => Act::Recurse,
        _ => match std::str::from_utf8(token)
            .ok()
            .and_then(|t| t.strip_prefix("grow:"))
            .and_then(|n| n.parse().ok())
        {
            Some(mib) => Act::Grow(mib),
            None => Act::Admit,
        },
    }
}

/// Recurse until the stack runs out.
#[inline(never)]
#[allow(unconditional_recursion)]
pub fn recurse(depth: u64) -> u64 {
    let frame = [depth; 64];
    std::hint::black_box(&frame);
    recurse(std::hint::black_box(depth + 1)) + frame[3]
}

#[cfg(target_arch = "wasm32")]
#[allow(clippy::too_many_arguments)] // the generated export glue
mod bindings {
    wit_bindgen::generate!({ world: "plugin", path: "../../wit" });

    use super::{Act, act, recurse};
    use tern::edge::types::{Claims, Deny};

    struct Testbed;

    fn admit(subject: String) -> SessionDecision {
        SessionDecision::Allow(Claims {
            subject,
            publish: Vec::new(),
            subscribe: Vec::new(),
            expires_at_ms: None,
        })
    }

    impl Guest for Testbed {
        fn configure(config: String) -> Result<(), String> {
            if config.contains("refuse") {
                return Err("configured to refuse".into());
            }
            Ok(())
        }

        fn session_open(req: SessionRequest) -> SessionDecision {
            match act(req.token.as_deref().unwrap_or_default()) {
                Act::Spin => loop {
                    std::hint::black_box(&req);
                },
                Act::Grow(mib) => {
                    let mut buf: Vec<u8> = Vec::new();
                    match buf.try_reserve_exact(mib << 20) {
                        Ok(()) => admit(format!("grew {mib} MiB")),
                        Err(_) => SessionDecision::Deny(Deny {
                            code: 1,
                            reason: format!("memory growth of {mib} MiB refused"),
                        }),
                    }
                }
                Act::Panic => panic!("testbed panics on request"),
                Act::Recurse => admit(format!("depth {}", recurse(0))),
                Act::Admit => admit("testbed".into()),
            }
        }

        fn subscribe(_req: Request) -> RequestDecision {
            RequestDecision::Allow
        }

        fn publish(_req: Request) -> RequestDecision {
            RequestDecision::Allow
        }

        fn object(req: ObjectRequest) -> ObjectDecision {
            ObjectDecision::UseVariant((req.group % 2) as u32)
        }

        fn log(_event: LogEvent) {}
    }

    export!(Testbed);
}
