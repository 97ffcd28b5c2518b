//! TLS for the check servers: one self-signed certificate made per run
//! (the balancers check with `verify none`), and resumption as a TLS
//! server usually offers it (stateless tickets, and a session cache for
//! TLS 1.2 session ids).

use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::ServerSessionMemoryCache;

/// A server configuration with a fresh self-signed certificate.
pub fn server_config() -> Result<Arc<ServerConfig>, String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let params =
        CertificateParams::new(vec!["bench.invalid".to_owned()]).map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(|e| e.to_string())?;
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| e.to_string())?;
    config.session_storage = ServerSessionMemoryCache::new(16_384);
    Ok(Arc::new(config))
}
