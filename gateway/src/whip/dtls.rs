//! DTLS for WHIP sessions: str0m's own (dimpl on aws-lc-rs), with one addition. FFmpeg 8.1
//! built with GnuTLS (PyAV's wheel, and distributions that build FFmpeg with GnuTLS) makes its
//! DTLS certificate on secp224r1 (P-224), whose signatures dimpl's verifier refuses ("unsupported
//! EC curve"), so its `whip` muxer could not publish. Signatures by a P-224 key are verified
//! here with RustCrypto's `p224`; every other certificate goes to dimpl's verifier as before.
//! Nothing else changes: the certificate is still pinned by the fingerprint in the offer.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use dimpl::CryptoError;
use dimpl::crypto::{HashAlgorithm, SignatureAlgorithm, SignatureVerifier};
use p224::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::Digest;
use str0m::crypto::dtls::{
    DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion,
};
use str0m::crypto::{CryptoError as RtcCryptoError, CryptoProvider};

/// The OID of secp224r1.
const OID_P224: &str = "1.3.132.0.33";

/// The crypto provider every WHIP session's `Rtc` uses.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            static DTLS: Dtls = Dtls;
            let mut p = str0m_aws_lc_rs::default_provider();
            p.dtls_provider = &DTLS;
            Arc::new(p)
        })
        .clone()
}

/// dimpl's aws-lc-rs provider with [`Verifier`] in place of its signature verifier.
fn dimpl_provider() -> dimpl::crypto::CryptoProvider {
    static VERIFIER: Verifier = Verifier;
    let mut p = str0m_aws_lc_rs::dimpl_crypto_provider();
    p.signature_verification = &VERIFIER;
    p
}

#[derive(Debug)]
struct Verifier;

impl SignatureVerifier for Verifier {
    fn verify_signature(
        &self,
        cert_der: &[u8],
        data: &[u8],
        signature: &[u8],
        hash_alg: HashAlgorithm,
        sig_alg: SignatureAlgorithm,
    ) -> Result<(), CryptoError> {
        match p224_key(cert_der) {
            Some(key) if sig_alg == SignatureAlgorithm::ECDSA => {
                verify_p224(&key, data, signature, hash_alg)
            }
            _ => str0m_aws_lc_rs::dimpl_crypto_provider()
                .signature_verification
                .verify_signature(cert_der, data, signature, hash_alg, sig_alg),
        }
    }
}

/// The SEC1 public key of `cert_der` when it is a P-224 key.
fn p224_key(cert_der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let spki = cert.public_key();
    let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
    (curve.to_id_string() == OID_P224).then(|| spki.subject_public_key.data.to_vec())
}

fn verify_p224(
    key: &[u8],
    data: &[u8],
    signature: &[u8],
    hash_alg: HashAlgorithm,
) -> Result<(), CryptoError> {
    let key = p224::ecdsa::VerifyingKey::from_sec1_bytes(key)
        .map_err(|_| CryptoError::InvalidSubjectPublicKey)?;
    let sig = p224::ecdsa::Signature::from_der(signature)
        .map_err(|_| CryptoError::InvalidSignatureFormat)?;
    let digest: Vec<u8> = match hash_alg {
        HashAlgorithm::SHA224 => sha2::Sha224::digest(data).to_vec(),
        HashAlgorithm::SHA256 => sha2::Sha256::digest(data).to_vec(),
        HashAlgorithm::SHA384 => sha2::Sha384::digest(data).to_vec(),
        HashAlgorithm::SHA512 => sha2::Sha512::digest(data).to_vec(),
        _ => return Err(CryptoError::InvalidSignatureFormat),
    };
    key.verify_prehash(&digest, &sig)
        .map_err(|_| CryptoError::InvalidSignatureFormat)
}

#[derive(Debug)]
struct Dtls;

impl DtlsProvider for Dtls {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        str0m_aws_lc_rs::default_provider()
            .dtls_provider
            .generate_certificate()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, RtcCryptoError> {
        // ICE has checked return routability before DTLS: no server cookies (as str0m).
        let mut builder = dimpl::Config::builder()
            .use_server_cookie(false)
            .with_crypto_provider(dimpl_provider());
        if let Some(mtu) = mtu {
            builder = builder.mtu(mtu);
        }
        let config = Arc::new(
            builder
                .build()
                .map_err(|e| RtcCryptoError::Other(format!("DTLS configuration: {e}")))?,
        );
        let cert = cert.clone();
        let dtls = match version {
            DtlsVersion::Dtls12 => dimpl::Dtls::new_12(config, cert, now),
            DtlsVersion::Dtls13 => dimpl::Dtls::new_13(config, cert, now),
            DtlsVersion::Auto => dimpl::Dtls::new_auto(config, cert, now),
            other => {
                return Err(RtcCryptoError::Other(format!(
                    "unsupported DTLS version {other}"
                )));
            }
        };
        Ok(Box::new(Instance(dtls)))
    }
}

struct Instance(dimpl::Dtls);

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Instance")
    }
}

impl DtlsInstance for Instance {
    fn set_active(&mut self, active: bool) {
        self.0.set_active(active);
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.0.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        self.0.poll_output(buf)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.0.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.0.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.0.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.0.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.0.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FFmpeg 8.1's (GnuTLS) DTLS certificate: P-224.
    const FFMPEG_CERT: &[u8] = include_bytes!("testdata/ffmpeg-8.1-gnutls-dtls.der");

    #[test]
    fn a_p224_certificate_is_recognised_and_its_signatures_checked() {
        let key = p224_key(FFMPEG_CERT).expect("a P-224 key");
        assert_eq!(key.len(), 57, "an uncompressed SEC1 point on P-224");
        let err = Verifier
            .verify_signature(
                FFMPEG_CERT,
                b"data",
                &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
                HashAlgorithm::SHA256,
                SignatureAlgorithm::ECDSA,
            )
            .unwrap_err();
        assert!(
            matches!(err, CryptoError::InvalidSignatureFormat),
            "{err:?}"
        );
    }

    #[test]
    fn a_p224_signature_verifies() {
        use p224::ecdsa::signature::hazmat::PrehashSigner;
        let secret = p224::ecdsa::SigningKey::from_slice(&[7u8; 28]).expect("key");
        let public = secret.verifying_key().to_encoded_point(false);
        let data = b"client_random server_random params";
        let digest = sha2::Sha256::digest(data);
        let sig: p224::ecdsa::Signature = secret.sign_prehash(&digest).expect("sign");
        let der = sig.to_der();
        verify_p224(
            public.as_bytes(),
            data,
            der.as_bytes(),
            HashAlgorithm::SHA256,
        )
        .expect("verifies");
        assert!(
            verify_p224(
                public.as_bytes(),
                b"other",
                der.as_bytes(),
                HashAlgorithm::SHA256
            )
            .is_err()
        );
    }
}
