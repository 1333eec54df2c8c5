//! Connecting to PostgreSQL with TLS as libpq's URL options ask for it
//! (`sslmode`, `sslrootcert`), over rustls: managed PostgreSQL services
//! require TLS, and operators already know libpq's words for it.

use std::fmt;
use std::sync::Arc;

use diesel::ConnectionError;
use diesel_async::AsyncPgConnection;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`, all five that apply to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, unverified; plain otherwise (libpq's default).
    Prefer,
    /// TLS always; the certificate is checked only when `sslrootcert` is given.
    Require,
    /// TLS, and the server's certificate must chain to a trusted authority.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode must be one of disable, prefer, require, verify-ca, verify-full (got {other:?})"
                ));
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// Where the trusted certificate authorities come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// `sslrootcert=PATH`: the PEM certificates in that file.
    File(String),
    /// `sslrootcert=system`, or a verifying mode without `sslrootcert`: the
    /// operating system's store.
    System,
}

/// A parsed PostgreSQL URL that opens connections with the TLS it asks for.
/// Built once per pool; cheap to clone.
#[derive(Clone)]
pub struct PgConnector {
    config: tokio_postgres::Config,
    mode: SslMode,
    roots: Option<Roots>,
    tls: MakeRustlsConnect,
}

impl PgConnector {
    /// Reads the URL and its TLS options, and loads the trusted certificates
    /// now, so a wrong path fails at start rather than at the first connection.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut mode = None;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = url::form_urlencoded::parse(pair.as_bytes()).next().unwrap_or_default();
            match &*key {
                "sslmode" => mode = Some(SslMode::parse(&value)?),
                "sslrootcert" => root_cert = Some(value.into_owned()),
                "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" | "sslsni" => {
                    return Err(format!("{key} is not supported; TLS options are sslmode and sslrootcert"));
                }
                _ => kept.push(pair),
            }
        }
        let driver_url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        let mut config: tokio_postgres::Config =
            driver_url.parse().map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;

        let mode = mode.unwrap_or(SslMode::Prefer);
        let roots = match (mode, root_cert.as_deref()) {
            (SslMode::Disable, _) => None,
            (_, Some("system")) => Some(Roots::System),
            (_, Some(path)) => Some(Roots::File(path.to_owned())),
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => Some(Roots::System),
            (SslMode::Prefer | SslMode::Require, None) => None,
        };
        config.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
        let tls = MakeRustlsConnect::new(client_config(mode, roots.as_ref())?);
        Ok(PgConnector { config, mode, roots, tls })
    }

    /// Opens one connection.
    pub async fn connect(&self) -> Result<AsyncPgConnection, ConnectionError> {
        if self.mode == SslMode::Disable {
            let (client, connection) =
                self.config.connect(tokio_postgres::NoTls).await.map_err(|e| self.failure(&e))?;
            AsyncPgConnection::try_from_client_and_connection(client, connection).await
        } else {
            let (client, connection) = self.config.connect(self.tls.clone()).await.map_err(|e| self.failure(&e))?;
            AsyncPgConnection::try_from_client_and_connection(client, connection).await
        }
    }

    /// The driver's error with where, how, and (for a refused certificate) why.
    fn failure(&self, error: &tokio_postgres::Error) -> ConnectionError {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .zip(self.config.get_ports().iter().chain(std::iter::repeat(&5432)))
            .map(|(host, port)| match host {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let roots = match &self.roots {
            Some(Roots::File(path)) => format!(", sslrootcert={path}"),
            Some(Roots::System) => ", the system's certificate authorities".to_owned(),
            None => String::new(),
        };
        let mut message =
            format!("cannot connect to PostgreSQL at {} (sslmode={}{roots}): {error}", hosts.join(","), self.mode);
        if let Some(hint) = certificate_hint(error, self.roots.as_ref()) {
            message.push_str(": ");
            message.push_str(hint);
        }
        ConnectionError::BadConnection(message)
    }
}

/// Says in words why rustls refused the server's certificate, when it did.
fn certificate_hint(error: &tokio_postgres::Error, roots: Option<&Roots>) -> Option<&'static str> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        let rustls_error = current
            .downcast_ref::<rustls::Error>()
            .or_else(|| current.downcast_ref::<std::io::Error>()?.get_ref()?.downcast_ref::<rustls::Error>());
        if let Some(rustls::Error::InvalidCertificate(reason)) = rustls_error {
            return Some(match reason {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => match roots {
                    Some(Roots::File(_)) => {
                        "the server's certificate was not issued by a certificate authority in sslrootcert"
                    }
                    _ => "the server's certificate was not issued by a certificate authority this system trusts",
                },
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    "the server's certificate does not name this host (verify-full checks the name)"
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the server's certificate has expired"
                }
                _ => "the server's certificate was refused",
            });
        }
        source = current.source();
    }
    None
}

fn client_config(mode: SslMode, roots: Option<&Roots>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let algorithms = provider.signature_verification_algorithms;
    let chain = match roots {
        None => None,
        Some(roots) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(load_roots(roots)?), provider)
                .build()
                .map_err(|e| format!("TLS setup: {e}"))?,
        ),
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, chain) {
        (SslMode::VerifyFull, Some(full)) => full,
        // Fail closed: a verifying mode never accepts any certificate.
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => return Err("a verifying sslmode needs roots".into()),
        // libpq: `require` with a root certificate checks the chain, like verify-ca
        (_, chain) => Arc::new(Lenient { chain, algorithms }),
    };
    Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

fn load_roots(roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read sslrootcert {path}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("cannot read sslrootcert {path}: {e}"))?;
            for certificate in certificates {
                store.add(certificate).map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
            if store.is_empty() {
                return Err(format!("sslrootcert {path} holds no PEM certificate"));
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err("no system certificate authorities were found; set sslrootcert=PATH".into());
            }
        }
    }
    Ok(store)
}

/// What libpq's mode asks of the server's certificate. verify-full takes
/// rustls's own verifier as it is; the other modes this one.
#[derive(Debug)]
struct Lenient {
    /// `Some`: the chain must verify (verify-ca, or require with a root
    /// certificate), the name is not checked. `None`: any certificate (prefer,
    /// and require without one), as libpq does.
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// The handshake's signatures are always checked, so the session is bound
    /// to the key the server presented.
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        // The chain is checked before the name, so a name error means the chain verified.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_read_and_taken_out_of_the_driver_url() {
        let connector =
            PgConnector::parse("postgres://u:p@db.example:6432/cases?application_name=x&sslmode=require").unwrap();
        assert_eq!(connector.mode, SslMode::Require);
        assert_eq!(connector.roots, None);
        assert_eq!(connector.config.get_application_name(), Some("x"));
        assert_eq!(connector.config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);

        let default = PgConnector::parse("postgres://u@h/db").unwrap();
        assert_eq!(default.mode, SslMode::Prefer, "libpq's default");

        let full = PgConnector::parse("postgres://u@h/db?sslmode=verify-full").unwrap();
        assert_eq!(full.roots, Some(Roots::System));
    }

    #[test]
    fn unknown_modes_and_missing_files_are_refused() {
        let bad = PgConnector::parse("postgres://u@h/db?sslmode=verify").err().unwrap();
        assert!(bad.contains("sslmode must be one of"), "{bad}");
        let missing =
            PgConnector::parse("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").err().unwrap();
        assert!(missing.contains("cannot read sslrootcert /nonexistent/ca.pem"), "{missing}");
        let client_cert = PgConnector::parse("postgres://u@h/db?sslcert=/x.pem").err().unwrap();
        assert!(client_cert.contains("sslcert is not supported"), "{client_cert}");
    }
}
