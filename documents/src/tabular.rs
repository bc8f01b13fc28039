//! Tables as XLSX workbooks and CSV files. Both pass text through [`neutralise`], so a name an
//! import brought in as `=cmd|…` never runs as a formula when the file is opened.

use rust_xlsxwriter::{Format, Workbook};

use crate::DocumentError;
use crate::table::{Cell, Table, neutralise};

/// Longest worksheet name Excel accepts.
const SHEET_NAME_MAX: usize = 31;
/// Widest column set, in characters; longer text wraps in the cell when opened.
const COLUMN_WIDTH_MAX: f64 = 48.0;

/// A workbook with one worksheet per `(name, table)`, the header row bold and frozen. Names are
/// cut to what Excel accepts (31 characters, none of `[]:*?/\`).
pub fn xlsx(sheets: &[(&str, &Table)]) -> Result<Vec<u8>, DocumentError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    for (index, (name, table)) in sheets.iter().enumerate() {
        let sheet = workbook.add_worksheet();
        sheet.set_name(sheet_name(name, index))?;
        let mut widths = vec![8.0_f64; table.columns()];
        for (col, title) in table.header.iter().enumerate() {
            sheet.write_string_with_format(0, column(col)?, neutralise(title), &bold)?;
            widths[col] = widths[col].max(display_width(title));
        }
        for (r, row) in table.rows.iter().enumerate() {
            let r = u32::try_from(r + 1).map_err(|_| DocumentError::TooLarge)?;
            for (col, cell) in row.iter().enumerate() {
                match cell {
                    Cell::Text(text) => {
                        let text = neutralise(text);
                        widths[col] = widths[col].max(display_width(&text));
                        sheet.write_string(r, column(col)?, text)?;
                    }
                    Cell::Number(n) => {
                        sheet.write_number(r, column(col)?, *n)?;
                    }
                    Cell::Empty => {}
                }
            }
        }
        for (col, width) in widths.into_iter().enumerate() {
            sheet.set_column_width(column(col)?, width.min(COLUMN_WIDTH_MAX) + 2.0)?;
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    Ok(workbook.save_to_buffer()?)
}

/// The table as CSV: UTF-8 with a byte-order mark (without it Excel reads Chinese as GBK and
/// shows mojibake), CRLF line ends, quotes only where needed.
pub fn csv(table: &Table) -> Result<Vec<u8>, DocumentError> {
    let mut out = "\u{FEFF}".as_bytes().to_vec();
    {
        let mut writer = ::csv::WriterBuilder::new()
            .flexible(true)
            .terminator(::csv::Terminator::CRLF)
            .from_writer(&mut out);
        let width = table.columns();
        let header = (0..width).map(|i| {
            table
                .header
                .get(i)
                .map_or(String::new(), |t| neutralise(t).into_owned())
        });
        writer.write_record(header)?;
        for row in &table.rows {
            let cells = (0..width).map(|i| {
                row.get(i)
                    .map_or(String::new(), |cell| cell.display().into_owned())
            });
            writer.write_record(cells)?;
        }
        writer
            .flush()
            .map_err(|e| DocumentError::Csv(e.to_string()))?;
    }
    Ok(out)
}

fn column(index: usize) -> Result<u16, DocumentError> {
    u16::try_from(index).map_err(|_| DocumentError::TooLarge)
}

/// Column width in Excel's units (a digit's width): Chinese characters take two.
fn display_width(text: &str) -> f64 {
    text.chars()
        .map(|c| if c.is_ascii() { 1.0 } else { 2.0 })
        .sum()
}

fn sheet_name(name: &str, index: usize) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .take(SHEET_NAME_MAX)
        .collect();
    // Excel refuses an empty name or one starting or ending with an apostrophe.
    let cleaned = cleaned.trim_matches('\'').trim();
    if cleaned.is_empty() {
        format!("Sheet{}", index + 1)
    } else {
        cleaned.to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::Cursor;

    use calamine::{Data, Reader, Xlsx};

    use super::*;

    fn sample() -> Table {
        let mut table = Table::new(["排名", "网格", "得分", "备注"]);
        table.push(vec![
            1_i64.into(),
            "幸福里一网格".into(),
            92.5.into(),
            Cell::Empty,
        ]);
        table.push(vec![
            2_i64.into(),
            "=HYPERLINK(\"http://x\",\"点我\")".into(),
            (-3.0).into(),
            "@cmd".into(),
        ]);
        table.push(vec![3_i64.into(), "+86".into()]);
        table
    }

    #[test]
    fn xlsx_reads_back_with_numbers_as_numbers_and_formulas_neutralised() {
        let bytes = xlsx(&[("排名:2026/11", &sample())]).unwrap();
        let mut book = Xlsx::new(Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), ["排名202611"]);
        let range = book.worksheet_range("排名202611").unwrap();
        let rows: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0][1], Data::String("网格".into()));
        assert_eq!(rows[1][0], Data::Float(1.0));
        assert_eq!(rows[1][1], Data::String("幸福里一网格".into()));
        assert_eq!(rows[1][2], Data::Float(92.5));
        assert_eq!(rows[1][3], Data::Empty);
        assert_eq!(
            rows[2][1],
            Data::String("'=HYPERLINK(\"http://x\",\"点我\")".into())
        );
        assert_eq!(rows[2][2], Data::Float(-3.0));
        assert_eq!(rows[2][3], Data::String("'@cmd".into()));
        assert_eq!(rows[3][1], Data::String("'+86".into()));
        // No cell of the workbook holds a formula.
        let formulas = book.worksheet_formula("排名202611").unwrap();
        assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()));
    }

    #[test]
    fn several_sheets_keep_their_order_and_bad_names_get_a_default() {
        let table = sample();
        let bytes = xlsx(&[("汇总", &table), ("[]", &table)]).unwrap();
        let book = Xlsx::new(Cursor::new(bytes)).unwrap();
        assert_eq!(book.sheet_names(), ["汇总", "Sheet2"]);
        assert_eq!(sheet_name(&"长".repeat(40), 0).chars().count(), 31);
    }

    #[test]
    fn csv_has_a_bom_crlf_padding_and_neutralised_text() {
        let bytes = csv(&sample()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let body = text.strip_prefix('\u{FEFF}').expect("a byte-order mark");
        assert_eq!(
            body,
            "排名,网格,得分,备注\r\n\
             1,幸福里一网格,92.5,\r\n\
             2,\"'=HYPERLINK(\"\"http://x\"\",\"\"点我\"\")\",-3,'@cmd\r\n\
             3,'+86,,\r\n"
        );
        let mut reader = ::csv::Reader::from_reader(body.as_bytes());
        let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&rows[1][1], "'=HYPERLINK(\"http://x\",\"点我\")");
    }
}
