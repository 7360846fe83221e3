//! Verifying the server's certificate against a `--ca` bundle: webpki's
//! path building, plus the one case webpki refuses on principle and curl,
//! Go and browsers accept.
//!
//! A self-signed server certificate made the common way (`openssl req
//! -x509`, which marks it `CA:TRUE`) and given as its own `--ca` fails
//! webpki with `CaUsedAsEndEntity`: a CA certificate may not also be a
//! server's identity. But when the server presents a certificate that is
//! byte for byte one the user said to trust, there is no chain to build:
//! the user vouched for exactly this certificate. So then, and only then,
//! [`CaFileVerifier`] checks what is left to check itself: that the
//! certificate names the server (its SAN, by webpki's rules) and that it is
//! within its validity period. The handshake still proves the server holds
//! the certificate's key (the signature checks are webpki's).

use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// webpki's verifier, which also trusts a server certificate that is one
/// of the `--ca` certificates (see the module documentation).
#[derive(Debug)]
pub struct CaFileVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The `--ca` certificates, DER.
    trusted: Vec<CertificateDer<'static>>,
}

impl CaFileVerifier {
    pub fn new(webpki: Arc<WebPkiServerVerifier>, trusted: Vec<CertificateDer<'static>>) -> Self {
        CaFileVerifier { webpki, trusted }
    }
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(e))
                if refused_for_being_its_own_issuer(&e)
                    && self
                        .trusted
                        .iter()
                        .any(|t| t.as_ref() == end_entity.as_ref()) =>
            {
                verify_trusted_as_is(end_entity, server_name, now)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The refusals a trusted certificate presented as itself meets: a
/// `CA:TRUE` one is `CaUsedAsEndEntity`; one webpki cannot take as its own
/// issuer is `UnknownIssuer`. Anything else (expired, wrong name, bad
/// signature) stands.
fn refused_for_being_its_own_issuer(e: &CertificateError) -> bool {
    match e {
        CertificateError::UnknownIssuer => true,
        CertificateError::Other(other) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

/// What is left to check of a certificate the user trusts as it is: the
/// name, then the validity period.
fn verify_trusted_as_is(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let parsed = ParsedCertificate::try_from(cert)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    let (not_before, not_after) = validity(cert.as_ref()).ok_or(CertificateError::BadEncoding)?;
    let time = now.as_secs();
    let at = |secs: u64| UnixTime::since_unix_epoch(Duration::from_secs(secs));
    if time < not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: at(not_before),
        }
        .into());
    }
    if time > not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: at(not_after),
        }
        .into());
    }
    Ok(())
}

/// `notBefore` and `notAfter` of an X.509 certificate (RFC 5280 4.1), in
/// seconds since the Unix epoch; `None` if the DER is not a certificate.
/// webpki checks validity only inside path building and does not expose
/// it, and the structure up to `validity` is five fields, so it is read
/// here rather than with another parser.
pub fn validity(der: &[u8]) -> Option<(u64, u64)> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0; // [0] EXPLICIT
    let (certificate, _) = tlv(der, SEQUENCE)?;
    let (tbs, _) = tlv(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = skip(rest)?;
    }
    rest = skip(rest)?; // serialNumber
    rest = skip(rest)?; // signature
    rest = skip(rest)?; // issuer
    let (validity, _) = tlv(rest, SEQUENCE)?;
    let (not_before, rest) = time(validity)?;
    let (not_after, _) = time(rest)?;
    Some((not_before, not_after))
}

/// One DER element of the expected tag: (its contents, what follows it).
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Skips one DER element, whatever its tag.
fn skip(input: &[u8]) -> Option<&[u8]> {
    let tag = *input.first()?;
    tlv(input, tag).map(|(_, rest)| rest)
}

/// A `Time` (UTCTime `YYMMDDHHMMSSZ` or GeneralizedTime `YYYYMMDDHHMMSSZ`,
/// the only forms RFC 5280 allows) as seconds since the epoch.
fn time(input: &[u8]) -> Option<(u64, &[u8])> {
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    let tag = *input.first()?;
    let (text, rest) = tlv(input, tag)?;
    let text = std::str::from_utf8(text).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r)?.parse::<u32>().ok();
    let (year, fields) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            // RFC 5280 4.1.2.5.1: YY >= 50 is 19YY, otherwise 20YY.
            let yy = num(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (num(0..4)?, 4),
        _ => return None,
    };
    let at = |i: usize| num(fields + i * 2..fields + i * 2 + 2);
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, at(0)?, at(1)?)?;
    let secs = date
        .and_hms_opt(at(2)?, at(3)?, at(4)?)?
        .and_utc()
        .timestamp();
    Some((u64::try_from(secs).ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    fn cert_valid(from: (i32, u8, u8), to: (i32, u8, u8)) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["a.example".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn validity_reads_utc_and_generalized_times() {
        // rcgen writes UTCTime through 2049 and GeneralizedTime from 2050.
        let der = cert_valid((2020, 1, 2), (2060, 3, 4));
        let (from, to) = validity(&der).unwrap();
        assert_eq!(from, 1_577_923_200); // 2020-01-02T00:00:00Z
        assert_eq!(to, 2_845_584_000); // 2060-03-04T00:00:00Z
    }

    #[test]
    fn validity_rejects_what_is_not_a_certificate() {
        assert_eq!(validity(b""), None);
        assert_eq!(validity(&[0x30, 0x03, 0x02, 0x01, 0x01]), None);
        let der = cert_valid((2020, 1, 2), (2030, 1, 1));
        assert_eq!(validity(&der[..der.len() / 3]), None, "truncated");
    }

    #[test]
    fn time_reads_both_centuries_of_utc_time() {
        let t = |s: &str| {
            let mut v = vec![0x17, s.len() as u8];
            v.extend_from_slice(s.as_bytes());
            time(&v).map(|(t, _)| t)
        };
        assert_eq!(t("700101000000Z"), Some(0));
        assert_eq!(t("491231235959Z"), Some(2_524_607_999));
        assert_eq!(t("700101000000"), None, "no Z");
        assert_eq!(t("70010100000aZ"), None);
    }
}
