//! Client-side TLS: which server certificates a [`Client`](crate::Client) trusts.
//!
//! Three policies, chosen by [`ClientConfig`](crate::ClientConfig): pinned SHA-256 hashes
//! (what browsers do with `serverCertificateHashes`), no verification (local tests), or
//! WebPKI with system and extra roots. Handshake signatures are always checked.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::cert::Fingerprint;
use crate::config::ClientConfig;
use crate::error::ConnectError;

/// Build the rustls client config (TLS 1.3 only) for `config`, without ALPN.
pub(crate) fn tls_config(config: &ClientConfig) -> Result<rustls::ClientConfig, ConnectError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ConnectError::Config {
            reason: e.to_string(),
        })?;
    let verifier: Arc<dyn ServerCertVerifier> = if config.disable_verify {
        Arc::new(Pinned {
            provider,
            hashes: None,
        })
    } else if !config.cert_hashes.is_empty() {
        Arc::new(Pinned {
            provider,
            hashes: Some(config.cert_hashes.clone()),
        })
    } else {
        let roots = roots(config)?;
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| ConnectError::Config {
                reason: format!("no usable root certificate: {e}"),
            })?
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match &config.identity {
        None => Ok(builder.with_no_client_auth()),
        Some(id) => {
            let (chain, key) =
                crate::cert::read_pem(&id.cert, &id.key).map_err(|e| ConnectError::Config {
                    reason: format!("client certificate: {e}"),
                })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ConnectError::Config {
                    reason: format!("client certificate {}: {e}", id.cert.display()),
                })
        }
    }
}

fn roots(config: &ClientConfig) -> Result<rustls::RootCertStore, ConnectError> {
    let mut roots = rustls::RootCertStore::empty();
    if config.system_roots {
        let native = rustls_native_certs::load_native_certs();
        for err in native.errors {
            tracing::debug!(%err, "skipping a system root certificate");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::trace!(added, ignored, "system roots loaded");
    }
    add_roots(&mut roots, &config.roots).map_err(|reason| ConnectError::Config { reason })?;
    Ok(roots)
}

/// Add every certificate of the PEM files `paths` to `roots`.
pub(crate) fn add_roots(
    roots: &mut rustls::RootCertStore,
    paths: &[std::path::PathBuf],
) -> Result<(), String> {
    for path in paths {
        let certs = crate::cert::read_certs(path).map_err(|e| e.to_string())?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("bad root certificate in {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Accepts a certificate whose SHA-256 is pinned (`hashes: Some`) or any (`None`).
#[derive(Debug)]
struct Pinned {
    provider: Arc<CryptoProvider>,
    hashes: Option<Vec<Fingerprint>>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(hashes) = &self.hashes else {
            return Ok(ServerCertVerified::assertion());
        };
        let got = Fingerprint::of(end_entity);
        if hashes.contains(&got) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate hash {got} is not among the pinned hashes"
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
