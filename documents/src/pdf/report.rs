//! A flowing document: title, headings, paragraphs, tables and charts laid out down A4 pages,
//! with a page number on each.

use super::canvas::{Align, Canvas, Color};
use super::chart::Chart;
use super::{A4_HEIGHT, A4_WIDTH};
use crate::DocumentError;
use crate::font::PdfFont;
use crate::table::{Cell, Table};

const MARGIN: f32 = 50.0;
const BOTTOM: f32 = A4_HEIGHT - 60.0;
const WIDTH: f32 = A4_WIDTH - 2.0 * MARGIN;
const TITLE_SIZE: f32 = 18.0;
const HEADING_SIZE: f32 = 13.0;
const BODY_SIZE: f32 = 10.5;
const TABLE_SIZE: f32 = 9.0;
const CELL_PAD: f32 = 4.0;
/// A cell shows at most this many lines; longer text is cut with an ellipsis.
const CELL_MAX_LINES: usize = 6;
const CHART_HEIGHT: f32 = 250.0;
const HEADING_COLOR: Color = Color(20, 60, 120);

#[derive(Debug, Clone)]
enum Block {
    Heading(String),
    Paragraph(String),
    Table(Table),
    Chart(Chart),
}

/// A document built block by block, then laid out ([`Report::layout`]) or written
/// ([`Report::render`]).
#[derive(Debug, Clone)]
pub struct Report {
    title: String,
    blocks: Vec<Block>,
}

impl Report {
    /// A document with `title` on top of its first page (and in its metadata).
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            blocks: Vec::new(),
        }
    }

    /// A section heading; it moves to the next page rather than end one.
    pub fn heading(&mut self, text: &str) -> &mut Self {
        self.blocks.push(Block::Heading(text.to_owned()));
        self
    }

    /// A paragraph, wrapped to the page width; `\n` starts a new line.
    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.blocks.push(Block::Paragraph(text.to_owned()));
        self
    }

    /// A table with a grey header row, repeated on every page the table runs onto. Numbers are
    /// right-aligned; text is neutralised as in the spreadsheets.
    pub fn table(&mut self, table: &Table) -> &mut Self {
        self.blocks.push(Block::Table(table.clone()));
        self
    }

    /// A chart the width of the page.
    pub fn chart(&mut self, chart: Chart) -> &mut Self {
        self.blocks.push(Block::Chart(chart));
        self
    }

    /// The pages, drawn.
    pub fn layout(&self, font: &PdfFont) -> Vec<Canvas> {
        let mut flow = Flow {
            font,
            pages: vec![Canvas::new()],
            y: MARGIN,
        };
        for line in wrap(font, &self.title, TITLE_SIZE, WIDTH) {
            flow.y += TITLE_SIZE;
            let y = flow.y;
            flow.page().text(
                A4_WIDTH / 2.0,
                y,
                TITLE_SIZE,
                &line,
                Align::Center,
                Color::BLACK,
            );
            flow.y += TITLE_SIZE * 0.4;
        }
        flow.y += 14.0;
        for block in &self.blocks {
            match block {
                Block::Heading(text) => flow.heading(text),
                Block::Paragraph(text) => flow.paragraph(text),
                Block::Table(table) => flow.table(table),
                Block::Chart(chart) => flow.chart(chart),
            }
        }
        let count = flow.pages.len();
        for (i, page) in flow.pages.iter_mut().enumerate() {
            page.text(
                A4_WIDTH / 2.0,
                A4_HEIGHT - 30.0,
                9.0,
                &format!("第 {} 页 / 共 {count} 页", i + 1),
                Align::Center,
                Color::GREY,
            );
        }
        flow.pages
    }

    /// The PDF, with the glyphs it uses embedded from `font`.
    pub fn render(&self, font: &PdfFont) -> Result<Vec<u8>, DocumentError> {
        super::render(font, &self.title, &self.layout(font))
    }
}

/// Where the next block goes.
struct Flow<'f> {
    font: &'f PdfFont,
    pages: Vec<Canvas>,
    y: f32,
}

impl Flow<'_> {
    fn page(&mut self) -> &mut Canvas {
        // `pages` starts with one page and only grows.
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Starts a new page unless `height` more points fit on this one.
    fn room(&mut self, height: f32) {
        if self.y + height > BOTTOM && self.y > MARGIN {
            self.pages.push(Canvas::new());
            self.y = MARGIN;
        }
    }

    fn heading(&mut self, text: &str) {
        // Keep a heading with at least a few lines of what follows it.
        self.room(HEADING_SIZE * 2.0 + 60.0);
        self.y += 8.0;
        for line in wrap(self.font, text, HEADING_SIZE, WIDTH) {
            self.y += HEADING_SIZE;
            let y = self.y;
            self.page()
                .text(MARGIN, y, HEADING_SIZE, &line, Align::Left, HEADING_COLOR);
            self.y += HEADING_SIZE * 0.5;
        }
        self.y += 6.0;
    }

    fn paragraph(&mut self, text: &str) {
        let line_height = BODY_SIZE * 1.6;
        for line in wrap(self.font, text, BODY_SIZE, WIDTH) {
            self.room(line_height);
            self.y += line_height;
            let y = self.y - BODY_SIZE * 0.4;
            self.page()
                .text(MARGIN, y, BODY_SIZE, &line, Align::Left, Color::BLACK);
        }
        self.y += 6.0;
    }

    fn table(&mut self, table: &Table) {
        let columns = table.columns();
        if columns == 0 {
            return;
        }
        let header: Vec<Cell> = (0..columns)
            .map(|i| Cell::Text(table.header.get(i).cloned().unwrap_or_default()))
            .collect();
        let widths = column_widths(self.font, &header, &table.rows, columns);
        // A column of figures is right-aligned, its title too.
        let numeric: Vec<bool> = (0..columns)
            .map(|i| {
                let mut cells = table.rows.iter().filter_map(|row| row.get(i));
                cells.clone().any(|c| matches!(c, Cell::Number(_)))
                    && cells.all(|c| matches!(c, Cell::Number(_) | Cell::Empty))
            })
            .collect();
        let header_lines = self.row_lines(&header, &widths);
        let header_height = row_height(&header_lines);
        let mut first = true;
        for row in &table.rows {
            let lines = self.row_lines(row, &widths);
            let height = row_height(&lines);
            let before = self.pages.len();
            self.room(if first {
                header_height + height
            } else {
                height
            });
            if first || self.pages.len() != before {
                self.draw_row(&header_lines, &widths, &numeric, true);
                first = false;
            }
            self.draw_row(&lines, &widths, &numeric, false);
        }
        if first {
            self.room(header_height);
            self.draw_row(&header_lines, &widths, &numeric, true);
        }
        self.y += 10.0;
    }

    fn row_lines(&self, row: &[Cell], widths: &[f32]) -> Vec<Vec<String>> {
        widths
            .iter()
            .enumerate()
            .map(|(i, width)| {
                let text = row.get(i).map(Cell::display).unwrap_or_default();
                let mut lines = wrap(self.font, &text, TABLE_SIZE, width - 2.0 * CELL_PAD);
                if lines.len() > CELL_MAX_LINES {
                    lines.truncate(CELL_MAX_LINES);
                    if let Some(last) = lines.last_mut() {
                        last.pop();
                        last.push('…');
                    }
                }
                lines
            })
            .collect()
    }

    fn draw_row(&mut self, lines: &[Vec<String>], widths: &[f32], numeric: &[bool], header: bool) {
        let height = row_height(lines);
        let top = self.y;
        if header {
            self.page()
                .rects(&[(MARGIN, top, WIDTH, height)], Color::LIGHT_GREY);
        }
        let mut x = MARGIN;
        for (i, (cell_lines, width)) in lines.iter().zip(widths).enumerate() {
            let (anchor, align) = if numeric[i] {
                (x + width - CELL_PAD, Align::Right)
            } else {
                (x + CELL_PAD, Align::Left)
            };
            for (n, line) in cell_lines.iter().enumerate() {
                let baseline = top + CELL_PAD + TABLE_SIZE * (n as f32 + 1.0) + 2.0 * n as f32;
                self.page()
                    .text(anchor, baseline, TABLE_SIZE, line, align, Color::BLACK);
            }
            x += width;
        }
        self.y += height;
        let y = self.y;
        self.page()
            .line(&[(MARGIN, y), (MARGIN + WIDTH, y)], 0.5, Color::GREY);
    }

    fn chart(&mut self, chart: &Chart) {
        self.room(CHART_HEIGHT);
        let top = self.y;
        let font = self.font;
        chart.draw(font, self.page(), MARGIN, top, WIDTH, CHART_HEIGHT);
        self.y += CHART_HEIGHT + 10.0;
    }
}

fn row_height(lines: &[Vec<String>]) -> f32 {
    let most = lines.iter().map(Vec::len).max().unwrap_or(1).max(1) as f32;
    most * TABLE_SIZE + (most - 1.0) * 2.0 + 2.0 * CELL_PAD + 2.0
}

/// Each column gets its natural width; when they do not fit, wide columns give up room first,
/// down to the width every column would get in an even split.
fn column_widths(font: &PdfFont, header: &[Cell], rows: &[Vec<Cell>], columns: usize) -> Vec<f32> {
    let natural: Vec<f32> = (0..columns)
        .map(|i| {
            std::iter::once(header)
                .chain(rows.iter().map(Vec::as_slice))
                .filter_map(|row| row.get(i))
                .map(|cell| font.width(&cell.display(), TABLE_SIZE))
                .fold(0.0_f32, f32::max)
                + 2.0 * CELL_PAD
                + 1.0
        })
        .collect();
    let total: f32 = natural.iter().sum();
    if total <= WIDTH {
        // Spread the slack evenly so the table spans the page.
        let extra = (WIDTH - total) / columns as f32;
        return natural.iter().map(|w| w + extra).collect();
    }
    let fair = WIDTH / columns as f32;
    let narrow: f32 = natural.iter().filter(|w| **w <= fair).sum();
    let wide: f32 = natural.iter().filter(|w| **w > fair).sum();
    let room = WIDTH - narrow;
    natural
        .iter()
        .map(|w| if *w <= fair { *w } else { w * room / wide })
        .collect()
}

/// Breaks `text` into lines no wider than `width`: at spaces where a Latin word allows, else
/// between any two characters (Chinese has no spaces). `\n` always breaks.
pub(crate) fn wrap(font: &PdfFont, text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for c in paragraph.chars() {
            let mut candidate = line.clone();
            candidate.push(c);
            if line.is_empty() || font.width(&candidate, size) <= width {
                line = candidate;
                continue;
            }
            // Move a trailing Latin word to the next line when the line has a space to break at.
            let cut = if c.is_ascii_alphanumeric() {
                line.rfind(' ')
                    .filter(|&at| line[at + 1..].chars().all(|c| c.is_ascii_alphanumeric()))
            } else {
                None
            };
            match cut {
                Some(at) if at > 0 => {
                    let rest = line[at + 1..].to_owned();
                    line.truncate(at);
                    lines.push(std::mem::take(&mut line));
                    line = rest;
                    line.push(c);
                }
                _ => {
                    lines.push(std::mem::take(&mut line));
                    if c != ' ' {
                        line.push(c);
                    }
                }
            }
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::chart::{ChartKind, Series};
    use super::super::tests::poppler;
    use super::*;
    use crate::font::tests::test_font;

    #[test]
    fn wrapping_keeps_every_character_and_respects_the_width() {
        let font = test_font();
        let text = "网格员每月把本网格的数据整理成研判报告 and sends it to the command room today";
        let lines = wrap(&font, text, 10.0, 120.0);
        assert!(lines.len() > 2);
        for line in &lines {
            assert!(font.width(line, 10.0) <= 120.0, "{line}");
        }
        let joined: String = lines.concat();
        assert_eq!(joined.replace(' ', ""), text.replace(' ', ""));
        // Latin words are not split when a space allows a break.
        assert!(
            lines.iter().any(|l| l.ends_with("and")
                || l.ends_with("sends")
                || l.ends_with("it")
                || l.ends_with("to")
                || l.ends_with("the")),
            "{lines:?}"
        );
        assert_eq!(wrap(&font, "一\n二", 10.0, 500.0), ["一", "二"]);
        assert_eq!(wrap(&font, "", 10.0, 500.0), [""]);
    }

    fn long_table(rows: usize) -> Table {
        let mut table = Table::new(["排名", "网格", "得分"]);
        for i in 0..rows {
            table.push(vec![
                ((i + 1) as i64).into(),
                format!("幸福里第{}网格", i + 1).into(),
                (100.0 - i as f64 * 0.5).into(),
            ]);
        }
        table.push(vec![101_i64.into(), "=1+1".into(), (-2.0).into()]);
        table
    }

    #[test]
    fn a_long_table_breaks_across_pages_with_its_header_on_each() {
        let font = test_font();
        let mut report = Report::new("网格健康排名");
        report
            .heading("一、总体情况")
            .paragraph("本月共 100 个网格参与排名。")
            .table(&long_table(100));
        let pages = report.layout(&font);
        assert!(pages.len() >= 3, "{} pages", pages.len());
        for (i, page) in pages.iter().enumerate() {
            let texts = page.texts();
            assert!(texts.contains(&"网格"), "header on page {}", i + 1);
            let footer = format!("第 {} 页 / 共 {} 页", i + 1, pages.len());
            assert!(texts.contains(&footer.as_str()), "{footer}");
        }
        let all: Vec<&str> = pages.iter().flat_map(Canvas::texts).collect();
        for i in 1..=100 {
            let name = format!("幸福里第{i}网格");
            assert_eq!(all.iter().filter(|t| **t == name).count(), 1, "{name}");
        }
        assert!(all.contains(&"'=1+1"), "neutralised like the spreadsheets");
        assert!(all.contains(&"-2"));
        let pdf = report.render(&font).unwrap();
        let text = poppler("pdftotext", &[], &pdf);
        assert!(text.contains("网格健康排名"));
        assert!(text.contains("一、总体情况"));
        assert!(text.contains("幸福里第100网格"));
        assert!(text.contains("99.5"));
    }

    #[test]
    fn charts_and_tables_fit_the_page_and_render() {
        let font = test_font();
        let categories: Vec<String> = ["一网格", "二网格", "三网格"].map(String::from).to_vec();
        let mut report = Report::new("图表");
        for kind in [ChartKind::Bar, ChartKind::Line, ChartKind::Pie] {
            report.chart(Chart {
                kind,
                title: format!("{kind:?} 事件数"),
                categories: categories.clone(),
                series: vec![
                    Series::new("本月", vec![12.0, 30.0, 7.0]),
                    Series::new("上月", vec![10.0, 22.0, 9.0]),
                ],
            });
        }
        let mut wide = Table::new((0..8).map(|i| format!("第{i}列的一个很长很长的标题")));
        wide.push(
            (0..8)
                .map(|i| Cell::Number(f64::from(i) * 1000.5))
                .collect(),
        );
        report.table(&wide);
        let pages = report.layout(&font);
        assert_eq!(pages.len(), 2, "three charts and a table: two pages");
        let pdf = report.render(&font).unwrap();
        let text = poppler("pdftotext", &[], &pdf);
        for needle in [
            "Bar 事件数",
            "Line 事件数",
            "Pie 事件数",
            "本月",
            "上月",
            "三网格",
            "7003.5",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }
}
