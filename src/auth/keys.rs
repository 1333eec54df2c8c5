//! The public keys tokens are verified with, read from where
//! `CASEBOOK_JWT_PUBLIC_KEY` points: one PEM file (RS256 or ES256), a
//! directory of them (`<kid>.pem`, and `*.json` key sets), or a JWKS document
//! (`{"keys": [...]}`, as identity providers publish them). They are read
//! again when the files change or the process gets SIGHUP, so an identity
//! provider's key rotation needs no restart; a read that fails keeps the
//! keys in use.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// One verification key.
#[derive(Clone)]
pub struct PublicKey {
    /// The `kid` tokens name it by, when it has one.
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// What the files looked like when read: a change of any means reading again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(PathBuf, u64, Option<SystemTime>)>);

/// Reads the keys at `path`, and the fingerprint of what was read.
pub fn read(path: &Path) -> Result<(Vec<PublicKey>, Fingerprint), String> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| format!("CASEBOOK_JWT_PUBLIC_KEY {shown}: {e}"))?;
    let files: Vec<PathBuf> = if metadata.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("CASEBOOK_JWT_PUBLIC_KEY {shown}: {e}"))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pem" || e == "json"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut keys = Vec::new();
    let mut fingerprint = Fingerprint(vec![stamp(path)]);
    for file in &files {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let in_directory = metadata.is_dir();
        keys.extend(parse(file, &bytes, in_directory).map_err(|why| format!("{}: {why}", file.display()))?);
        fingerprint.0.push(stamp(file));
    }
    if keys.is_empty() {
        return Err(format!("CASEBOOK_JWT_PUBLIC_KEY {shown} holds no key"));
    }
    Ok((keys, fingerprint))
}

/// What `path` looks like now (size and modification time).
pub fn fingerprint(path: &Path, read: &Fingerprint) -> Fingerprint {
    let mut now = Fingerprint(vec![stamp(path)]);
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "pem" || e == "json"));
        files.sort();
        now.0.extend(files.iter().map(|f| stamp(f)));
    } else {
        now.0.extend(read.0.iter().skip(1).map(|(file, ..)| stamp(file)));
    }
    now
}

fn stamp(path: &Path) -> (PathBuf, u64, Option<SystemTime>) {
    let metadata = std::fs::metadata(path).ok();
    (path.to_owned(), metadata.as_ref().map_or(0, |m| m.len()), metadata.and_then(|m| m.modified().ok()))
}

/// The keys of one file: a JWKS document, or one PEM key (in a directory,
/// named by its file's stem as its `kid`).
fn parse(file: &Path, bytes: &[u8], in_directory: bool) -> Result<Vec<PublicKey>, String> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))?;
        return set
            .keys
            .iter()
            .filter(|jwk| {
                // Keys for other uses (encryption) are not for verifying tokens.
                jwk.common
                    .public_key_use
                    .as_ref()
                    .is_none_or(|u| matches!(u, jsonwebtoken::jwk::PublicKeyUse::Signature))
            })
            .map(|jwk| {
                let algorithm = match jwk.common.key_algorithm {
                    Some(alg) => {
                        Algorithm::try_from(alg).map_err(|_| format!("key algorithm {alg:?} is not supported"))?
                    }
                    None => default_algorithm(&jwk.algorithm)?,
                };
                if matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                    return Err("a JWKS of shared secrets is not accepted: publish public keys".into());
                }
                let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {:?}: {e}", jwk.common.key_id))?;
                Ok(PublicKey { kid: jwk.common.key_id.clone(), algorithm, key })
            })
            .collect();
    }
    let kid = in_directory.then(|| file.file_stem().map(|s| s.to_string_lossy().into_owned())).flatten();
    if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
        return Ok(vec![PublicKey { kid, algorithm: Algorithm::RS256, key }]);
    }
    if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
        return Ok(vec![PublicKey { kid, algorithm: Algorithm::ES256, key }]);
    }
    Err("neither an RSA nor an EC public key in PEM".into())
}

/// A JWK without `alg`: what its key type signs with.
fn default_algorithm(parameters: &AlgorithmParameters) -> Result<Algorithm, String> {
    match parameters {
        AlgorithmParameters::RSA(_) => Ok(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Ok(Algorithm::ES256),
            EllipticCurve::P384 => Ok(Algorithm::ES384),
            ref other => Err(format!("curve {other:?} is not supported")),
        },
        AlgorithmParameters::OctetKeyPair(_) => Ok(Algorithm::EdDSA),
        AlgorithmParameters::OctetKey(_) => Err("a shared secret is not accepted in a JWKS".into()),
        _ => Err("this key type is not supported".into()),
    }
}
