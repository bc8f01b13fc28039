//! A table as people read it — a header row and rows of text or number cells — shared by the
//! XLSX, CSV and PDF writers, and the one rule that keeps a cell from running as a formula.

use std::borrow::Cow;

/// One cell. Numbers stay numbers in XLSX (so they sum) and are never neutralised.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text, written as text: see [`neutralise`].
    Text(String),
    /// A figure.
    Number(f64),
    /// Nothing.
    Empty,
}

impl Cell {
    /// The cell as shown in CSV and PDF: whole numbers without a decimal point, text neutralised.
    pub fn display(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(text) => neutralise(text),
            Cell::Number(n) => Cow::Owned(format_number(*n)),
            Cell::Empty => Cow::Borrowed(""),
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::Text(text.to_owned())
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::Text(text)
    }
}

impl From<f64> for Cell {
    fn from(n: f64) -> Self {
        Cell::Number(n)
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        // Counts and ranks of a city stay far below 2^53, where f64 is exact.
        Cell::Number(n as f64)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Empty, Into::into)
    }
}

/// A header row and rows of cells. Rows shorter than the header are padded when written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// The rows, in order.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with these column titles and no rows yet.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// Number of columns: the header's, or the widest row's.
    pub fn columns(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(self.header.len())
    }
}

/// Text that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return before one) gets a leading apostrophe, so `=HYPERLINK(…)` in an imported name is shown,
/// never run. The one rule for XLSX, CSV and PDF alike; numbers never pass through it.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// A figure as people write it: `12`, `-3`, `87.5`, never `12.0` or `1e3`.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        // Shortest form that reads back as the same number.
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_formula_start_is_neutralised_and_nothing_else() {
        for bad in ["=1+1", "+86 138", "-2", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(neutralise(bad), format!("'{bad}"), "{bad:?}");
        }
        for good in ["幸福里网格", "1+1", "a=b", "", " =x", "'=already"] {
            assert_eq!(neutralise(good), good, "{good:?}");
        }
    }

    #[test]
    fn numbers_display_plainly_and_are_never_neutralised() {
        assert_eq!(Cell::Number(-3.0).display(), "-3");
        assert_eq!(Cell::Number(12.0).display(), "12");
        assert_eq!(Cell::Number(87.5).display(), "87.5");
        assert_eq!(Cell::Number(0.1 + 0.2).display(), "0.30000000000000004");
        assert_eq!(Cell::from("-3").display(), "'-3");
        assert_eq!(Cell::from(None::<i64>), Cell::Empty);
        assert_eq!(Cell::from(Some(7_i64)), Cell::Number(7.0));
    }

    #[test]
    fn columns_count_the_widest_row() {
        let mut table = Table::new(["名称", "得分"]);
        assert_eq!(table.columns(), 2);
        table.push(vec!["a".into(), 1_i64.into(), "extra".into()]);
        assert_eq!(table.columns(), 3);
    }
}
