//! Optional TLS, and mutual TLS when a client CA is given (rustls with ring).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// Largest PEM file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// Certificate and key paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsPaths {
    /// Server certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Server private key (PEM).
    pub key: Option<PathBuf>,
    /// CA bundle (PEM) that client certificates must chain to; set for mutual TLS.
    pub client_ca: Option<PathBuf>,
}

fn read_pem(path: &Path) -> Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
    match guardrail_core::open::read_bounded(file, MAX_PEM_BYTES) {
        Ok(buf) => Ok(buf),
        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            bail!("`{}` is larger than {MAX_PEM_BYTES} bytes", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

impl TlsPaths {
    /// The server TLS configuration, `None` for plaintext.
    pub fn server_config(&self) -> Result<Option<ServerTlsConfig>> {
        let (cert, key) = match (&self.cert, &self.key, &self.client_ca) {
            (None, None, None) => return Ok(None),
            (Some(cert), Some(key), _) => (cert, key),
            (_, _, Some(_)) if self.cert.is_none() || self.key.is_none() => {
                bail!("--tls-client-ca needs --tls-cert and --tls-key")
            }
            _ => bail!("--tls-cert and --tls-key go together"),
        };
        let identity = Identity::from_pem(read_pem(cert)?, read_pem(key)?);
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca {
            config = config.client_ca_root(Certificate::from_pem(read_pem(ca)?));
        }
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_without_paths_and_errors_on_half_configs() {
        assert!(TlsPaths::default().server_config().unwrap().is_none());
        let half = TlsPaths {
            cert: Some(PathBuf::from("/nonexistent/cert.pem")),
            ..TlsPaths::default()
        };
        assert!(
            half.server_config()
                .unwrap_err()
                .to_string()
                .contains("go together")
        );
        let mtls_only = TlsPaths {
            client_ca: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..TlsPaths::default()
        };
        assert!(
            mtls_only
                .server_config()
                .unwrap_err()
                .to_string()
                .contains("needs")
        );
    }
}
