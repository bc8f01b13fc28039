//! The `Content-Disposition` header of a download, with a Chinese file name (RFC 6266).

/// `attachment; filename="…"; filename*=UTF-8''…` for `name`: browsers use the percent-encoded
/// UTF-8 `filename*` (RFC 5987); old clients the plain `filename`, where every character that
/// is not printable ASCII, and the quote, backslash, slash and percent sign, becomes `_`.
pub fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' | '/' | '%' => '_',
            ' '..='~' => c,
            _ => '_',
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        encode(name)
    )
}

/// Percent-encodes all but RFC 5987's `attr-char`s.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_names_are_percent_encoded_with_an_ascii_fallback() {
        assert_eq!(
            attachment("网格排名_2026-11.xlsx"),
            "attachment; filename=\"_____2026-11.xlsx\"; \
             filename*=UTF-8''%E7%BD%91%E6%A0%BC%E6%8E%92%E5%90%8D_2026-11.xlsx"
        );
        assert_eq!(
            attachment("a \"b\"/c%.pdf"),
            "attachment; filename=\"a _b__c_.pdf\"; filename*=UTF-8''a%20%22b%22%2Fc%25.pdf"
        );
        assert_eq!(
            attachment("r\n.csv"),
            "attachment; filename=\"r_.csv\"; filename*=UTF-8''r%0A.csv"
        );
    }
}
