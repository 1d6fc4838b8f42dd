//! `wss://`: rustls over the dialed connection (feature `rustls`).

use std::{
    io,
    sync::{Arc, OnceLock},
};

use compat::Hijacked;
use rustls::{ClientConfig, RootCertStore, crypto::CryptoProvider, pki_types::ServerName};
use tokio_rustls::TlsConnector;

use crate::Error;

/// The configuration used when the dialer has none: the Mozilla root
/// certificates (`webpki-roots`), the process-wide crypto provider when the
/// application installed one, else ring, and ALPN `http/1.1` (the handshake
/// is HTTP/1.1; a server that supports ALPN then knows not to speak h2).
fn default_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = CryptoProvider::get_default()
                .cloned()
                .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("the provider supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// Runs the TLS handshake over `io` for `server_name` (SNI and certificate
/// verification; an IP address is verified against the certificate's IP
/// names).
pub(super) async fn connect(
    config: Option<&Arc<ClientConfig>>,
    server_name: &str,
    io: Hijacked,
) -> Result<Hijacked, Error> {
    let config = config.cloned().unwrap_or_else(default_config);
    let name = ServerName::try_from(server_name.to_owned()).map_err(|err| {
        Error::io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid TLS server name {server_name:?}: {err}"),
        ))
    })?;
    let (local, remote) = (io.local_addr(), io.remote_addr());
    let stream = TlsConnector::from(config).connect(name, io).await?;
    // gorilla warns about the same mistake: a config shared with an HTTP/2
    // client offers h2, and a server that picks it will not read our
    // HTTP/1.1 handshake.
    match stream.get_ref().1.alpn_protocol() {
        None | Some(b"http/1.1") => {}
        Some(other) => {
            return Err(Error::io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "websocket: the server chose ALPN protocol {:?}, but the WebSocket \
                     handshake needs HTTP/1.1; offer only \"http/1.1\" in the TLS config's \
                     alpn_protocols",
                    String::from_utf8_lossy(other)
                ),
            )));
        }
    }
    Ok(Hijacked::new(stream).with_addrs(local, remote))
}
