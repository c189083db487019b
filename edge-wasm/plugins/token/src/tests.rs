//! The abuse catalogue, against the verification the plugin runs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::config::Config;
use crate::verify::{Refusal, verify};
use crate::{Check, check_request};

const SECRET: &str = "an HS256 secret of thirty-two bytes or more";
const ES_PRIVATE: &str = include_str!("../testdata/es256-private.pem");
const ES_PUBLIC: &str = include_str!("../testdata/es256-public.pem");
const NOW_S: u64 = 1_800_000_000;
const NOW_MS: u64 = NOW_S * 1000;

fn config() -> Config {
    Config::parse(
        &json!({
            "keys": [
                {"kid": "hs", "alg": "HS256", "secret": SECRET},
                {"kid": "es", "alg": "ES256", "public_key_pem": ES_PUBLIC},
            ],
            "audience": "tern-relay",
            "issuer": "https://issuer.example",
            "leeway_s": 2,
            "max_token_bytes": 2048,
        })
        .to_string(),
    )
    .unwrap()
}

fn claims() -> Value {
    json!({
        "sub": "viewer-7",
        "aud": "tern-relay",
        "iss": "https://issuer.example",
        "exp": NOW_S + 60,
        "nbf": NOW_S - 60,
        "subscribe": ["live/room"],
        "publish": ["live/room/cam1"],
    })
}

fn hs(kid: &str, claims: &Value) -> Vec<u8> {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    encode(&header, claims, &key).unwrap().into_bytes()
}

fn es(claims: &Value) -> Vec<u8> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("es".into());
    let key = EncodingKey::from_ec_pem(ES_PRIVATE.as_bytes()).unwrap();
    encode(&header, claims, &key).unwrap().into_bytes()
}

fn with(change: impl FnOnce(&mut Value)) -> Value {
    let mut claims = claims();
    change(&mut claims);
    claims
}

fn check(token: &[u8]) -> Result<crate::verify::Grant, Refusal> {
    verify(&config(), Some(token), NOW_MS)
}

#[test]
fn valid_tokens_of_both_algorithms_grant_their_scopes() {
    for token in [hs("hs", &claims()), es(&claims())] {
        let grant = check(&token).unwrap();
        assert_eq!(grant.subject, "viewer-7");
        assert_eq!(grant.subscribe, ["live/room"]);
        assert_eq!(grant.publish, ["live/room/cam1"]);
        assert_eq!(grant.expires_at_ms, Some((NOW_S + 62) * 1000));
    }
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused_past_the_leeway() {
    let expired = hs("hs", &with(|c| c["exp"] = json!(NOW_S - 3)));
    assert_eq!(check(&expired).unwrap_err(), Refusal::Expired);
    let within_leeway = hs("hs", &with(|c| c["exp"] = json!(NOW_S - 1)));
    assert!(check(&within_leeway).is_ok());
    let early = hs("hs", &with(|c| c["nbf"] = json!(NOW_S + 3)));
    assert_eq!(check(&early).unwrap_err(), Refusal::NotYetValid);
    assert_eq!(Refusal::Expired.code(), 3);
}

#[test]
fn wrong_audience_or_issuer_is_refused() {
    let aud = hs("hs", &with(|c| c["aud"] = json!("another-relay")));
    assert_eq!(check(&aud).unwrap_err(), Refusal::WrongAudience);
    let iss = hs("hs", &with(|c| c["iss"] = json!("https://evil.example")));
    assert_eq!(check(&iss).unwrap_err(), Refusal::WrongIssuer);
    let no_aud = hs(
        "hs",
        &with(|c| drop(c.as_object_mut().unwrap().remove("aud"))),
    );
    assert!(matches!(check(&no_aud).unwrap_err(), Refusal::Malformed(_)));
    let no_exp = hs(
        "hs",
        &with(|c| drop(c.as_object_mut().unwrap().remove("exp"))),
    );
    assert!(matches!(check(&no_exp).unwrap_err(), Refusal::Malformed(_)));
}

#[test]
fn alg_none_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"hs"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    let token = format!("{header}.{payload}.");
    assert!(matches!(
        check(token.as_bytes()).unwrap_err(),
        Refusal::Malformed(_)
    ));
}

#[test]
fn hs256_signed_with_the_es_public_key_is_refused() {
    let key = EncodingKey::from_secret(ES_PUBLIC.as_bytes());
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("es".into());
    let token = encode(&header, &claims(), &key).unwrap();
    assert_eq!(
        check(token.as_bytes()).unwrap_err(),
        Refusal::WrongAlgorithm
    );
}

#[test]
fn unknown_or_missing_kid_is_refused() {
    assert_eq!(
        check(&hs("nope", &claims())).unwrap_err(),
        Refusal::UnknownKey
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let token = encode(&Header::new(Algorithm::HS256), &claims(), &key).unwrap();
    assert_eq!(check(token.as_bytes()).unwrap_err(), Refusal::UnknownKey);
}

#[test]
fn a_tampered_signature_is_refused() {
    let mut token = hs("hs", &claims());
    let last = token.len() - 2;
    token[last] = if token[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(check(&token).unwrap_err(), Refusal::BadSignature);
}

#[test]
fn oversized_tokens_are_refused_before_any_parsing() {
    // Not even valid UTF-8, let alone base64: refused on its size alone.
    let token = vec![0xff; 64 << 10];
    assert_eq!(
        check(&token).unwrap_err(),
        Refusal::Oversized {
            len: 64 << 10,
            max: 2048
        }
    );
    assert_eq!(
        verify(&config(), None, NOW_MS).unwrap_err(),
        Refusal::Missing
    );
}

#[test]
fn refusals_never_quote_the_token() {
    let token = hs("hs", &with(|c| c["aud"] = json!("x")));
    let text = String::from_utf8(token.clone()).unwrap();
    let reason = check(&token).unwrap_err().to_string();
    for part in text.split('.') {
        assert!(!reason.contains(part), "{reason} quotes the token");
    }
}

#[test]
fn malformed_scopes_refuse_the_token() {
    let token = hs("hs", &with(|c| c["subscribe"] = json!(["live/../admin"])));
    assert_eq!(check(&token).unwrap_err(), Refusal::BadScopes);
}

fn ns(fields: &[&str]) -> Vec<Vec<u8>> {
    fields.iter().map(|f| f.as_bytes().to_vec()).collect()
}

#[test]
fn requests_are_scoped_to_namespace_prefixes() {
    let scopes = vec!["live/room".to_string()];
    let at = Some(NOW_MS + 1000);
    assert_eq!(
        check_request(&scopes, &ns(&["live", "room", "cam"]), at, NOW_MS),
        Check::Allow
    );
    assert!(matches!(
        check_request(&scopes, &ns(&["live", "roomX"]), at, NOW_MS),
        Check::Deny(1, _)
    ));
    assert!(matches!(
        check_request(&scopes, &ns(&["live", "room", ".."]), at, NOW_MS),
        Check::Deny(1, _)
    ));
    assert!(matches!(
        check_request(&scopes, &ns(&["live", "", "room"]), at, NOW_MS),
        Check::Deny(4, _)
    ));
    assert!(matches!(
        check_request(&scopes, &ns(&["live", "room"]), at, NOW_MS + 1000),
        Check::Deny(3, _)
    ));
}

#[test]
fn bad_configurations_name_the_problem() {
    let bad = |json: Value| Config::parse(&json.to_string()).err().unwrap();
    let base = |keys: Value| json!({"keys": keys, "audience": "a", "issuer": "i"});
    assert!(bad(base(json!([]))).contains("`keys` is empty"));
    assert!(
        bad(base(
            json!([{"kid": "k", "alg": "HS256", "secret": "short"}])
        ))
        .contains("32 bytes")
    );
    assert!(
        bad(base(
            json!([{"kid": "k", "alg": "RS256", "secret": SECRET}])
        ))
        .contains("RS256")
    );
    assert!(
        bad(base(
            json!([{"kid": "k", "alg": "ES256", "secret": SECRET}])
        ))
        .contains("public_key_pem")
    );
    assert!(
        bad(json!({"keys": [], "audience": "a", "issuer": "i", "colour": 1})).contains("colour")
    );
}

/// A public edge: a session without a token may watch what `anonymous_subscribe` names and
/// publish nothing; a session with a bad token is still refused (it is not let in as
/// anonymous), and one with a good token gets its own scopes.
#[test]
fn anonymous_viewers_get_the_configured_subscribe_scopes_only() {
    let mut c = config();
    c.anonymous_subscribe = vec!["live".into()];
    let grant = verify(&c, None, NOW_MS).expect("admitted without a token");
    assert_eq!(grant.subject, crate::verify::ANONYMOUS);
    assert!(grant.publish.is_empty());
    assert_eq!(grant.subscribe, ["live"]);
    assert_eq!(grant.expires_at_ms, None);
    assert_eq!(
        check_request(&grant.subscribe, &ns(&["live", "demo"]), None, NOW_MS),
        Check::Allow
    );
    assert!(matches!(
        check_request(&grant.publish, &ns(&["live", "demo"]), None, NOW_MS),
        Check::Deny(1, _)
    ));
    assert_eq!(
        verify(&c, Some(b"not.a.token"), NOW_MS).unwrap_err(),
        Refusal::Malformed("header")
    );
    let bad = |scopes: Value| {
        let json = json!({"keys": [{"kid": "k", "alg": "HS256", "secret": SECRET}],
            "audience": "a", "issuer": "i", "anonymous_subscribe": scopes});
        Config::parse(&json.to_string()).err().unwrap()
    };
    assert!(bad(json!(["live//x"])).contains("anonymous_subscribe"));
    assert!(bad(json!(vec!["a"; 65])).contains("anonymous_subscribe"));
}
