//! Rankings as files people open: the whole table as XLSX and CSV, and a PDF with the title,
//! the period, a bar chart of the figure ranked by and a table. Pure: takes ranked rows, gives
//! tables and documents (written by the documents crate).

use chrono::NaiveDate;
use documents::pdf::{Chart, ChartKind, Report, Series};
use documents::{Cell, Document, Table};

use super::rankings::{RankLevel, RankedArea, SortKey};

/// Most bars the PDF's chart shows (the first ranks); more would not fit their labels.
const CHART_BARS: usize = 30;

/// The ranked rows and what they rank.
#[derive(Debug, Clone)]
pub struct RankingFile<'a> {
    pub level: RankLevel,
    pub sort: SortKey,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rows: &'a [RankedArea],
}

/// The title: 网格排名 or 社区排名.
fn title(level: RankLevel) -> &'static str {
    match level {
        RankLevel::Grid => "网格排名",
        RankLevel::Community => "社区排名",
    }
}

/// The figure's Chinese name, with its unit.
pub fn sort_label(sort: SortKey) -> &'static str {
    match sort {
        SortKey::OnTimeRate => "按时率(%)",
        SortKey::ClosureRate => "办结率(%)",
        SortKey::Rating => "平均评分",
        SortKey::Repeats => "重复问题数",
        SortKey::PatrolRate => "巡查完成率(%)",
        SortKey::Health => "健康分",
    }
}

/// A rate (0–1) as a percentage with two decimals, as every file shows it.
pub fn percent(rate: Option<f64>) -> Option<f64> {
    rate.map(|r| (r * 10_000.0).round() / 100.0)
}

/// The figure a row is ranked by, as the files show it.
fn figure(row: &RankedArea, sort: SortKey) -> Option<f64> {
    match sort {
        SortKey::OnTimeRate => percent(row.on_time_rate),
        SortKey::ClosureRate => percent(row.closure_rate),
        SortKey::Rating => row.average_rating,
        // Counts of a street stay far below 2^53.
        SortKey::Repeats => row.repeats.map(|r| r as f64),
        SortKey::PatrolRate => percent(row.patrol_rate),
        SortKey::Health => row.health_score,
    }
}

fn count(n: u64) -> Cell {
    Cell::Number(n as f64)
}

impl RankingFile<'_> {
    /// `网格排名_2026-11-01_2026-11-30.xlsx`.
    pub fn file_name(&self, extension: &str) -> String {
        format!(
            "{}_{}_{}.{extension}",
            title(self.level),
            self.from,
            self.to
        )
    }

    /// Every figure of every row, for XLSX and CSV.
    pub fn table(&self) -> Table {
        let mut table = Table::new([
            "排名",
            "编码",
            "名称",
            "上级编码",
            "街道",
            "受理事件数",
            "办结事件数",
            "办结率(%)",
            "到期环节数",
            "按时环节数",
            "按时率(%)",
            "评价数",
            "平均评分",
            "重复问题数",
            "应巡次数",
            "已巡次数",
            "巡查完成率(%)",
            "健康分",
            "健康颜色",
        ]);
        for r in self.rows {
            table.push(vec![
                Cell::from(i64::from(r.rank)),
                Cell::from(r.code.as_str()),
                Cell::from(r.name.as_str()),
                Cell::from(r.parent_code.clone()),
                Cell::from(r.street_code.as_str()),
                count(r.events_received),
                count(r.events_closed),
                Cell::from(percent(r.closure_rate)),
                count(r.task_steps),
                count(r.task_steps_on_time),
                Cell::from(percent(r.on_time_rate)),
                count(r.ratings),
                Cell::from(r.average_rating),
                r.repeats.map_or(Cell::Empty, count),
                count(r.patrols_due),
                count(r.patrols_walked),
                Cell::from(percent(r.patrol_rate)),
                Cell::from(r.health_score),
                Cell::from(r.health_colour.map(|c| c.name_zh())),
            ]);
        }
        table
    }
}

impl Document for RankingFile<'_> {
    fn sheets(&self) -> Vec<(&'static str, Table)> {
        vec![("排名", self.table())]
    }

    /// The PDF: title, period and figure, the chart of the first ranks, then the table.
    fn report(&self) -> Report {
        let mut report = Report::new(&format!("{}（晾晒比拼）", title(self.level)));
        report.paragraph(&format!(
            "统计期间：{} 至 {}（北京时间）。排序依据：{}。共 {} 个{}。",
            self.from,
            self.to,
            sort_label(self.sort),
            self.rows.len(),
            match self.level {
                RankLevel::Grid => "网格",
                RankLevel::Community => "社区",
            }
        ));
        let charted: Vec<(&RankedArea, f64)> = self
            .rows
            .iter()
            .filter_map(|r| figure(r, self.sort).map(|f| (r, f)))
            .take(CHART_BARS)
            .collect();
        if !charted.is_empty() {
            report.heading(&format!(
                "{}（前 {} 名）",
                sort_label(self.sort),
                charted.len()
            ));
            report.chart(Chart {
                kind: ChartKind::Bar,
                title: sort_label(self.sort).to_owned(),
                categories: charted.iter().map(|(r, _)| r.name.clone()).collect(),
                series: vec![Series::new(
                    sort_label(self.sort),
                    charted.iter().map(|(_, f)| *f).collect(),
                )],
            });
        }
        report.heading("排名明细");
        let mut table = Table::new([
            "排名",
            "名称",
            "编码",
            "受理",
            "办结率(%)",
            "按时率(%)",
            "平均评分",
            "重复",
            "巡查率(%)",
            "健康分",
        ]);
        for r in self.rows {
            table.push(vec![
                Cell::from(i64::from(r.rank)),
                Cell::from(r.name.as_str()),
                Cell::from(r.code.as_str()),
                count(r.events_received),
                Cell::from(percent(r.closure_rate)),
                Cell::from(percent(r.on_time_rate)),
                Cell::from(r.average_rating.map(|a| (a * 100.0).round() / 100.0)),
                r.repeats.map_or(Cell::Empty, count),
                Cell::from(percent(r.patrol_rate)),
                Cell::from(r.health_score.map(|s| (s * 100.0).round() / 100.0)),
            ]);
        }
        report.table(&table);
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::colour::HealthColour;

    fn row(rank: u32, code: &str, name: &str, on_time: Option<f64>) -> RankedArea {
        RankedArea {
            rank,
            code: code.into(),
            name: name.into(),
            parent_code: Some("QSH-C01".into()),
            street_code: "QSH".into(),
            events_received: 8,
            events_closed: 6,
            closure_rate: Some(0.75),
            task_steps: 3,
            task_steps_on_time: 2,
            on_time_rate: on_time,
            ratings: 0,
            average_rating: None,
            repeats: Some(1),
            patrols_due: 0,
            patrols_walked: 0,
            patrol_rate: None,
            health_score: Some(12.5),
            health_colour: Some(HealthColour::Yellow),
        }
    }

    fn file(rows: &[RankedArea]) -> RankingFile<'_> {
        RankingFile {
            level: RankLevel::Grid,
            sort: SortKey::OnTimeRate,
            from: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
            to: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap_or_default(),
            rows,
        }
    }

    #[test]
    fn the_table_carries_every_figure_with_rates_as_percentages() {
        let rows = [
            row(1, "QSH-G001", "一网格", Some(2.0 / 3.0)),
            row(2, "QSH-G002", "=二网格", None),
        ];
        let table = file(&rows).table();
        assert_eq!(table.header.len(), 19);
        assert_eq!(table.rows.len(), 2);
        let first = &table.rows[0];
        assert_eq!(first[0], Cell::Number(1.0));
        assert_eq!(first[2], Cell::Text("一网格".into()));
        assert_eq!(first[7], Cell::Number(75.0));
        assert_eq!(first[10], Cell::Number(66.67));
        assert_eq!(first[12], Cell::Empty);
        assert_eq!(first[13], Cell::Number(1.0));
        assert_eq!(first[18], Cell::Text("黄色".into()));
        assert_eq!(table.rows[1][10], Cell::Empty);
        // Neutralising is the writers' job, on the way out.
        assert_eq!(table.rows[1][2].display(), "'=二网格");
    }

    #[test]
    fn the_file_name_names_the_level_and_period() {
        let rows = [];
        let mut f = file(&rows);
        assert_eq!(f.file_name("xlsx"), "网格排名_2026-11-01_2026-11-30.xlsx");
        f.level = RankLevel::Community;
        assert_eq!(f.file_name("pdf"), "社区排名_2026-11-01_2026-11-30.pdf");
    }

    #[test]
    fn percentages_round_to_two_decimals() {
        assert_eq!(percent(Some(1.0)), Some(100.0));
        assert_eq!(percent(Some(0.123_456)), Some(12.35));
        assert_eq!(percent(None), None);
        assert_eq!(sort_label(SortKey::Health), "健康分");
    }
}
