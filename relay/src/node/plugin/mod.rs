//! Edge plugin hooks: every call into the plugin is made from this module, in this order for one
//! peer (a MoQ session, or a local publisher or reader of the node's local API):
//!
//! 1. **session open**: at SETUP ([`open_session`]), or when a local caller comes
//!    ([`judge_local`]): the token, the path and the peer's address; it gives the claims.
//! 2. **publish** or **subscribe**, once per request (SUBSCRIBE, FETCH, PUBLISH,
//!    PUBLISH_NAMESPACE, ... ; a local publisher's broadcast and each of its tracks, a local
//!    reader's track): [`authorize`] and [`judge_local`], both through `ask_phase`. It may point
//!    a SUBSCRIBE at another track, or at variant A of it (watermarked for this viewer).
//! 3. **object**, once per group of a watermarked subscription ([`object::object_phase`], called by
//!    `watermark/marking.rs`): which variant this viewer gets of that group.
//! 4. **close** at the token's expiry ([`expire`]): the session is closed with the reason.
//!
//! The plugin runs on the host's worker threads; these hooks only await its decision (bounded by
//! the host's timeout) and fail closed on any error. Without a plugin (`NodeSettings::plugin` is
//! `None`) every hook admits at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use url::Url;

use tern_edge_wasm::{
    Claims, Deny, PluginHost, Request, RequestDecision, SessionDecision, deny_code,
};
use tern_moq::Message;
use tern_moq::message::codes::{RequestErrorCode, SessionError as Code};
use tern_moq::message::{AuthToken, Parameters, Setup};

use super::session::SessionShared;
use object::PLUGIN_DECISIONS;

pub mod object;

/// Token type 0 in AUTHORIZATION TOKEN: the relay hands the value to the plugin as is.
const TOKEN_TYPE_PLUGIN: u64 = 0;
/// Longest token handed to a plugin; the plugin applies its own (smaller) maximum.
const MAX_TOKEN_BYTES: usize = 64 << 10;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The `jwt` query parameter of a URL, or of a SETUP PATH (`/path?jwt=...`).
fn jwt_param(query: &str) -> Option<Vec<u8>> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "jwt")
        .map(|(_, value)| value.into_owned().into_bytes())
}

/// The first AUTHORIZATION TOKEN of type 0 carried by value (USE_VALUE or REGISTER).
fn plugin_token(
    tokens: impl Iterator<Item = Result<AuthToken, tern_moq::DecodeError>>,
) -> Option<Vec<u8>> {
    tokens.flatten().find_map(|t| match t {
        AuthToken::UseValue {
            token_type,
            token_value,
        }
        | AuthToken::Register {
            token_type,
            token_value,
            ..
        } if token_type == TOKEN_TYPE_PLUGIN => Some(token_value.to_vec()),
        _ => None,
    })
}

/// Where the session's token is, in order: SETUP's AUTHORIZATION TOKEN (type 0, by value or
/// registered), `?jwt=` on the WebTransport URL, `?jwt=` in SETUP's PATH. Also the path.
fn token_and_path(setup: &Setup, url: Option<&Url>) -> (Option<Vec<u8>>, String) {
    let from_setup = plugin_token(setup.authorization_tokens());
    let setup_path = setup
        .path()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let (path, query) = match (url, &setup_path) {
        (Some(url), _) => (url.path().to_owned(), url.query().map(str::to_owned)),
        (None, Some(p)) => match p.split_once('?') {
            Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
            None => (p.clone(), None),
        },
        (None, None) => ("/".to_owned(), None),
    };
    let token = from_setup.or_else(|| query.as_deref().and_then(jwt_param));
    (token, path)
}

fn session_code(deny: &Deny) -> Code {
    match deny.code {
        deny_code::MALFORMED_TOKEN => Code::MALFORMED_AUTH_TOKEN,
        deny_code::EXPIRED_TOKEN => Code::EXPIRED_AUTH_TOKEN,
        deny_code::PROTOCOL_VIOLATION => Code::PROTOCOL_VIOLATION,
        _ => Code::UNAUTHORIZED,
    }
}

fn count(phase: &'static str, outcome: &'static str) {
    metrics::counter!(PLUGIN_DECISIONS, "phase" => phase, "outcome" => outcome).increment(1);
}

fn refuse_session(s: &SessionShared, code: Code, reason: &str) {
    tracing::info!(
        session = s.id,
        code = code.0,
        reason,
        "session refused by plugin"
    );
    metrics::counter!(crate::metrics::SESSIONS_REFUSED, crate::metrics::REASON => crate::metrics::refused::UNAUTHORIZED)
        .increment(1);
    s.auth.settle(None);
    s.session.close(code.0 as u32, reason);
}

/// Session open, at the peer's SETUP: ask the plugin, close the session if it refuses (or
/// fails), and return when the admitted session's token expires (Unix ms), if it does.
pub async fn open_session(
    plugin: &PluginHost,
    s: &SessionShared,
    setup: &Setup,
) -> super::error::Result<Option<u64>> {
    let url = s.auth.url.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (token, path) = token_and_path(setup, url.as_ref());
    if token.as_ref().is_some_and(|t| t.len() > MAX_TOKEN_BYTES) {
        count("session-open", "deny");
        refuse_session(s, Code::MALFORMED_AUTH_TOKEN, "token too long");
        return Err(super::error::NodeError::Peer("token too long".into()));
    }
    let req = tern_edge_wasm::SessionRequest {
        token,
        path,
        peer: s.session.remote_address().to_string(),
        now_ms: now_ms(),
    };
    match plugin.session_open(req).await {
        Ok(SessionDecision::Allow(claims)) => {
            count("session-open", "allow");
            tracing::info!(
                session = s.id,
                subject = claims.subject,
                "session admitted by plugin"
            );
            let expires = claims.expires_at_ms;
            s.auth.settle(Some(claims));
            Ok(expires)
        }
        Ok(SessionDecision::Deny(deny)) => {
            count("session-open", "deny");
            refuse_session(s, session_code(&deny), &deny.reason);
            Err(super::error::NodeError::Peer(format!(
                "refused: {}",
                deny.reason
            )))
        }
        Err(error) => {
            count("session-open", "error");
            tracing::warn!(session = s.id, %error, "plugin failed at session open: refusing");
            refuse_session(s, Code::UNAUTHORIZED, "authorization unavailable");
            Err(super::error::NodeError::Peer(format!(
                "plugin failed: {error}"
            )))
        }
    }
}

/// Close the session with EXPIRED_AUTH_TOKEN at `expires_at_ms` (Unix ms).
pub async fn expire(s: std::sync::Arc<SessionShared>, expires_at_ms: u64) {
    let wait = Duration::from_millis(expires_at_ms.saturating_sub(now_ms()));
    tokio::time::sleep(wait).await;
    tracing::info!(session = s.id, "token expired: closing session");
    s.session.close(
        Code::EXPIRED_AUTH_TOKEN.0 as u32,
        "authorization token expired",
    );
}

/// What the phases need from a request: publish or subscribe, namespace, track, parameters.
type Phase<'a> = (
    bool,
    &'a tern_moq::TrackNamespace,
    Option<&'a Bytes>,
    &'a Parameters,
);

/// Which phase a request goes through, with its namespace, track and parameters.
fn phase_of(message: &Message) -> Option<Phase<'_>> {
    match message {
        Message::Subscribe(m) => Some((
            false,
            &m.track_namespace,
            Some(&m.track_name),
            &m.parameters,
        )),
        Message::TrackStatus(m) => Some((
            false,
            &m.track_namespace,
            Some(&m.track_name),
            &m.parameters,
        )),
        Message::SubscribeNamespace(m) => {
            Some((false, &m.track_namespace_prefix, None, &m.parameters))
        }
        Message::SubscribeTracks(m) => {
            Some((false, &m.track_namespace_prefix, None, &m.parameters))
        }
        // A joining FETCH rides on a subscription that was authorised.
        Message::Fetch(m) => m
            .fetch_type
            .track()
            .map(|(ns, name)| (false, ns, Some(name), &m.parameters)),
        Message::PublishNamespace(m) => Some((true, &m.track_namespace, None, &m.parameters)),
        Message::Publish(m) => Some((true, &m.track_namespace, Some(&m.track_name), &m.parameters)),
        _ => None,
    }
}

/// The claims a request is judged by: those of its own token when it carries one (checked by
/// session open), else the session's.
async fn request_claims(
    plugin: &PluginHost,
    s: &SessionShared,
    parameters: &Parameters,
) -> Result<Claims, (RequestErrorCode, String)> {
    let unauthorized = |why: &str| (RequestErrorCode::UNAUTHORIZED, why.to_owned());
    let session = s
        .auth
        .claims()
        .await
        .ok_or_else(|| unauthorized("session not admitted"))?;
    // A per-request token stands for the session's token for this request alone.
    let Some(token) = plugin_token(parameters.authorization_tokens()) else {
        return Ok(session);
    };
    if token.len() > MAX_TOKEN_BYTES {
        return Err((
            RequestErrorCode::MALFORMED_AUTH_TOKEN,
            "token too long".into(),
        ));
    }
    let now = now_ms();
    if !plugin.token_cached(&token, "/", now) && !s.auth.take_token_check(std::time::Instant::now())
    {
        count("request-token", "rate-limited");
        return Err((
            RequestErrorCode::EXCESSIVE_LOAD,
            "too many token checks on this session: retry later".into(),
        ));
    }
    let req = tern_edge_wasm::SessionRequest {
        token: Some(token),
        path: "/".into(),
        peer: s.session.remote_address().to_string(),
        now_ms: now,
    };
    match plugin.session_open(req).await {
        Ok(SessionDecision::Allow(claims)) => Ok(claims),
        Ok(SessionDecision::Deny(deny)) => Err((request_code(&deny), deny.reason)),
        Err(error) => {
            tracing::warn!(session = s.id, %error, "plugin failed on a request token: refusing");
            Err(unauthorized("authorization unavailable"))
        }
    }
}

fn request_code(deny: &Deny) -> RequestErrorCode {
    match deny.code {
        deny_code::MALFORMED_TOKEN => RequestErrorCode::MALFORMED_AUTH_TOKEN,
        deny_code::EXPIRED_TOKEN => RequestErrorCode::EXPIRED_AUTH_TOKEN,
        _ => RequestErrorCode::UNAUTHORIZED,
    }
}

/// The publish phase (`publish`) or the subscribe phase for `req`.
async fn ask_phase(
    plugin: &PluginHost,
    publish: bool,
    req: Request,
) -> Result<RequestDecision, tern_edge_wasm::PluginError> {
    if publish {
        plugin.publish(req).await
    } else {
        plugin.subscribe(req).await
    }
}

/// A refused request: the REQUEST_ERROR to send, or `None` when the session was closed.
pub struct Refused(pub Option<(RequestErrorCode, String)>);

/// Ask the plugin about one request of a downstream session (every request on its own, even
/// when the relay already holds the track upstream). A SUBSCRIBE or standalone FETCH may be
/// pointed at another track; pointed at variant A of the track it names, it is to be served
/// from the variant set with a watermark (see [`super::watermark`]), and the answer says for
/// which viewer. Sessions the relay opened itself (to its upstreams) and cluster members
/// (relays that judged their own viewers) are not asked about.
pub async fn authorize(
    plugin: &PluginHost,
    s: &SessionShared,
    message: &mut Message,
) -> Result<Option<super::watermark::Variants>, Refused> {
    if s.proto(|p| p.role()) != tern_moq::session::Role::Server || s.is_member() {
        return Ok(None);
    }
    let Some((publish, namespace, track, parameters)) = phase_of(message) else {
        return Ok(None);
    };
    let phase = if publish { "publish" } else { "subscribe" };
    let claims = match request_claims(plugin, s, parameters).await {
        Ok(claims) => claims,
        Err(refusal) => {
            count(phase, "deny");
            return Err(Refused(Some(refusal)));
        }
    };
    let viewer = claims.subject.clone();
    let req = Request {
        claims,
        namespace: namespace.fields().iter().map(|f| f.to_vec()).collect(),
        track: track.map(|t| t.to_vec()),
        now_ms: now_ms(),
    };
    match ask_phase(plugin, publish, req).await {
        Ok(RequestDecision::Allow) => {
            count(phase, "allow");
            if publish {
                *s.auth.publisher.lock().unwrap_or_else(|e| e.into_inner()) = Some(viewer);
            }
            Ok(None)
        }
        Ok(RequestDecision::UseTrack(name)) => {
            count(phase, "allow");
            let marked = tern_watermark::split_variant(&name).is_some_and(|(base, variant)| {
                variant == 0 && track.is_some_and(|t| t.as_ref() == base)
            });
            match message {
                Message::Subscribe(m) => m.track_name = Bytes::from(name),
                Message::Fetch(m) => {
                    if let Some(track_name) = m.fetch_type.track_name_mut() {
                        *track_name = Bytes::from(name);
                    }
                }
                _ => {}
            }
            Ok(marked.then_some(super::watermark::Variants { viewer }))
        }
        Ok(RequestDecision::Deny(deny)) => {
            count(phase, "deny");
            tracing::info!(
                session = s.id,
                phase,
                reason = deny.reason,
                "request refused by plugin"
            );
            if deny.code == deny_code::PROTOCOL_VIOLATION {
                s.violation(Code::PROTOCOL_VIOLATION, &deny.reason);
                return Err(Refused(None));
            }
            Err(Refused(Some((request_code(&deny), deny.reason))))
        }
        Err(error) => {
            count(phase, "error");
            tracing::warn!(session = s.id, phase, %error, "plugin failed: refusing the request");
            Err(Refused(Some((
                RequestErrorCode::UNAUTHORIZED,
                "authorization unavailable".into(),
            ))))
        }
    }
}

/// What the plugin decided about a local publisher or reader (see [`tern_model::local`]): the
/// claims of its token, and for a reader the track it is to read instead, if the plugin pointed
/// it elsewhere.
pub struct LocalDecision {
    /// The subject its token names.
    pub subject: String,
    /// The track the subscribe phase pointed the reader at.
    pub track: Option<Bytes>,
    /// When its token expires (Unix ms), if it does.
    pub expires_at_ms: Option<u64>,
}

/// The session-open phase, then the publish or subscribe phase, for a local publisher or
/// reader: the same phases in the same order as for a MoQ peer's request, with the token its
/// front-end took from its own protocol. `track` is `None` for a broadcast as a whole.
pub async fn judge_local(
    plugin: &PluginHost,
    credentials: &tern_model::local::Credentials,
    publish: bool,
    namespace: &crate::core::types::Namespace,
    track: Option<&Bytes>,
) -> Result<LocalDecision, tern_model::local::Refused> {
    use tern_model::local::{Refused, RefusedKind};
    let phase = if publish { "publish" } else { "subscribe" };
    let denied = |deny: Deny| {
        let kind = match deny.code {
            deny_code::PROTOCOL_VIOLATION => RefusedKind::Invalid,
            _ => RefusedKind::Unauthorized,
        };
        Refused::new(kind, deny.reason)
    };
    let failed = |error: tern_edge_wasm::PluginError| {
        tracing::warn!(via = credentials.via, phase, %error, "plugin failed: refusing a local request");
        Refused::new(RefusedKind::Unauthorized, "authorization unavailable")
    };
    let token = credentials.token.as_ref().map(|t| t.as_bytes().to_vec());
    if token.as_ref().is_some_and(|t| t.len() > MAX_TOKEN_BYTES) {
        count("session-open", "deny");
        return Err(Refused::new(RefusedKind::Unauthorized, "token too long"));
    }
    let open = tern_edge_wasm::SessionRequest {
        token,
        path: format!("/{}", tern_model::local::path(namespace)),
        peer: credentials.peer.to_string(),
        now_ms: now_ms(),
    };
    let claims = match plugin.session_open(open).await.map_err(failed)? {
        SessionDecision::Allow(claims) => {
            count("session-open", "allow");
            claims
        }
        SessionDecision::Deny(deny) => {
            count("session-open", "deny");
            return Err(denied(deny));
        }
    };
    let (subject, expires_at_ms) = (claims.subject.clone(), claims.expires_at_ms);
    let req = Request {
        claims,
        namespace: namespace.iter().map(|f| f.to_vec()).collect(),
        track: track.map(|t| t.to_vec()),
        now_ms: now_ms(),
    };
    match ask_phase(plugin, publish, req).await.map_err(failed)? {
        RequestDecision::Allow => {
            count(phase, "allow");
            Ok(LocalDecision {
                subject,
                track: None,
                expires_at_ms,
            })
        }
        RequestDecision::UseTrack(name) => {
            count(phase, "allow");
            Ok(LocalDecision {
                subject,
                track: (!publish).then(|| Bytes::from(name)),
                expires_at_ms,
            })
        }
        RequestDecision::Deny(deny) => {
            count(phase, "deny");
            tracing::info!(
                via = credentials.via,
                phase,
                reason = deny.reason,
                "local request refused by plugin"
            );
            Err(denied(deny))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_setup_then_the_url_then_the_path() {
        let url = Url::parse("https://relay.example/live?jwt=from-url").unwrap();
        let mut setup = Setup::default();
        setup.set_path("/room?x=1&jwt=from-path");
        assert_eq!(
            token_and_path(&setup, Some(&url)),
            (Some(b"from-url".to_vec()), "/live".to_owned())
        );
        assert_eq!(
            token_and_path(&setup, None),
            (Some(b"from-path".to_vec()), "/room".to_owned())
        );
        setup.push_authorization_token(&AuthToken::UseValue {
            token_type: 0,
            token_value: Bytes::from_static(b"from-setup"),
        });
        assert_eq!(
            token_and_path(&setup, Some(&url)).0,
            Some(b"from-setup".to_vec())
        );
        let mut other = Setup::default();
        other.push_authorization_token(&AuthToken::UseValue {
            token_type: 7,
            token_value: Bytes::from_static(b"other"),
        });
        assert_eq!(token_and_path(&other, None), (None, "/".to_owned()));
    }
}
