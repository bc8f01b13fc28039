//! The payload on a building's wall, `GW1:{version}:{building_code}:{sig}`, and its check when
//! someone scans it. The signature is a truncated HMAC so that nobody can print codes for
//! buildings that do not exist or alter a real one. The key version is in the payload so keys can
//! rotate without repainting every wall: a code signed with an old key keeps verifying as long as
//! `key_for` still hands out that version's secret.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::MAX_PAYLOAD_LEN;

/// The first part of every payload; a new payload layout gets a new prefix rather than a flag.
pub const PAYLOAD_PREFIX: &str = "GW1";

/// Bytes of the HMAC kept: 128 bits cannot be guessed, and a shorter payload gives a QR code with
/// bigger modules, which matters for codes scanned off weathered walls.
const SIG_BYTES: usize = 16;
/// Length of `SIG_BYTES` in base64url without padding.
const SIG_CHARS: usize = 22;
/// Longest scanned text looked at, so that junk from a scanner is turned away before any work.
const MAX_SCANNED_LEN: usize = 2048;

/// A signing key and its version (versions start at 1 and only grow).
#[derive(Clone, Copy)]
pub struct QrKey<'a> {
    /// The version written into payloads signed with this key.
    pub version: u32,
    /// The HMAC secret.
    pub secret: &'a [u8],
}

// Hand-written so that the secret never lands in a log line.
impl fmt::Debug for QrKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrKey")
            .field("version", &self.version)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `GW1:{version}:{building_code}:{sig}`; sig = base64url-no-pad of the first 16 bytes of
/// HMAC-SHA256(secret, "GW1:{version}:{building_code}").
///
/// The caller must pass a valid building code (A–Z a–z 0–9 - _ .); anything else yields a payload
/// that [`verify`] rejects as malformed.
pub fn sign(key: &QrKey<'_>, building_code: &str) -> String {
    let signed = signed_part(key.version, building_code);
    let tag = keyed_mac(key.secret, &signed).finalize().into_bytes();
    let sig = URL_SAFE_NO_PAD.encode(&tag[..SIG_BYTES]);
    format!("{signed}:{sig}")
}

/// Why a scanned code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The text is not a payload; the string names the part that is wrong.
    #[error("not a building code: bad {0}")]
    Malformed(&'static str /* which part is wrong */),
    /// Signed with a key version this server does not (or no longer) know.
    #[error("building code signed with unknown key version {0}")]
    UnknownKeyVersion(u32),
    /// Well-formed, but the signature does not match: forged or altered.
    #[error("building code signature does not match")]
    BadSignature,
}

/// Accepts the payload itself, surrounding whitespace, or a URL whose last path segment or `c=`
/// query value is the payload (phones' scanners hand over URLs). `key_for(version)` returns that
/// version's secret. Constant-time signature comparison. Returns the building code.
pub fn verify(
    scanned: &str,
    key_for: &dyn Fn(u32) -> Option<Vec<u8>>,
) -> Result<String, VerifyError> {
    let payload = extract_payload(scanned)?;
    let parts = parse_payload(&payload)?;
    let secret = key_for(parts.version).ok_or(VerifyError::UnknownKeyVersion(parts.version))?;
    let sig = decode_signature(parts.sig)?;
    keyed_mac(&secret, &signed_part(parts.version, parts.code))
        .verify_truncated_left(&sig)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(parts.code.to_owned())
}

/// The signed text; rebuilt from parsed parts on verify, which is safe because parsing only
/// accepts the canonical spelling of the version.
fn signed_part(version: u32, building_code: &str) -> String {
    format!("{PAYLOAD_PREFIX}:{version}:{building_code}")
}

fn keyed_mac(secret: &[u8], message: &str) -> Hmac<Sha256> {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(message.as_bytes());
    mac
}

/// Building codes are restricted so they can never contain the ':' separator, need no escaping
/// in URLs, file names or PDF strings, and read unambiguously off a label.
fn is_valid_building_code(code: &str) -> bool {
    !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Finds the payload in what a scanner handed over: the payload itself or a URL carrying it.
fn extract_payload(scanned: &str) -> Result<Cow<'_, str>, VerifyError> {
    let text = scanned.trim();
    if text.len() > MAX_SCANNED_LEN {
        return Err(VerifyError::Malformed("length"));
    }
    // A payload never contains '/', so "://" tells a URL apart without guessing.
    if text.contains("://") {
        payload_from_url(text).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(text))
    }
}

/// The `c=` query value if there is one (a landing page that shows the code), else the last
/// non-empty path segment (a short link that ends in the code).
fn payload_from_url(url: &str) -> Result<String, VerifyError> {
    let malformed = VerifyError::Malformed("url");
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let without_fragment = after_scheme
        .split_once('#')
        .map_or(after_scheme, |(kept, _)| kept);
    let (location, query) = match without_fragment.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (without_fragment, None),
    };
    if let Some(value) = query.and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("c="))) {
        return percent_decode(value).ok_or(malformed);
    }
    let path = location
        .split_once('/')
        .map_or("", |(_authority, path)| path);
    let segment = path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .ok_or(malformed.clone())?;
    percent_decode(segment).ok_or(malformed)
}

/// Undoes %XX escapes (scanners and chat apps often escape the ':'); `None` on a broken escape
/// or text that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The parts of a payload whose shape has been checked; nothing about it is trusted yet.
#[derive(Debug)]
struct PayloadParts<'a> {
    version: u32,
    code: &'a str,
    sig: &'a str,
}

/// Checks the shape of every part before any key is looked up or any MAC computed.
fn parse_payload(payload: &str) -> Result<PayloadParts<'_>, VerifyError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(VerifyError::Malformed("length"));
    }
    let parts: Vec<&str> = payload.split(':').collect();
    if parts.first() != Some(&PAYLOAD_PREFIX) {
        return Err(VerifyError::Malformed("prefix"));
    }
    let [_, version, code, sig] = parts.as_slice() else {
        return Err(VerifyError::Malformed("part count"));
    };
    let version = parse_version(version).ok_or(VerifyError::Malformed("version"))?;
    if !is_valid_building_code(code) {
        return Err(VerifyError::Malformed("building code"));
    }
    if sig.len() != SIG_CHARS
        || !sig
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err(VerifyError::Malformed("signature"));
    }
    Ok(PayloadParts { version, code, sig })
}

/// Only the canonical decimal spelling (no sign, no leading zeros, at least 1), so each signed
/// code has exactly one valid payload.
fn parse_version(text: &str) -> Option<u32> {
    let canonical =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0');
    if canonical { text.parse().ok() } else { None }
}

/// The shape was already checked, so decoding can only fail on non-zero padding bits in the last
/// character: a changed character of a signature we issued, hence a bad signature.
fn decode_signature(sig: &str) -> Result<Vec<u8>, VerifyError> {
    match URL_SAFE_NO_PAD.decode(sig) {
        Ok(bytes) if bytes.len() == SIG_BYTES => Ok(bytes),
        _ => Err(VerifyError::BadSignature),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::test_keys::{SECRET_V1, SECRET_V2, V1, V2, keys};
    use super::*;
    use std::cell::Cell;

    /// Replaces the character at `index` with another character that is still allowed there.
    fn change_char(text: &str, index: usize) -> String {
        let mut bytes = text.as_bytes().to_vec();
        bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn signed_payload_has_the_documented_layout_and_verifies() {
        let payload = sign(&V1, "XF-0012.B3");
        let parts: Vec<&str> = payload.split(':').collect();
        assert_eq!(&parts[..3], ["GW1", "1", "XF-0012.B3"]);
        assert_eq!(parts[3].len(), SIG_CHARS);
        let tag = keyed_mac(SECRET_V1, "GW1:1:XF-0012.B3")
            .finalize()
            .into_bytes();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[3]).unwrap(),
            tag[..16].to_vec()
        );
        assert_eq!(verify(&payload, &keys).unwrap(), "XF-0012.B3");
    }

    #[test]
    fn codes_signed_with_an_old_key_still_verify_after_rotation() {
        let old = sign(&V1, "XF-0012");
        let new = sign(&V2, "XF-0013");
        assert_eq!(verify(&old, &keys).unwrap(), "XF-0012");
        assert_eq!(verify(&new, &keys).unwrap(), "XF-0013");
        // The version picks the secret: v1 in the payload with v2's secret does not verify.
        let mislabelled = sign(
            &QrKey {
                version: 1,
                secret: SECRET_V2,
            },
            "XF-0012",
        );
        assert_eq!(verify(&mislabelled, &keys), Err(VerifyError::BadSignature));
    }

    #[test]
    fn a_retired_or_unknown_version_is_reported_as_such() {
        let future = sign(
            &QrKey {
                version: 3,
                secret: b"not issued yet",
            },
            "XF-0012",
        );
        assert_eq!(
            verify(&future, &keys),
            Err(VerifyError::UnknownKeyVersion(3))
        );
        let only_v2 = |v: u32| (v == 2).then(|| SECRET_V2.to_vec());
        assert_eq!(
            verify(&sign(&V1, "XF-0012"), &only_v2),
            Err(VerifyError::UnknownKeyVersion(1))
        );
    }

    #[test]
    fn one_changed_character_in_code_or_signature_is_a_bad_signature() {
        let payload = sign(&V2, "XF-0012");
        let code_start = "GW1:2:".len();
        for i in code_start..code_start + "XF-0012".len() {
            let altered = change_char(&payload, i);
            assert_eq!(
                verify(&altered, &keys),
                Err(VerifyError::BadSignature),
                "{altered}"
            );
        }
        let sig_start = payload.len() - SIG_CHARS;
        for i in sig_start..payload.len() {
            let altered = change_char(&payload, i);
            assert_eq!(
                verify(&altered, &keys),
                Err(VerifyError::BadSignature),
                "{altered}"
            );
        }
    }

    #[test]
    fn malformed_payloads_are_rejected_before_any_key_is_looked_up() {
        let good = sign(&V1, "XF-0012");
        let sig = good.rsplit(':').next().unwrap();
        let cases = [
            (good.replacen("GW1", "GW2", 1), "prefix"),
            (good.replacen("GW1", "gw1", 1), "prefix"),
            (String::new(), "prefix"),
            ("GW1:1:XF-0012".to_owned(), "part count"),
            (format!("{good}:extra"), "part count"),
            (format!("GW1:one:XF-0012:{sig}"), "version"),
            (format!("GW1:+1:XF-0012:{sig}"), "version"),
            (format!("GW1:01:XF-0012:{sig}"), "version"),
            (format!("GW1:0:XF-0012:{sig}"), "version"),
            (format!("GW1:99999999999:XF-0012:{sig}"), "version"),
            (format!("GW1:1:XF 0012:{sig}"), "building code"),
            (format!("GW1:1:幸福里3号:{sig}"), "building code"),
            (format!("GW1:1:XF/0012:{sig}"), "building code"),
            (format!("GW1:1::{sig}"), "building code"),
            (format!("GW1:1:XF-0012:{}", &sig[1..]), "signature"),
            (format!("GW1:1:XF-0012:{}+", &sig[1..]), "signature"),
            (format!("GW1:1:XF-0012:{}=", &sig[..21]), "signature"),
            (format!("GW1:1:{}:{sig}", "A".repeat(300)), "length"),
        ];
        let lookups = Cell::new(0);
        let counting_keys = |v: u32| {
            lookups.set(lookups.get() + 1);
            keys(v)
        };
        for (payload, part) in cases {
            assert_eq!(
                verify(&payload, &counting_keys),
                Err(VerifyError::Malformed(part)),
                "{payload}"
            );
        }
        assert_eq!(lookups.get(), 0);
    }

    #[test]
    fn scanner_urls_and_whitespace_around_the_payload_are_accepted() {
        let payload = sign(&V2, "XF-0012");
        let escaped = payload.replace(':', "%3A");
        let forms = [
            format!("  {payload}\r\n"),
            format!("https://gw.example.cn/b/{payload}"),
            format!("https://gw.example.cn/b/{payload}/"),
            format!("https://gw.example.cn/b/{escaped}#from-wall"),
            format!("https://gw.example.cn/scan?c={payload}&src=wall"),
            format!("https://gw.example.cn/scan?src=wall&c={escaped}"),
            format!("\thttp://10.0.0.5:8080/{payload} "),
        ];
        for form in forms {
            assert_eq!(verify(&form, &keys).as_deref(), Ok("XF-0012"), "{form}");
        }
    }

    #[test]
    fn urls_without_a_valid_payload_are_refused() {
        let payload = sign(&V2, "XF-0012");
        let forged = format!("https://gw.example.cn/b/{}", change_char(&payload, 6));
        assert_eq!(verify(&forged, &keys), Err(VerifyError::BadSignature));
        assert_eq!(
            verify("https://gw.example.cn", &keys),
            Err(VerifyError::Malformed("url"))
        );
        assert_eq!(
            verify("https://gw.example.cn/b/GW1%3", &keys),
            Err(VerifyError::Malformed("url"))
        );
        assert_eq!(
            verify("https://gw.example.cn/b/GW1%+A1", &keys),
            Err(VerifyError::Malformed("url"))
        );
        assert_eq!(
            verify("https://gw.example.cn/scan?x=1", &keys),
            Err(VerifyError::Malformed("prefix"))
        );
    }

    #[test]
    fn key_debug_output_hides_the_secret() {
        let shown = format!("{V1:?}");
        assert!(shown.contains("version: 1"));
        assert!(!shown.contains("street-7"));
    }
}
