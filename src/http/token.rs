//! Tokens callers present (`[http] admin_token`, a connection's
//! `callback_token`), compared in constant time: both sides are hashed
//! (SHA-256) and the digests compared with `subtle`, so that neither the
//! time to a first differing byte nor a length that differs shows in the
//! time an answer takes.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The digest of a configured token.
#[derive(Clone)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub fn of(token: &[u8]) -> TokenDigest {
        TokenDigest(Sha256::digest(token).into())
    }

    /// Whether `given` is the token; a request that presented none costs
    /// the same as one with a wrong token.
    pub fn matches(&self, given: Option<&[u8]>) -> bool {
        let presented = given.is_some();
        let given = Sha256::digest(given.unwrap_or_default());
        let same = self.0.as_slice().ct_eq(given.as_slice());
        bool::from(same & subtle::Choice::from(u8::from(presented)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_itself_matches() {
        let token = TokenDigest::of(b"s3cret");
        assert!(token.matches(Some(b"s3cret")));
        for wrong in [&b"s3cre"[..], b"s3cret!", b"", b"S3CRET"] {
            assert!(!token.matches(Some(wrong)));
        }
        assert!(!token.matches(None));
        assert!(
            !TokenDigest::of(b"").matches(None),
            "none presented never matches"
        );
    }
}
