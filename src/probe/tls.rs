//! The `tls` phase: a rustls handshake on the fresh TCP connection, with
//! SNI, ALPN (h2, http/1.1) and certificate verification against the system
//! roots or a given CA bundle (which may hold the server's own self-signed
//! certificate: see `cert`). Verification is off only when asked for.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::cert::CaFileVerifier;
use super::connect::is_reset;
use super::record::{ErrorClass, Failure, Phase, TlsInfo};
use super::timeline::StampedTcp;
use crate::config::TlsSettings;

/// Why a TLS client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA file {path}: {source}")]
    CaFile { path: String, source: io::Error },
    #[error("CA file {path} holds no PEM certificates")]
    CaEmpty { path: String },
    #[error("CA file {path}: {message}")]
    CaInvalid { path: String, message: String },
    #[error("no system root certificates found; pass --ca FILE")]
    NoRoots,
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("TLS setup: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

/// The process-wide crypto provider: aws-lc-rs, the one rustls and the AWS
/// SDK both default to.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds the client configuration once per run: loading roots is far more
/// expensive than a handshake and must not be paid per sample.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let mut config = if settings.insecure {
        tracing::warn!(
            "TLS certificate verification is off (--insecure): a wrong or forged certificate will not be noticed"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
            .with_no_client_auth()
    } else {
        let trusted = match (&settings.ca_pem, &settings.ca_file) {
            (Some(pem), _) => Some(load_ca_pem(pem.as_bytes(), "lab CA")?),
            (None, Some(path)) => Some(load_ca_file(path)?),
            (None, None) => None,
        };
        match trusted {
            // A CA bundle the user gave: a server certificate that is one
            // of its certificates is trusted as it is (see `cert`).
            Some((roots, certs)) => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(CaFileVerifier::new(webpki, certs)))
                    .with_no_client_auth()
            }
            None => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Every sample must pay a full handshake: resumption would hide it.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// A CA bundle as roots, and its certificates as they were.
type CaBundle = (RootCertStore, Vec<CertificateDer<'static>>);

fn load_ca_file(path: &Path) -> Result<CaBundle, TlsSetupError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| TlsSetupError::CaFile {
        path: shown.clone(),
        source,
    })?;
    load_ca_pem(&pem, &shown)
}

fn load_ca_pem(pem: &[u8], shown: &str) -> Result<CaBundle, TlsSetupError> {
    use rustls::pki_types::pem::PemObject;
    let shown = shown.to_owned();
    let mut roots = RootCertStore::empty();
    let mut certs = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| TlsSetupError::CaInvalid {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        roots
            .add(cert.clone())
            .map_err(|e| TlsSetupError::CaInvalid {
                path: shown.clone(),
                message: e.to_string(),
            })?;
        certs.push(cert);
    }
    if roots.is_empty() {
        return Err(TlsSetupError::CaEmpty { path: shown });
    }
    Ok((roots, certs))
}

fn system_roots() -> Result<RootCertStore, TlsSetupError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(TlsSetupError::NoRoots);
    }
    Ok(roots)
}

/// Builds one ClientHello and throws it away. The crypto library seeds its
/// random generator and sets up key exchange lazily on first use, which
/// costs 20-30 ms once per process; paid here, it stays out of the first
/// sample's `tls` phase.
pub fn warm_up(config: &Arc<ClientConfig>) {
    if let Ok(name) = ServerName::try_from("warm-up.invalid") {
        let _ = rustls::ClientConnection::new(config.clone(), name);
    }
}

/// Performs the handshake and times it on the wire: from the ClientHello's
/// first byte written to the arrival of the server flight that completed
/// the handshake (see [`super::timeline`]).
///
/// The probe's own cryptography (key shares before the ClientHello, the
/// certificate and signature checks after the server's flight) is not
/// counted. It is the same for every target a probe measures, so it says
/// nothing about the service or the route, and it depends on the probe
/// host: on the lab VM a core that idled through a 20 ms wait runs it at
/// half speed (175 us hot, 370 us after the wait), which skewed slow
/// targets by 200 us when it was counted.
pub async fn handshake(
    connector: &TlsConnector,
    host: &str,
    tcp: StampedTcp,
    timeout: Duration,
) -> Result<(TlsStream<StampedTcp>, Duration, TlsInfo), Failure> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Failure::new(Phase::Tls, ErrorClass::TlsOther, format!("{host}: {e}")))?;
    let timeline = tcp.timeline();
    timeline.watch_next_write();
    let start = Instant::now();
    let stream = match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => {
            return Err(Failure::new(
                Phase::Tls,
                ErrorClass::TlsTimeout,
                format!("{host}: handshake incomplete after {timeout:?}"),
            ));
        }
        Ok(Err(e)) => {
            return Err(Failure::new(
                Phase::Tls,
                handshake_class(&e),
                format!("{host}: {e}"),
            ));
        }
        Ok(Ok(s)) => s,
    };
    let sent = timeline.written(start);
    let elapsed = timeline.data_end(sent, Instant::now()) - sent;
    let (_, conn) = stream.get_ref();
    let info = TlsInfo {
        version: conn
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_owned(),
        cipher: conn
            .negotiated_cipher_suite()
            .and_then(|c| c.suite().as_str())
            .unwrap_or("unknown")
            .to_owned(),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    };
    Ok((stream, elapsed, info))
}

fn handshake_class(e: &io::Error) -> ErrorClass {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match inner {
            rustls::Error::InvalidCertificate(_) => ErrorClass::TlsCert,
            _ => ErrorClass::TlsOther,
        };
    }
    if is_reset(e) {
        ErrorClass::Reset
    } else {
        ErrorClass::TlsOther
    }
}

/// `--insecure`: accepts any certificate but still checks that the server
/// holds the key it presented, so the handshake costs what a real one does.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
