//! A misbehaving plugin for the host's sandbox tests and the relay's plugin tests. Session open
//! reads the token: `loop` spins forever, `grow:N` tries to reserve N MiB, `panic` panics,
//! `recurse` overflows the stack, `as:NAME` is admitted with subject `NAME`; anything else is
//! admitted with subject `testbed`.
//!
//! Subscribe points track `marked` at its variant set (`marked.wm-a`) and allows the rest. The
//! object phase chooses variant `(group + viewer length) % 2`, except for viewers `trap` (it
//! panics) and `spin` (it never returns) on odd groups.

/// What session open does for a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Act {
    Spin,
    Grow(usize),
    Panic,
    Recurse,
    Admit,
    AdmitAs(String),
}

/// Read a token.
pub fn act(token: &[u8]) -> Act {
    match token {
        b"loop" => Act::Spin,
        b"panic" => Act::Panic,
        b"recurse" => Act::Recurse,
        _ => {
            let text = std::str::from_utf8(token).ok();
            if let Some(name) = text.and_then(|t| t.strip_prefix("as:")) {
                return Act::AdmitAs(name.to_owned());
            }
            match text
                .and_then(|t| t.strip_prefix("grow:"))
                .and_then(|n| n.parse().ok())
            {
                Some(mib) => Act::Grow(mib),
                None => Act::Admit,
            }
        }
    }
}

/// The track the subscribe phase points at the variant set of `marked`.
pub const MARKED: &[u8] = b"marked";

/// What the object phase does for a viewer and group.
#[derive(Debug, PartialEq, Eq)]
pub enum Choice {
    Variant(u32),
    Panic,
    Spin,
}

/// The object phase's choice for `viewer` and `group`.
pub fn choose(viewer: &str, group: u64) -> Choice {
    match viewer {
        "trap" if group % 2 == 1 => Choice::Panic,
        "spin" if group % 2 == 1 => Choice::Spin,
        _ => Choice::Variant(((group + viewer.len() as u64) % 2) as u32),
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

    use super::{Act, Choice, MARKED, act, choose, recurse};
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
                Act::AdmitAs(name) => admit(name),
            }
        }

        fn subscribe(req: Request) -> RequestDecision {
            match req.track {
                Some(t) if t == MARKED => RequestDecision::UseTrack(b"marked.wm-a".to_vec()),
                _ => RequestDecision::Allow,
            }
        }

        fn publish(_req: Request) -> RequestDecision {
            RequestDecision::Allow
        }

        fn object(req: ObjectRequest) -> ObjectDecision {
            match choose(&req.viewer, req.group) {
                Choice::Variant(v) => ObjectDecision::UseVariant(v),
                Choice::Panic => panic!("testbed panics on request"),
                Choice::Spin => loop {
                    std::hint::black_box(&req);
                },
            }
        }

        fn log(_event: LogEvent) {}
    }

    export!(Testbed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_viewers_pick_what_the_plugin_does() {
        assert_eq!(act(b"as:alice"), Act::AdmitAs("alice".into()));
        assert_eq!(act(b"grow:3"), Act::Grow(3));
        assert_eq!(act(b"anything"), Act::Admit);
        assert_eq!(choose("alice", 0), Choice::Variant(1));
        assert_eq!(choose("alice", 1), Choice::Variant(0));
        assert_eq!(choose("trap", 2), Choice::Variant(0));
        assert_eq!(choose("trap", 3), Choice::Panic);
        assert_eq!(choose("spin", 5), Choice::Spin);
    }
}
