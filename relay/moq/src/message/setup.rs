//! SETUP (type 0x2F00) and its Setup Options (draft-18 §10.3).

use crate::Version;
use bytes::{Buf, BufMut, Bytes};

use super::params::AuthToken;
use crate::coding::{DecodeError, EncodeError, KeyValuePairs, KvpValue};

/// Setup Option type code points.
pub mod setup_option {
    /// PATH (bytes).
    pub const PATH: u64 = 0x01;
    /// AUTHORIZATION_TOKEN (bytes: Token).
    pub const AUTHORIZATION_TOKEN: u64 = 0x03;
    /// MAX_AUTH_TOKEN_CACHE_SIZE (varint).
    pub const MAX_AUTH_TOKEN_CACHE_SIZE: u64 = 0x04;
    /// AUTHORITY (bytes).
    pub const AUTHORITY: u64 = 0x05;
    /// MOQT_IMPLEMENTATION (bytes).
    pub const MOQT_IMPLEMENTATION: u64 = 0x07;
}
use setup_option as so;

/// The SETUP message: Setup Options spanning the whole payload. Unknown
/// options (including GREASE) are kept and ignored by the typed getters.
///
/// Its `Debug` never shows a credential: AUTHORIZATION TOKEN values are replaced by their
/// length, and PATH keeps only its path (a query such as `?jwt=…` is replaced by its length).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// Setup Options in wire order.
    pub options: KeyValuePairs,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for kvp in self.options.iter() {
            match (&kvp.value, kvp.kind) {
                (KvpValue::Bytes(b), so::AUTHORIZATION_TOKEN) => {
                    list.entry(&format_args!("AUTHORIZATION_TOKEN(<{} bytes>)", b.len()))
                }
                (KvpValue::Bytes(b), so::PATH) => {
                    let text = String::from_utf8_lossy(b);
                    match text.split_once('?') {
                        Some((path, query)) => {
                            list.entry(&format_args!("PATH({path:?} ?<{} bytes>)", query.len()))
                        }
                        None => list.entry(&format_args!("PATH({text:?})")),
                    }
                }
                (KvpValue::Bytes(b), so::AUTHORITY) => {
                    list.entry(&format_args!("AUTHORITY({:?})", String::from_utf8_lossy(b)))
                }
                (KvpValue::Bytes(b), so::MOQT_IMPLEMENTATION) => list.entry(&format_args!(
                    "MOQT_IMPLEMENTATION({:?})",
                    String::from_utf8_lossy(b)
                )),
                // Unknown options may carry anything: their length only.
                (KvpValue::Bytes(b), kind) => {
                    list.entry(&format_args!("{kind:#x}(<{} bytes>)", b.len()))
                }
                (KvpValue::Varint(v), kind) => list.entry(&format_args!("{kind:#x}({v})")),
            };
        }
        list.finish()
    }
}

impl Setup {
    fn bytes(&self, kind: u64) -> Option<&Bytes> {
        match self.options.get(kind)? {
            KvpValue::Bytes(b) => Some(b),
            KvpValue::Varint(_) => None,
        }
    }

    /// PATH option.
    pub fn path(&self) -> Option<&Bytes> {
        self.bytes(so::PATH)
    }
    /// Set PATH.
    pub fn set_path(&mut self, path: impl Into<Bytes>) {
        self.options.set(so::PATH, KvpValue::Bytes(path.into()));
    }
    /// AUTHORITY option.
    pub fn authority(&self) -> Option<&Bytes> {
        self.bytes(so::AUTHORITY)
    }
    /// Set AUTHORITY.
    pub fn set_authority(&mut self, authority: impl Into<Bytes>) {
        self.options
            .set(so::AUTHORITY, KvpValue::Bytes(authority.into()));
    }
    /// MOQT_IMPLEMENTATION option.
    pub fn moqt_implementation(&self) -> Option<&Bytes> {
        self.bytes(so::MOQT_IMPLEMENTATION)
    }
    /// Set MOQT_IMPLEMENTATION.
    pub fn set_moqt_implementation(&mut self, name: impl Into<Bytes>) {
        self.options
            .set(so::MOQT_IMPLEMENTATION, KvpValue::Bytes(name.into()));
    }
    /// MAX_AUTH_TOKEN_CACHE_SIZE (default 0 when absent).
    pub fn max_auth_token_cache_size(&self) -> Option<u64> {
        match self.options.get(so::MAX_AUTH_TOKEN_CACHE_SIZE)? {
            KvpValue::Varint(v) => Some(*v),
            KvpValue::Bytes(_) => None,
        }
    }
    /// Set MAX_AUTH_TOKEN_CACHE_SIZE.
    pub fn set_max_auth_token_cache_size(&mut self, size: u64) {
        self.options
            .set(so::MAX_AUTH_TOKEN_CACHE_SIZE, KvpValue::Varint(size));
    }
    /// AUTHORIZATION_TOKEN options, in order.
    pub fn authorization_tokens(&self) -> impl Iterator<Item = Result<AuthToken, DecodeError>> {
        self.options
            .get_all(so::AUTHORIZATION_TOKEN)
            .filter_map(|v| match v {
                KvpValue::Bytes(b) => Some(AuthToken::decode(b.clone())),
                KvpValue::Varint(_) => None,
            })
    }
    /// Append an AUTHORIZATION_TOKEN option.
    pub fn push_authorization_token(&mut self, token: &AuthToken) {
        self.options
            .push(so::AUTHORIZATION_TOKEN, KvpValue::Bytes(token.to_bytes()));
    }

    pub(crate) fn decode_payload(buf: &mut impl Buf, _: Version) -> Result<Self, DecodeError> {
        let options = KeyValuePairs::decode_all(buf)?;
        for v in options.get_all(so::AUTHORIZATION_TOKEN) {
            if let KvpValue::Bytes(b) = v {
                AuthToken::decode(b.clone())?;
            }
        }
        Ok(Self { options })
    }

    pub(crate) fn encode_payload(
        &self,
        buf: &mut impl BufMut,
        _: Version,
    ) -> Result<(), EncodeError> {
        self.options.encode_all(buf)
    }
}
