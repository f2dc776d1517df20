//! Slack's request signature: `X-Slack-Signature` is `v0=` and the hex
//! HMAC-SHA256, keyed by the signing secret, of `v0:{timestamp}:{body}`.
//! Checked in constant time; a timestamp more than five minutes from now is
//! refused, so a captured request cannot be replayed later.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use mosaic_chat::Secret;
use sha2::Sha256;

/// How far a request's timestamp may be from now, in seconds (Slack's advice).
pub const MAX_AGE_SECS: i64 = 5 * 60;

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

fn mac(secret: &Secret, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The `X-Slack-Signature` of `body` sent at `timestamp` (for tests and fakes).
pub fn sign(secret: &Secret, timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Checks a request's signature and age against `now` (Unix seconds).
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let sent_at = timestamp
        .trim()
        .parse::<i64>()
        .map_err(|_| SignatureError::Stale)?;
    if (now - sent_at).abs() > MAX_AGE_SECS {
        return Err(SignatureError::Stale);
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Mismatch)?;
    if secret.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    // `verify_slice` compares in constant time.
    mac(secret, timestamp, body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slacks_documented_example_verifies() {
        // From Slack's "Verifying requests from Slack" guide.
        let secret = Secret::new("8f742231b10e8888abcd99yyyzzz85a5");
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(&secret, "1531420618", body), expected);
        assert_eq!(
            verify(
                &secret,
                Some("1531420618"),
                Some(expected),
                body,
                1531420618 + 10
            ),
            Ok(())
        );
    }

    #[test]
    fn forged_stale_and_missing_signatures_are_refused() {
        let secret = Secret::new("s3cret");
        let now = 1_700_000_000;
        let ts = now.to_string();
        let good = sign(&secret, &ts, b"{}");
        assert_eq!(verify(&secret, Some(&ts), Some(&good), b"{}", now), Ok(()));
        let forged = sign(&Secret::new("other"), &ts, b"{}");
        assert_eq!(
            verify(&secret, Some(&ts), Some(&forged), b"{}", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&secret, Some(&ts), Some(&good), b"{ }", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &secret,
                Some(&ts),
                Some(&good),
                b"{}",
                now + MAX_AGE_SECS + 1
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&secret, None, Some(&good), b"{}", now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&secret, Some(&ts), Some("v0=zz"), b"{}", now),
            Err(SignatureError::Mismatch)
        );
    }
}
