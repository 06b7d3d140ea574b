//! Pusher webhook signatures: hex HMAC-SHA256 of the exact body bytes, keyed by the app secret.
//! Used both to verify what sources send us and to sign what we deliver.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac
}

/// The `X-Pusher-Signature` value for `body`: lowercase hex.
pub fn sign(secret: &str, body: &[u8]) -> String {
    hex::encode(mac(secret, body).finalize().into_bytes())
}

/// Whether `signature_hex` is the signature of `body`, compared in constant time.
/// Hex in either case is accepted; anything that is not 64 hex digits is not.
pub fn verify(secret: &str, body: &[u8], signature_hex: &str) -> bool {
    let Ok(given) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    mac(secret, body).verify_slice(&given).is_ok()
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
}
