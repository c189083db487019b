//! JWT checks shared by the plugins that admit sessions on a token (token, watermark): the
//! configuration, the verification and the scope check of a request. A library only: it
//! exports no phases, so any plugin can link it.

pub mod config;
pub mod verify;

use tern_edge_sdk::ScopeError;

/// The decision on one request of an admitted session, before it becomes WIT types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Allow,
    /// Deny code and reason.
    Deny(u32, String),
}

/// Check a namespace against scopes, and the session's expiry against `now_ms`.
pub fn check_request(
    scopes: &[String],
    namespace: &[Vec<u8>],
    expires_at_ms: Option<u64>,
    now_ms: u64,
) -> Check {
    if expires_at_ms.is_some_and(|at| at <= now_ms) {
        return Check::Deny(3, "token expired".into());
    }
    match tern_edge_sdk::allowed(scopes, namespace) {
        Ok(true) => Check::Allow,
        Ok(false) => Check::Deny(
            1,
            format!(
                "namespace {} is outside the token's scopes",
                tern_edge_sdk::display_namespace(namespace)
            ),
        ),
        Err(error @ ScopeError::EmptyField { .. }) | Err(error @ ScopeError::EmptyNamespace) => {
            Check::Deny(4, error.to_string())
        }
        Err(error) => Check::Deny(1, error.to_string()),
    }
}
