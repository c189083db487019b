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
#[non_exhaustive]
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
    let (chain, key_der) = read_pem(cert, key)?;
    Issued::new(chain, key_der)
}

/// Read a PEM certificate chain (at least one certificate) and a PEM private key.
pub(crate) fn read_pem(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CertError> {
    let chain = read_certs(cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e.to_string()))?;
    Ok((chain, key_der))
}

/// Read every certificate of a PEM file; none is an error.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(path, e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_err(path, "no CERTIFICATE block".into()));
    }
    Ok(chain)
}

fn pem_err(path: &Path, reason: String) -> CertError {
    CertError::Pem {
        path: path.display().to_string(),
        reason,
    }
}

/// A certificate and its private key, both PEM text.
#[derive(Clone, Debug)]
pub struct PemPair {
    /// The certificate (`-----BEGIN CERTIFICATE-----`).
    pub cert: String,
    /// The PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`).
    pub key: String,
}

/// Common name of a cluster CA: `tern cluster CA <name>`.
fn ca_subject(name: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, format!("tern cluster CA {name}"));
    dn
}

fn ca_params(name: &str) -> Result<rcgen::CertificateParams, CertError> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = ca_subject(name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// A new private CA (ECDSA P-256, valid for `validity`) for the relays of one cluster: its
/// certificate goes into every relay's `[cluster] ca`, its key stays with the operator.
pub fn cluster_ca(name: &str, validity: Duration) -> Result<PemPair, CertError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = ca_params(name)?;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - Duration::from_secs(3600);
    params.not_after = now + validity;
    let cert = params.self_signed(&key)?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A certificate for relay `name` (also its DNS name, so one certificate serves both as the
/// relay's server certificate and as its client certificate to upstreams), signed by a CA
/// made with [`cluster_ca`], valid for `validity`.
pub fn issue(ca: &PemPair, name: &str, validity: Duration) -> Result<PemPair, CertError> {
    let bad_ca = |reason: String| CertError::Pem {
        path: "CA certificate".into(),
        reason,
    };
    let parsed = x509_parser::pem::parse_x509_pem(ca.cert.as_bytes())
        .map_err(|e| bad_ca(e.to_string()))?
        .1;
    let x509 = parsed.parse_x509().map_err(|e| bad_ca(e.to_string()))?;
    let cn = common_name(&x509).unwrap_or_default();
    let Some(ca_name) = cn.strip_prefix("tern cluster CA ") else {
        return Err(CertError::Config(
            "not a CA made by `tern cluster ca` (sign with your own PKI instead)",
        ));
    };
    let ca_key = rcgen::KeyPair::from_pem(&ca.key)?;
    let issuer = rcgen::Issuer::new(ca_params(ca_name)?, ca_key);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()])?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, name);
    params.distinguished_name = dn;
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - Duration::from_secs(3600);
    params.not_after = now + validity;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The name a verified peer certificate gives: its first DNS subject alternative name, else
/// its common name.
pub(crate) fn peer_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                return Some((*dns).to_owned());
            }
        }
    }
    common_name(&cert).map(str::to_owned)
}

/// The first common name of a certificate's subject.
fn common_name<'a>(cert: &'a x509_parser::certificate::X509Certificate<'_>) -> Option<&'a str> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
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
