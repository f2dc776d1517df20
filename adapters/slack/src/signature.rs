//! Slack's request signature: `X-Slack-Signature` is `v0=` and the hex
//! HMAC-SHA256, keyed by the signing secret, of `v0:{timestamp}:{body}`
//! (<https://api.slack.com/authentication/verifying-requests-from-slack>).
//! Checked by slack-morphism's verifier, in constant time (`subtle`); a
//! timestamp more than five minutes from now is refused, so a captured
//! request cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use mosaic_chat::Secret;
use sha2::Sha256;
use slack_morphism::prelude::SlackSigningSecret;
use slack_morphism::signature_verifier::{
    SlackEventSignatureVerifier, SlackEventSignatureVerifierError,
};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Slack-Signature or X-Slack-Request-Timestamp header")]
    Missing,
    #[error("the timestamp is more than five minutes from now (a replay?)")]
    Stale,
    #[error("the signature does not match (a forgery, or the wrong signing secret)")]
    Mismatch,
}

/// The `X-Slack-Signature` of `body` sent at `timestamp`, for tests and
/// fakes that play Slack (the bot itself only checks).
pub fn sign(secret: &Secret, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a request's signature, then its age against the clock.
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    // Slack's bodies are JSON or a form: UTF-8. Anything else is not Slack's.
    let body = std::str::from_utf8(body).map_err(|_| SignatureError::Mismatch)?;
    let verifier =
        SlackEventSignatureVerifier::new(&SlackSigningSecret::new(secret.expose().to_owned()));
    verifier
        .verify(signature, body, timestamp.trim())
        .map_err(|e| match e {
            SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_) => {
                SignatureError::Stale
            }
            SlackEventSignatureVerifierError::AbsentSignatureError(_) => SignatureError::Missing,
            // An empty signing secret matches nothing.
            SlackEventSignatureVerifierError::CryptoInitError(_)
            | SlackEventSignatureVerifierError::WrongSignatureError(_) => SignatureError::Mismatch,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> String {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string()
    }

    #[test]
    fn slacks_documented_example_verifies() {
        // From Slack's "Verifying requests from Slack" guide. Its timestamp is
        // from 2018: the verifier matches the signature, then finds it stale;
        // the same request with one byte changed does not match at all.
        let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5");
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(&secret, "1531420618", body), expected);
        assert_eq!(
            verify(&secret, Some("1531420618"), Some(expected), body),
            Err(SignatureError::Stale)
        );
        let mut tampered = body.to_vec();
        tampered[6] = b'X';
        assert_eq!(
            verify(&secret, Some("1531420618"), Some(expected), &tampered),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn forged_stale_and_missing_signatures_are_refused() {
        let secret = Secret::new("s3cret");
        let ts = now();
        let good = sign(&secret, &ts, b"{}");
        assert_eq!(verify(&secret, Some(&ts), Some(&good), b"{}"), Ok(()));
        let forged = sign(&Secret::new("other"), &ts, b"{}");
        assert_eq!(
            verify(&secret, Some(&ts), Some(&forged), b"{}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secret, Some(&ts), Some(&good), b"{ }"),
            Err(SignatureError::Mismatch)
        );
        let old = (ts.parse::<i64>().unwrap_or(0) - 6 * 60).to_string();
        let stale = sign(&secret, &old, b"{}");
        assert_eq!(
            verify(&secret, Some(&old), Some(&stale), b"{}"),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&secret, None, Some(&good), b"{}"),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&secret, Some(&ts), Some("v0=zz"), b"{}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&Secret::new(""), Some(&ts), Some(&good), b"{}"),
            Err(SignatureError::Mismatch)
        );
    }
}
