//! Webhook signatures: HMAC-SHA256 over the exact body bytes, in the two schemes receivers check.
//!
//! - Pusher's (`X-Pusher-Signature`): lowercase hex, keyed by the app secret. Used both to verify
//!   what sources send us and to sign what we deliver.
//! - Standard Webhooks' (`webhook-signature`, standardwebhooks.com): `v1,` and base64, over
//!   `{id}.{timestamp}.{body}`, keyed by the bytes a `whsec_` secret encodes. Only for delivery.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The `X-Pusher-Signature` value for `body`: lowercase hex.
pub fn sign(secret: &str, body: &[u8]) -> String {
    hex::encode(mac(secret.as_bytes(), &[body]).finalize().into_bytes())
}

/// Whether `signature_hex` is the signature of `body`, compared in constant time.
/// Hex in either case is accepted; anything that is not 64 hex digits is not.
pub fn verify(secret: &str, body: &[u8], signature_hex: &str) -> bool {
    let Ok(given) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    mac(secret.as_bytes(), &[body]).verify_slice(&given).is_ok()
}

/// A Standard Webhooks signing key: the bytes of a `whsec_<base64>` secret. Never shows in
/// logs, errors or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct StandardWebhooksKey(Vec<u8>);

/// Why a `whsec_` secret was refused. The messages never repeat the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "must start with `whsec_` (a Standard Webhooks secret: `whsec_` and the key in base64)"
    )]
    NoPrefix,
    #[error("the part after `whsec_` is not standard base64 (A-Z, a-z, 0-9, +, / and `=` padding)")]
    NotBase64,
    #[error(
        "the key is {0} bytes; the Standard Webhooks spec wants 24 to 64 (generate one with `openssl rand -base64 32`)"
    )]
    Length(usize),
}

impl StandardWebhooksKey {
    /// The spec's bounds on a symmetric key: at least 192 bits, at most 512.
    const LENGTH: std::ops::RangeInclusive<usize> = 24..=64;

    /// Reads `whsec_<base64>`. The prefix is required (the receiver libraries make it
    /// optional) so a config says which scheme a secret belongs to; padding is required as
    /// the strictest receiver libraries (Rust, JavaScript) decode it.
    pub fn parse(secret: &str) -> Result<Self, KeyError> {
        let encoded = secret.strip_prefix("whsec_").ok_or(KeyError::NoPrefix)?;
        let key = BASE64.decode(encoded).map_err(|_| KeyError::NotBase64)?;
        if !Self::LENGTH.contains(&key.len()) {
            return Err(KeyError::Length(key.len()));
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` value for `body` sent as message `id` at `timestamp` (Unix
    /// seconds): `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`. The body is signed
    /// as the bytes it is, so it must be exactly what is sent.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let timestamp = timestamp.to_string();
        let parts = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        let digest = mac(&self.0, &parts).finalize().into_bytes();
        format!("v1,{}", BASE64.encode(digest))
    }
}

impl fmt::Debug for StandardWebhooksKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StandardWebhooksKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_known_hmac_sha256_vector() {
        // RFC 4231 test case 2.
        let sig = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verifies_its_own_signatures_and_refuses_others() {
        let sig = sign("secret", b"{\"a\":1}");
        assert!(verify("secret", b"{\"a\":1}", &sig));
        assert!(verify("secret", b"{\"a\":1}", &sig.to_uppercase()));
        assert!(!verify("other", b"{\"a\":1}", &sig));
        assert!(!verify("secret", b"{\"a\":2}", &sig));
        assert!(!verify("secret", b"{\"a\":1}", "not hex"));
        assert!(!verify("secret", b"{\"a\":1}", &sig[..10]));
    }

    #[test]
    fn standard_webhooks_signatures_match_the_reference_libraries_vectors() {
        // The vectors the Standard Webhooks reference libraries test their `sign` with
        // (github.com/standard-webhooks/standard-webhooks: libraries/rust/src/lib.rs and
        // libraries/php/tests/WebhookTest.php).
        let key = StandardWebhooksKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            key.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
        let key = StandardWebhooksKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            key.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_whsec_secret_needs_its_prefix_base64_and_a_key_of_24_to_64_bytes() {
        let b64 = |n: usize| BASE64.encode(vec![7u8; n]);
        assert!(StandardWebhooksKey::parse(&format!("whsec_{}", b64(24))).is_ok());
        assert!(StandardWebhooksKey::parse(&format!("whsec_{}", b64(64))).is_ok());
        assert_eq!(
            StandardWebhooksKey::parse(&b64(32)),
            Err(KeyError::NoPrefix)
        );
        assert_eq!(
            StandardWebhooksKey::parse("whsec_not base64!"),
            Err(KeyError::NotBase64)
        );
        assert_eq!(
            StandardWebhooksKey::parse(&format!("whsec_{}", b64(16))),
            Err(KeyError::Length(16))
        );
        assert_eq!(
            StandardWebhooksKey::parse(&format!("whsec_{}", b64(65))),
            Err(KeyError::Length(65))
        );
        assert_eq!(
            StandardWebhooksKey::parse("whsec_"),
            Err(KeyError::Length(0))
        );
        let key = StandardWebhooksKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(format!("{key:?}"), "StandardWebhooksKey(***)");
    }
}
