//! Both signature schemes of API.md §9, signing and verifying. The HMAC key is the same in
//! both: the secret's decoded bytes. During a rotation each scheme carries one signature per
//! valid secret.
//!
//! - HumanHours: `X-Humanhours-Signature: t=<t>,v1=<hex HMAC-SHA256(key, "{t}.{body}")>`.
//! - Standard Webhooks: `webhook-id: <msg id>`, `webhook-timestamp: <t>`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{t}.{body}")>` (space-separated).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::Secret;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    s
}

/// The `X-Humanhours-Signature` value for a body sent at `t` (Unix seconds).
pub fn humanhours_header(t: i64, body: &[u8], secrets: &[&Secret]) -> String {
    let ts = t.to_string();
    let mut out = format!("t={ts}");
    for s in secrets {
        out.push_str(",v1=");
        out.push_str(&hex(&mac(s.key(), &[ts.as_bytes(), b".", body])));
    }
    out
}

/// The `webhook-signature` value of the Standard Webhooks scheme for message `id` sent at `t`.
pub fn standard_signature(id: &str, t: i64, body: &[u8], secrets: &[&Secret]) -> String {
    let ts = t.to_string();
    secrets
        .iter()
        .map(|s| {
            let m = mac(s.key(), &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            format!("v1,{}", STANDARD.encode(m))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

fn fresh(t: i64, now: i64, tolerance_secs: i64) -> Result<(), VerifyError> {
    if now.abs_diff(t) > tolerance_secs.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    Ok(())
}

/// Checks an `X-Humanhours-Signature` value against `body` and one secret, at `now` (Unix
/// seconds), accepting timestamps within `tolerance_secs` either side.
pub fn verify_humanhours(
    header: &str,
    body: &[u8],
    secret: &Secret,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", v)) => sigs.push(v),
            Some(_) => {}
            None => return Err(VerifyError::Malformed),
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    fresh(t, now, tolerance_secs)?;
    let want = hex(&mac(secret.key(), &[t.to_string().as_bytes(), b".", body]));
    match sigs
        .iter()
        .any(|s| bool::from(s.as_bytes().ct_eq(want.as_bytes())))
    {
        true => Ok(()),
        false => Err(VerifyError::Mismatch),
    }
}

/// Checks the Standard Webhooks headers against `body` and one secret.
pub fn verify_standard(
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    secret: &Secret,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let t: i64 = timestamp.parse().map_err(|_| VerifyError::Malformed)?;
    fresh(t, now, tolerance_secs)?;
    let want = STANDARD.encode(mac(
        secret.key(),
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    ));
    let ok = signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| bool::from(s.as_bytes().ct_eq(want.as_bytes())));
    match ok {
        true => Ok(()),
        false => Err(VerifyError::Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The test vector of the Standard Webhooks specification's reference libraries.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = standard_signature(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
            &[&secret],
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rfc_4231_hmac_sha256_case_2() {
        // HMAC-SHA256(key "Jefe", "what do ya want for nothing?").
        let m = mac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex(&m),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_rotation_signs_with_both_and_either_verifies() {
        let (old, new) = (Secret::from_bytes([1; 24]), Secret::from_bytes([2; 24]));
        let body = b"{}";
        let h = humanhours_header(100, body, &[&new, &old]);
        assert_eq!(h.matches(",v1=").count(), 2);
        assert_eq!(verify_humanhours(&h, body, &old, 100, 300), Ok(()));
        assert_eq!(verify_humanhours(&h, body, &new, 100, 300), Ok(()));
        let other = Secret::from_bytes([3; 24]);
        assert_eq!(
            verify_humanhours(&h, body, &other, 100, 300),
            Err(VerifyError::Mismatch)
        );
        let s = standard_signature("whmsg_1", 100, body, &[&new, &old]);
        assert_eq!(s.split(' ').count(), 2);
        for k in [&old, &new] {
            assert_eq!(
                verify_standard("whmsg_1", "100", &s, body, k, 100, 300),
                Ok(())
            );
        }
    }

    #[test]
    fn stale_and_malformed_are_refused() {
        let k = Secret::from_bytes([9; 24]);
        let h = humanhours_header(1_000, b"x", &[&k]);
        assert_eq!(
            verify_humanhours(&h, b"x", &k, 1_301, 300),
            Err(VerifyError::Stale)
        );
        assert_eq!(verify_humanhours(&h, b"x", &k, 700, 300), Ok(()));
        for bad in ["", "v1=00", "t=x,v1=00", "garbage"] {
            assert_eq!(
                verify_humanhours(bad, b"x", &k, 1_000, 300),
                Err(VerifyError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify_standard("m", "soon", "v1,AA==", b"x", &k, 1, 300),
            Err(VerifyError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn any_change_to_body_id_or_time_breaks_both(
            key in proptest::array::uniform24(any::<u8>()),
            body in proptest::collection::vec(any::<u8>(), 0..256),
            flip in any::<usize>(),
            t in 0i64..4_000_000_000,
        ) {
            let k = Secret::from_bytes(key);
            let h = humanhours_header(t, &body, &[&k]);
            prop_assert_eq!(verify_humanhours(&h, &body, &k, t, 0), Ok(()));
            let s = standard_signature("whmsg_x", t, &body, &[&k]);
            let ts = t.to_string();
            prop_assert_eq!(verify_standard("whmsg_x", &ts, &s, &body, &k, t, 0), Ok(()));
            prop_assert!(verify_standard("whmsg_y", &ts, &s, &body, &k, t, 0).is_err());
            if !body.is_empty() {
                let mut changed = body.clone();
                let i = flip % changed.len();
                changed[i] ^= 1;
                prop_assert!(verify_humanhours(&h, &changed, &k, t, 0).is_err());
                prop_assert!(verify_standard("whmsg_x", &ts, &s, &changed, &k, t, 0).is_err());
            }
        }
    }
}
