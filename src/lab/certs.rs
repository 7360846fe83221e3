//! A throwaway PKI for the lab: a CA and a server certificate for the lab's
//! names and addresses, made fresh per lab so nothing secret is committed.
//! Probes verify against the CA exactly as they would against a real one.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating lab certificates: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("lab TLS config: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A CA and one server identity it signed.
pub struct LabPki {
    /// The CA certificate, PEM: what `--ca` takes.
    pub ca_pem: String,
    pub server: Arc<ServerConfig>,
}

impl LabPki {
    /// A CA named `ca_name` and a server certificate valid for `names` and `ips`.
    pub fn generate(ca_name: &str, names: &[String], ips: &[IpAddr]) -> Result<LabPki, CertError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_name);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut params = CertificateParams::new(names.to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "geolat lab endpoint");
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;

        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut server = ServerConfig::builder_with_provider(crate::probe::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(LabPki {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        })
    }
}
