//! Input newtypes: a value of these types has passed its rules, so code past the handlers never
//! re-checks a phone number or a password.

use utoipa::ToSchema;

use crate::error::{ApiError, FieldError};

/// A mainland China mobile number, normalised to its 11 digits (`+86`, spaces and dashes are
/// accepted on input because that is how people type and paste them).
// The document's pattern says what `parse` accepts: separators anywhere, an optional +86 or
// 0086, then 1, a digit 3–9 and nine more digits.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(
    example = "13800000001",
    pattern = "^[ \u{3000}-]*(\\+[ \u{3000}-]*8[ \u{3000}-]*6[ \u{3000}-]*|0[ \u{3000}-]*0[ \u{3000}-]*8[ \u{3000}-]*6[ \u{3000}-]*)?1[ \u{3000}-]*[3-9]([ \u{3000}-]*[0-9]){9}[ \u{3000}-]*$"
)]
pub struct Phone(String);

impl Phone {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let digits: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '\u{3000}'))
            .collect();
        let digits = digits
            .strip_prefix("+86")
            .or_else(|| digits.strip_prefix("0086"))
            .unwrap_or(&digits);
        let ok = digits.len() == 11
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.starts_with('1')
            && (b'3'..=b'9').contains(&digits.as_bytes()[1]);
        if ok {
            Ok(Self(digits.to_owned()))
        } else {
            Err(ApiError::invalid(
                field,
                "phone_format",
                "a mainland mobile number has 11 digits and starts with 13–19",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****8000`: what staff outside a person's grid and logs may show.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

/// An e-mail address, as far as a form can tell: visible ASCII characters, one `@`, something on
/// each side, a dot inside the domain; the SMTP server has the last word.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(
    example = "wang@example.cn",
    max_length = 254,
    pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[!-?A-~]+@[!-\\-/-?A-~][!-?A-~]*\\.[!-?A-~]*[!-\\-/-?A-~][\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, sent: &str) -> Result<Self, ApiError> {
        let raw = sent.trim();
        // Visible ASCII only, so that the length in bytes SMTP limits is the length in characters
        // the document states; the limit counts what was sent, spaces around it too.
        let ok = sent.chars().count() <= 254
            && raw.bytes().all(|b| b.is_ascii_graphic())
            && raw.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ApiError::invalid(
                field,
                "email",
                "an address like name@example.cn",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The code of an area, a team, a building or another record: 1–64 characters of A–Z, a–z,
/// 0–9, '-', '_' or '.'. The document's name for what [`check_code`] accepts.
#[derive(Debug, ToSchema)]
#[schema(example = "QSH-G001", pattern = "^[A-Za-z0-9._-]{1,64}$")]
pub struct Code(#[allow(dead_code)] String);

/// The code of an event category: 1–64 characters of a–z, 0–9, '_' or '.', e.g.
/// `environment.garbage`.
#[derive(Debug, ToSchema)]
#[schema(example = "environment.garbage", pattern = "^[a-z0-9_.]{1,64}$")]
pub struct CategoryCode(#[allow(dead_code)] String);

/// The one rule for the codes of areas, teams and buildings: short, plain, safe in URLs, QR
/// payloads and file names.
pub fn check_code(field: &str, code: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "code",
            "1–64 characters of A–Z, a–z, 0–9, '-', '_' or '.'",
        ))
    }
}

/// A password that meets the policy. The rules are listed in [`Password::RULES`] order and every
/// rule that fails is reported, so a form can show them all at once.
///
/// 8–128 characters with letters and digits; it must not contain the account's phone number
/// nor be one of the most commonly used passwords.
#[derive(Clone, ToSchema)]
#[schema(
    min_length = 8,
    max_length = 128,
    pattern = "\\p{L}[\\s\\S]*[0-9]|[0-9][\\s\\S]*\\p{L}"
)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Passwords seen first in every leaked list; a real deployment can extend this.
const COMMON_PASSWORDS: &[&str] = &[
    "password1",
    "password123",
    "12345678a",
    "a12345678",
    "qwerty123",
    "abc12345",
    "abcd1234",
    "1qaz2wsx",
    "aa123456",
    "admin123",
    "woaini1314",
    "iloveyou1",
    "123456789a",
    "passw0rd",
];

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(field: &str, raw: &str, phone: Option<&Phone>) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            errors.push(FieldError::new(
                field,
                "min_length",
                format!("at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            errors.push(FieldError::new(
                field,
                "max_length",
                format!("at most {} characters", Self::MAX_CHARS),
            ));
        }
        let letters = raw.chars().any(char::is_alphabetic);
        let digits = raw.chars().any(|c| c.is_ascii_digit());
        if !(letters && digits) {
            errors.push(FieldError::new(
                field,
                "letters_and_digits",
                "must contain both letters and digits",
            ));
        }
        if phone.is_some_and(|p| raw.contains(p.as_str())) {
            errors.push(FieldError::new(
                field,
                "not_phone",
                "must not contain the phone number",
            ));
        }
        if COMMON_PASSWORDS.contains(&raw.to_lowercase().as_str()) {
            errors.push(FieldError::new(
                field,
                "not_common",
                "this password is among the most commonly used ones",
            ));
        }
        if errors.is_empty() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name: trimmed, 1–64 characters, no control characters. Chinese names are the norm.
// The pattern: white space around (trimmed away), then no control character from the first to
// the last character that is not white space. The length counts the trimmed name.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(
    example = "王网格",
    pattern = "^[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]([^\u{0}-\u{1f}\u{7f}-\u{9f}]{0,62}[^\u{0}-\u{1f}\u{7f}-\u{9f}\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}])?[\t\n\u{b}\u{c}\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]*$"
)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ApiError::invalid(field, "required", "must not be empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(ApiError::invalid(
                field,
                "max_length",
                format!("at most {} characters", Self::MAX_CHARS),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                field,
                "no_control_chars",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name a self-registered citizen gets until they set one: 居民 and the last four digits.
    pub fn default_for(phone: &Phone) -> Self {
        Self(format!("居民{}", &phone.as_str()[7..]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A free-text field: trimmed, `min`–`max` characters, no control characters but line breaks.
/// Collects its failure into `errors` so a form hears of every bad field at once.
pub fn text(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: &str,
    min: usize,
    max: usize,
) -> String {
    let t = raw.trim();
    let n = t.chars().count();
    if n < min || n > max {
        errors.push(FieldError::new(
            field,
            "length",
            format!("{min}–{max} characters"),
        ));
    } else if t.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        errors.push(FieldError::new(
            field,
            "no_control_chars",
            "must not contain control characters",
        ));
    }
    t.to_owned()
}

/// Collects a code's shape error into `errors`.
pub fn code_into(errors: &mut Vec<FieldError>, field: &str, code: &str) {
    if let Err(ApiError::Validation(e)) = check_code(field, code) {
        errors.extend(e);
    }
}

/// `Ok(())` when no field failed, else every failure at once.
pub fn verdict(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(v) => v.into_iter().map(|f| f.rule).collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn phones_normalise_and_reject() {
        for ok in ["13800138000", "+86 138-0013-8000", "008613800138000"] {
            assert_eq!(
                Phone::parse("phone", ok).map(|p| p.0).ok().as_deref(),
                Some("13800138000")
            );
        }
        for bad in [
            "12800138000",
            "1380013800",
            "138001380001",
            "1380013800a",
            "",
        ] {
            assert!(Phone::parse("phone", bad).is_err(), "{bad}");
        }
        let p = Phone::parse("phone", "13800138000").ok();
        assert_eq!(p.map(|p| p.masked()).as_deref(), Some("138****8000"));
    }

    #[test]
    fn password_reports_every_failed_rule() {
        let phone = Phone::parse("phone", "13800138000").ok();
        let e = match Password::parse("password", "1380013800", phone.as_ref()) {
            Err(e) => e,
            Ok(_) => panic!("weak password accepted"),
        };
        assert_eq!(rules(e), ["letters_and_digits"]);
        let e = match Password::parse("password", "x13800138000", phone.as_ref()) {
            Err(e) => e,
            Ok(_) => panic!("password with phone accepted"),
        };
        assert_eq!(rules(e), ["not_phone"]);
        let e = match Password::parse("password", "abc", None) {
            Err(e) => e,
            Ok(_) => panic!("short password accepted"),
        };
        assert_eq!(rules(e), ["min_length", "letters_and_digits"]);
        assert!(Password::parse("password", "Passw0rd", None).is_err());
        assert!(Password::parse("password", "网格员2026巡查", None).is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            DisplayName::parse("name", "  张三 ")
                .map(|n| n.0)
                .ok()
                .as_deref(),
            Some("张三")
        );
        assert!(DisplayName::parse("name", "   ").is_err());
        assert!(DisplayName::parse("name", &"网".repeat(65)).is_err());
        assert!(DisplayName::parse("name", "a\u{0007}b").is_err());
    }
}
