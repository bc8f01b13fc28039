//! Rules kept as data per street (points caps, patrol and sorting limits, deadlines): a street's
//! own row wins, else the defaults' row, kept under the street code `*`. One way of choosing, for
//! every such table.

/// The street code under which the defaults are kept.
pub const DEFAULT_STREET: &str = "*";

/// The street codes whose rows decide a rule for `street`: its own, and the defaults.
pub fn candidates(street: Option<&str>) -> Vec<&str> {
    street.into_iter().chain([DEFAULT_STREET]).collect()
}

/// Of the rows read for [`candidates`], the street's own, else the defaults'.
pub fn own_or_default<'a, T>(
    rows: &'a [T],
    street: Option<&str>,
    street_of: impl Fn(&T) -> &str,
) -> Option<&'a T> {
    rows.iter()
        .find(|r| street.is_some_and(|s| s != DEFAULT_STREET && street_of(r) == s))
        .or_else(|| rows.iter().find(|r| street_of(r) == DEFAULT_STREET))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streets_own_row_wins_over_the_defaults() {
        let rows = [("*", 1), ("QSH", 3)];
        let pick = |s| own_or_default(&rows, s, |r| r.0).map(|r| r.1);
        assert_eq!(pick(Some("QSH")), Some(3));
        assert_eq!(pick(Some("XF")), Some(1));
        assert_eq!(pick(None), Some(1));
        assert_eq!(own_or_default(&rows[1..], Some("XF"), |r| r.0), None);
        assert_eq!(candidates(Some("QSH")), ["QSH", "*"]);
        assert_eq!(candidates(None), ["*"]);
    }
}
