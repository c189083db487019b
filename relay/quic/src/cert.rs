//! Certificates: self-signed generation, PEM loading and SHA-256 fingerprints.
//!
//! A self-signed certificate is what a browser pins with `serverCertificateHashes`: Chromium
//! wants ECDSA P-256 and a validity of at most 14 days, so it is issued for 13 days and
//! re-issued by [`CertStore`](crate::CertStore) before it runs out.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// Errors while loading or generating a certificate.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A PEM file could not be read or holds no usable item.
    #[error("cannot read {path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key does not match the certificate, or its type is unsupported.
    #[error("unusable private key: {0}")]
    Key(#[from] rustls::Error),
    /// rcgen failed to generate the certificate.
    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The self-signed settings contradict each other.
    #[error("invalid self-signed settings: {0}")]
    Config(&'static str),
}

/// The SHA-256 hash of a DER certificate, as passed to a browser's `serverCertificateHashes`
/// (`{ algorithm: "sha-256", value: bytes }`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Hash a DER-encoded certificate.
    pub fn of(cert_der: &[u8]) -> Self {
        let rustls::SupportedCipherSuite::Tls13(suite) =
            rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256
        else {
            unreachable!("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite")
        };
        let digest = suite.common.hash_provider.hash(cert_der);
        let mut out = [0u8; 32];
        out.copy_from_slice(&digest.as_ref()[..32]);
        Self(out)
    }

    /// The 32 hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parse 64 hex digits, with or without `:` separators (as `openssl -fingerprint` prints).
    pub fn from_hex(text: &str) -> Option<Self> {
        let digits: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
        if digits.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// Settings of a generated certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfSignedConfig {
    /// DNS names and IP addresses of the certificate. Default `localhost`, `127.0.0.1`, `::1`.
    pub names: Vec<String>,
    /// Time from `not_before` to `not_after`. Default 13 days (browsers accept at most 14).
    pub validity: Duration,
    /// How far `not_before` lies in the past, for clients whose clock runs late. Default 1 h.
    pub backdate: Duration,
    /// Issue the next certificate when this much validity remains. Default 3 days.
    pub renew_before: Duration,
}

impl Default for SelfSignedConfig {
    fn default() -> Self {
        Self {
            names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            validity: Duration::from_secs(13 * 24 * 3600),
            backdate: Duration::from_secs(3600),
            renew_before: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

impl SelfSignedConfig {
    /// How long after issuing a certificate the next one is due.
    pub fn renew_after(&self) -> Result<Duration, CertError> {
        self.validity
            .checked_sub(self.backdate)
            .and_then(|left| left.checked_sub(self.renew_before))
            .filter(|d| !d.is_zero())
            .ok_or(CertError::Config(
                "renew_before + backdate must be shorter than validity",
            ))
    }
}

/// A certificate chain with its key, ready for rustls, plus its fingerprint.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The chain and signing key handed to rustls.
    pub certified: Arc<CertifiedKey>,
    /// SHA-256 of the leaf certificate.
    pub fingerprint: Fingerprint,
}

impl Issued {
    /// Pair a chain with its key, checking that they match.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, CertError> {
        let Some(leaf) = chain.first() else {
            return Err(CertError::Key(rustls::Error::NoCertificatesPresented));
        };
        let fingerprint = Fingerprint::of(leaf);
        let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)?;
        let certified = CertifiedKey::new(chain, signer);
        certified.keys_match()?;
        Ok(Self {
            certified: Arc::new(certified),
            fingerprint,
        })
    }

    /// The leaf certificate in DER.
    pub fn leaf_der(&self) -> &[u8] {
        self.certified
            .end_entity_cert()
            .map(|c| c.as_ref())
            .unwrap_or_default()
    }
}

/// Generate an ECDSA P-256 certificate valid from `now - backdate` for `validity`.
pub fn self_signed(config: &SelfSignedConfig) -> Result<Issued, CertError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(config.names.clone())?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "tern self-signed");
    params.distinguished_name = dn;
    let not_before = time::OffsetDateTime::now_utc() - config.backdate;
    params.not_before = not_before;
    params.not_after = not_before + config.validity;
    let cert = params.self_signed(&key)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Issued::new(vec![cert.der().clone()], der)
}

/// Load a PEM certificate chain and a PEM private key.
pub fn load_pem(cert: &Path, key: &Path) -> Result<Issued, CertError> {
    let pem_err = |path: &Path, reason: String| CertError::Pem {
        path: path.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_err(cert, "no CERTIFICATE block".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e.to_string()))?;
    Issued::new(chain, key_der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let fp = Fingerprint::of(b"hello");
        assert_eq!(fp.to_hex().len(), 64);
        assert_eq!(Fingerprint::from_hex(&fp.to_hex()), Some(fp));
        let colons: Vec<String> = fp.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(Fingerprint::from_hex(&colons.join(":")), Some(fp));
        assert_eq!(Fingerprint::from_hex("zz"), None);
        // sha256("hello")
        assert!(fp.to_hex().starts_with("2cf24dba5fb0a30e"));
    }

    #[test]
    fn renew_after_must_be_positive() {
        let mut c = SelfSignedConfig::default();
        assert_eq!(
            c.renew_after().ok(),
            Some(Duration::from_secs(10 * 24 * 3600 - 3600))
        );
        c.renew_before = c.validity;
        assert!(c.renew_after().is_err());
    }
}
