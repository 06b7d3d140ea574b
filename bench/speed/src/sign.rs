//! Pusher webhook signatures: hex HMAC-SHA256 of the raw body with the app secret.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const KEY_HEADER: &str = "x-pusher-key";
pub const SIGNATURE_HEADER: &str = "x-pusher-signature";

/// Hex HMAC-SHA256 of `body` with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature` (hex) is the HMAC of `body` with `secret`, compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `key=secret,key=secret` as given on the command line.
pub fn parse_secrets(list: &str) -> anyhow::Result<Vec<(String, String)>> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, s)) if !k.is_empty() => Ok((k.to_owned(), s.to_owned())),
            _ => anyhow::bail!("expected key=secret, got {pair:?}"),
        })
        .collect()
}

/// Secrets by app key, for the processes that accept several apps.
pub fn secrets_map(list: &str) -> anyhow::Result<HashMap<String, Vec<u8>>> {
    Ok(parse_secrets(list)?
        .into_iter()
        .map(|(k, s)| (k, s.into_bytes()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_what_it_signs() {
        let sig = sign(b"secret", b"{}");
        assert!(verify(b"secret", b"{}", &sig));
        assert!(!verify(b"other", b"{}", &sig));
        assert!(!verify(b"secret", b"{}", "zz"));
    }

    #[test]
    fn parses_secret_lists() {
        let s = parse_secrets("a=1,b=x=y").unwrap();
        assert_eq!(
            s,
            vec![("a".into(), "1".into()), ("b".into(), "x=y".into())]
        );
        assert!(parse_secrets("nokey").is_err());
    }
}
