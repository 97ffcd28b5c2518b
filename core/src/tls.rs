//! TLS client side of health checks, with rustls: client configurations
//! built from the CA files, HAProxy's verification rules, and time that
//! comes from the driver's `now`, never from a clock.
//!
//! HAProxy's rules: `verify required` checks the chain against `ca-file`;
//! the name is checked only when one is sent (`check-sni`), otherwise no
//! SNI goes out and any certificate the CA signed is accepted. `verify
//! none` accepts any certificate.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, Tls12Resumption, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::time_provider::TimeProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

use crate::config::{CheckTls, TlsParams};

/// How many PEM certificates `pem` holds.
pub(crate) fn count_certificates(pem: &[u8]) -> usize {
    CertificateDer::pem_slice_iter(pem)
        .filter(Result::is_ok)
        .count()
}

/// How many PEM revocation lists `pem` holds.
pub(crate) fn count_crls(pem: &[u8]) -> usize {
    CertificateRevocationListDer::pem_slice_iter(pem)
        .filter(Result::is_ok)
        .count()
}

/// Checks that a `crt` file holds a certificate and a private key.
pub(crate) fn check_client_pem(pem: &[u8]) -> Result<(), String> {
    if count_certificates(pem) == 0 {
        return Err("no PEM certificate found in it".into());
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map(|_| ())
        .map_err(|_| "no PEM private key found in it".into())
}

/// Wall-clock time as the balancer last heard it from the driver.
#[derive(Debug, Default)]
pub(crate) struct DriverTime(AtomicU64);

impl DriverTime {
    /// Records the current time, in seconds since the Unix epoch.
    pub(crate) fn set(&self, unix: Duration) {
        self.0.store(unix.as_secs(), Ordering::Relaxed);
    }
}

impl TimeProvider for DriverTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(
            self.0.load(Ordering::Relaxed),
        )))
    }
}

/// A client configuration for checks with `tls`; `verify_default` is the
/// global `ssl-server-verify`.
pub(crate) fn client_config(
    tls: &CheckTls,
    verify_default: bool,
    time: Arc<DriverTime>,
) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(provider(&tls.params));
    let verifier: Arc<dyn ServerCertVerifier> = if tls.verify.unwrap_or(verify_default) {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&tls.ca_pem).flatten() {
            roots.add(cert)?;
        }
        let crls = CertificateRevocationListDer::pem_slice_iter(&tls.crl_pem).flatten();
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .with_crls(crls)
            .build()
            .map_err(|e| Error::General(e.to_string()))?;
        let name = match (&tls.sni, &tls.verify_host) {
            (Some(_), _) => NameCheck::Sent,
            (None, Some(host)) => ServerName::try_from(host.clone())
                .map(NameCheck::Configured)
                .map_err(|e| Error::General(format!("verifyhost '{host}': {e}")))?,
            (None, None) => NameCheck::None,
        };
        Arc::new(ChainVerifier { inner, name })
    } else {
        Arc::new(AcceptAny(provider.clone()))
    };
    let mut versions = Vec::new();
    if tls.params.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if tls.params.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let builder = ClientConfig::builder_with_details(provider, time)
        .with_protocol_versions(&versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = if tls.crt_pem.is_empty() {
        builder.with_no_client_auth()
    } else {
        let chain = CertificateDer::pem_slice_iter(&tls.crt_pem)
            .flatten()
            .collect();
        let key = PrivateKeyDer::from_pem_slice(&tls.crt_pem)
            .map_err(|e| Error::General(format!("crt: {e}")))?;
        builder.with_client_auth_cert(chain, key)?
    };
    Ok(Arc::new(tune(config, tls)))
}

/// Applies `alpn`, `no-ssl-reuse` and `no-tls-tickets`.
fn tune(mut config: ClientConfig, tls: &CheckTls) -> ClientConfig {
    config.alpn_protocols = tls.alpn.clone();
    if tls.no_reuse {
        config.resumption = Resumption::disabled();
    } else if tls.no_tickets {
        config.resumption = Resumption::default().tls12_resumption(Tls12Resumption::SessionIdOnly);
    }
    config
}

/// rustls's provider with the suites `params` keeps (all of a version
/// whose list is not set), in the list's order.
fn provider(params: &TlsParams) -> CryptoProvider {
    let mut provider = ring::default_provider();
    let list = |suite: &rustls::SupportedCipherSuite| match suite {
        rustls::SupportedCipherSuite::Tls12(_) => params.tls12_suites.as_ref(),
        rustls::SupportedCipherSuite::Tls13(_) => params.tls13_suites.as_ref(),
    };
    provider
        .cipher_suites
        .retain(|s| list(s).is_none_or(|l| l.contains(&s.suite())));
    // A stable sort: the versions keep rustls's order (TLS 1.3 first).
    provider.cipher_suites.sort_by_key(|s| {
        let version = usize::from(matches!(s, rustls::SupportedCipherSuite::Tls12(_)));
        let rank = list(s).and_then(|l| l.iter().position(|x| *x == s.suite()));
        (version, rank)
    });
    provider
}

/// The name a check connects to: `check-sni` (sent as SNI and verified),
/// else the address (no SNI is sent for an address).
pub(crate) fn server_name(tls: &CheckTls, ip: IpAddr) -> ServerName<'static> {
    tls.sni
        .as_deref()
        .and_then(|name| ServerName::try_from(name.to_owned()).ok())
        .unwrap_or(ServerName::IpAddress(ip.into()))
}

/// HAProxy-style text for a TLS failure, for `info: "..."`.
pub(crate) fn describe(error: &Error) -> String {
    match error {
        Error::InvalidCertificate(e) => match e {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate is not yet valid".into()
            }
            CertificateError::UnknownIssuer => {
                "unable to get local issuer certificate (unknown issuer)".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "Server presented an SSL certificate different from the expected one".into()
            }
            CertificateError::BadSignature => "certificate signature failure".into(),
            CertificateError::Revoked => "certificate revoked".into(),
            other => format!("certificate verify failed: {other:?}"),
        },
        Error::AlertReceived(alert) => format!("TLS alert from server: {alert:?}"),
        Error::General(message) => message.clone(),
        other => format!("TLS error: {other}"),
    }
}

/// Which name a certificate must carry.
#[derive(Debug)]
enum NameCheck {
    /// The name sent as SNI.
    Sent,
    /// `verifyhost`, since no SNI is sent.
    Configured(ServerName<'static>),
    /// None: the chain alone decides.
    None,
}

/// Verifies the chain, and the name HAProxy would check, if any.
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: NameCheck,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // webpki checks the chain first, then the name: a name error means
        // the chain is good.
        let name = match &self.name {
            NameCheck::Configured(host) => host,
            NameCheck::Sent | NameCheck::None => server_name,
        };
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, name, ocsp, now);
        let name_error = matches!(
            verdict,
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        );
        match &self.name {
            NameCheck::None if name_error => Ok(ServerCertVerified::assertion()),
            NameCheck::Configured(_) if name_error => Err(Error::General(
                "Server presented an SSL certificate different from the configured one".into(),
            )),
            _ => verdict,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `verify none`: any certificate, but the handshake's signatures must
/// still match it.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite;

    #[test]
    fn params_keep_the_listed_suites_in_their_order() {
        let mut tls = CheckTls {
            verify: Some(false),
            ..CheckTls::default()
        };
        tls.params.tls12 = false;
        tls.params.tls13_suites = Some(vec![
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            CipherSuite::TLS13_AES_128_GCM_SHA256,
        ]);
        let tls13: Vec<CipherSuite> = provider(&tls.params)
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)))
            .map(|s| s.suite())
            .collect();
        assert_eq!(tls13, tls.params.tls13_suites.clone().unwrap());
        assert!(client_config(&tls, true, Arc::default()).is_ok());
    }
}
