//! A review as files people open: the PDF a street prints (its figures in words, tables and
//! charts: events by colour as a pie, by category and the steps' on-time rates as bars, the
//! health trend as a line; the assessment and the comments), and the underlying tables as XLSX
//! (one sheet each) and CSV (the figures, one line per figure with last month beside it).
//!
//! Pure: takes a review as opened and the catalogue's Chinese names, gives tables and a
//! document (written by the documents crate). Codes are shown with their Chinese names; times
//! in Asia/Shanghai.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use documents::pdf::{Chart, ChartKind, Report, Series};
use documents::{Cell, Document, Table};

use super::figures::{Figures, HotSpot, StepFigures, Summary, Trend};
use super::store::ReviewDetail;
use super::{ReviewScope, ReviewStatus};
use crate::events::catalogue::Colour;
use crate::events::intake::Source;
use crate::health::ranking_files::percent;

/// A review and what names its codes.
#[derive(Debug, Clone, Copy)]
pub struct ReviewFile<'a> {
    pub detail: &'a ReviewDetail,
    /// Category code → Chinese name (the catalogue's); a code without one is shown as it is.
    pub category_names: &'a HashMap<String, String>,
}

/// 网格, 社区 or 街道.
fn scope_zh(scope: ReviewScope) -> &'static str {
    match scope {
        ReviewScope::Grid => "网格",
        ReviewScope::Community => "社区",
        ReviewScope::Street => "街道",
    }
}

fn status_zh(status: ReviewStatus) -> &'static str {
    match status {
        ReviewStatus::Draft => "草稿",
        ReviewStatus::Submitted => "已报送",
    }
}

/// An instant as Beijing time, to the minute.
fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&crate::points::local_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn count(n: u64) -> Cell {
    // Counts of a street stay far below 2^53, where f64 is exact.
    Cell::Number(n as f64)
}

/// A figure to two decimals.
fn two(x: Option<f64>) -> Cell {
    Cell::from(x.map(|v| (v * 100.0).round() / 100.0))
}

fn colour_zh(key: &str) -> String {
    Colour::parse(key).map_or_else(|_| key.to_owned(), |c| c.name_zh().to_owned())
}

fn source_zh(key: &str) -> String {
    Source::named(key).map_or_else(|| key.to_owned(), |s| s.name_zh().to_owned())
}

fn trend_zh(t: Option<Trend>) -> &'static str {
    match t {
        Some(Trend::Better) => "好转",
        Some(Trend::Same) => "持平",
        Some(Trend::Worse) => "变差",
        None => "无法比较",
    }
}

/// A rate as `75.00%`, or `—` when nothing was due.
fn rate_text(rate: Option<f64>) -> String {
    percent(rate).map_or_else(|| "—".to_owned(), |p| format!("{p:.2}%"))
}

impl ReviewFile<'_> {
    fn figures(&self) -> &Figures {
        &self.detail.figures
    }

    fn category_zh(&self, code: &str) -> String {
        self.category_names
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_owned())
    }

    /// `QSH-G001_2026-11_月度研判报告_v1.pdf`: the area's code, not its name, so the name is
    /// the same whatever an import called the area.
    pub fn file_name(&self, extension: &str) -> String {
        let r = &self.detail.review;
        format!(
            "{}_{}_月度研判报告_v{}.{extension}",
            r.area_code, r.month, r.version
        )
    }

    /// The title: `测试社区第1网格 2026-11 月度研判报告`.
    pub fn title(&self) -> String {
        let r = &self.detail.review;
        format!("{} {} 月度研判报告", r.area_name, r.month)
    }

    /// Every figure, one line each: section, item, this month, the month before (where the
    /// comparison keeps it).
    pub fn figures_table(&self) -> Table {
        let f = self.figures();
        let p = &f.comparison.previous;
        let mut t = Table::new(["板块", "项目", "本月", "上月"]);
        let mut line = |section: &str, item: &str, now: Cell, before: Cell| {
            t.push(vec![Cell::from(section), Cell::from(item), now, before]);
        };
        line("事件", "受理事件数", count(f.events.total), count(p.events));
        line(
            "事件",
            "办结事件数",
            count(f.events.closed),
            count(p.closed),
        );
        for c in &f.events.by_category {
            line(
                "事件分类",
                &self.category_zh(&c.key),
                count(c.count),
                Cell::Empty,
            );
        }
        for c in &f.events.by_colour {
            line("事件等级", &colour_zh(&c.key), count(c.count), Cell::Empty);
        }
        for c in &f.events.by_source {
            line("事件来源", &source_zh(&c.key), count(c.count), Cell::Empty);
        }
        for (item, s) in [
            ("签收", &f.steps.sign),
            ("到场", &f.steps.arrive),
            ("处置", &f.steps.handle),
            ("合计", &f.steps.all),
        ] {
            line(
                "环节按时",
                &format!("{item}到期数"),
                count(s.due),
                Cell::Empty,
            );
            line(
                "环节按时",
                &format!("{item}按时数"),
                count(s.on_time),
                Cell::Empty,
            );
            let before = if item == "合计" {
                Cell::from(percent(p.on_time_rate))
            } else {
                Cell::Empty
            };
            line(
                "环节按时",
                &format!("{item}按时率(%)"),
                Cell::from(percent(s.rate)),
                before,
            );
        }
        line(
            "亮灯督办",
            "黄灯",
            count(f.lights.yellow),
            count(p.yellow_lights),
        );
        line("亮灯督办", "红灯", count(f.lights.red), count(p.red_lights));
        line("亮灯督办", "升级", count(f.lights.escalations), Cell::Empty);
        line("群众评价", "评价数", count(f.ratings.count), Cell::Empty);
        line(
            "群众评价",
            "平均评分",
            two(f.ratings.average),
            two(p.average_rating),
        );
        line("巡查", "应巡次数", count(f.patrols.due), Cell::Empty);
        line("巡查", "已巡次数", count(f.patrols.walked), Cell::Empty);
        line(
            "巡查",
            "巡查完成率(%)",
            Cell::from(percent(f.patrols.rate)),
            Cell::from(percent(p.patrol_rate)),
        );
        for (item, n) in [
            ("楼栋总数", f.freshness.total),
            ("绿码(半年内核实)", f.freshness.green),
            ("黄码(超过半年)", f.freshness.yellow),
            ("红码(从未核实)", f.freshness.red),
        ] {
            line("楼栋信息", item, count(n), Cell::Empty);
        }
        line(
            "志愿服务",
            "服务时长(小时)",
            two(Some(f.volunteering.hours)),
            Cell::Empty,
        );
        if let Some(points) = f.points {
            line("积分", "发放", count(points.issued), Cell::Empty);
            line("积分", "兑换", count(points.redeemed), Cell::Empty);
        }
        line(
            "网格健康",
            "健康分",
            two(f.health.score),
            two(p.health_score),
        );
        line(
            "网格健康",
            "健康颜色",
            Cell::from(f.health.colour.map(|c| c.name_zh())),
            Cell::from(p.health_colour.map(|c| c.name_zh())),
        );
        t
    }

    /// The buildings and micro-grids with repeated reports.
    pub fn hot_spots_table(&self) -> Table {
        let h = &self.figures().hot_spots;
        let mut t = Table::new(["类型", "编码", "所在网格", "上报次数"]);
        let mut add = |kind: &str, spots: &[HotSpot]| {
            for s in spots {
                t.push(vec![
                    Cell::from(kind),
                    Cell::from(s.code.as_str()),
                    Cell::from(s.grid_code.as_str()),
                    count(s.reports),
                ]);
            }
        };
        add("楼栋", &h.buildings);
        add("微网格", &h.micro_grids);
        t
    }

    /// A day a line: the health score and colour.
    pub fn trend_table(&self) -> Table {
        let mut t = Table::new(["日期", "健康分", "健康颜色"]);
        for d in &self.figures().health.trend {
            t.push(vec![
                Cell::from(d.day.as_str()),
                two(Some(d.score)),
                Cell::from(d.colour.name_zh()),
            ]);
        }
        t
    }

    /// The comments, oldest first.
    pub fn comments_table(&self) -> Table {
        let mut t = Table::new(["时间", "批注人", "内容"]);
        for c in &self.detail.comments {
            t.push(vec![
                Cell::from(local(c.created_at)),
                Cell::from(c.author.name.as_str()),
                Cell::from(c.body.as_str()),
            ]);
        }
        t
    }

    /// The summary paragraph: the month in one breath, beside the month before.
    fn summary_text(&self) -> String {
        let f = self.figures();
        let s: &Summary = &f.summary;
        let c = &f.comparison;
        let change = match c.events_change {
            0 => "持平".to_owned(),
            n if n > 0 => format!("增加 {n} 件"),
            n => format!("减少 {} 件", n.unsigned_abs()),
        };
        format!(
            "本月受理事件 {} 件，办结 {} 件，较上月（{}）{}；环节按时率 {}，平均评分 {}；\
             黄灯 {} 次、红灯 {} 次；巡查完成率 {}；健康分 {}（{}），较上月{}。",
            s.events,
            s.closed,
            c.previous_month,
            change,
            rate_text(s.on_time_rate),
            s.average_rating
                .map_or_else(|| "—".to_owned(), |a| format!("{a:.2}")),
            s.yellow_lights,
            s.red_lights,
            rate_text(s.patrol_rate),
            s.health_score
                .map_or_else(|| "—".to_owned(), |h| format!("{h:.2}")),
            s.health_colour.map_or("未评定", |c| c.name_zh()),
            trend_zh(c.health_trend),
        )
    }
}

impl Document for ReviewFile<'_> {
    /// The workbook's sheets, in order.
    fn sheets(&self) -> Vec<(&'static str, Table)> {
        vec![
            ("指标", self.figures_table()),
            ("热点", self.hot_spots_table()),
            ("健康趋势", self.trend_table()),
            ("批注", self.comments_table()),
        ]
    }

    /// The PDF: who and when, the summary, charts and tables of each part, the assessment and
    /// the comments.
    fn report(&self) -> Report {
        let r = &self.detail.review;
        let f = self.figures();
        let mut report = Report::new(&self.title());
        let mut about = format!(
            "{}：{}（{}）。统计月份：{}（北京时间）。版本 {}，{}。生成于 {}",
            scope_zh(r.scope),
            r.area_name,
            r.area_code,
            r.month,
            r.version,
            status_zh(r.status),
            local(r.generated_at),
        );
        if let (Some(at), Some(by)) = (r.submitted_at, &r.submitted_by) {
            about.push_str(&format!("；{} 报送于 {}", by.name, local(at)));
        }
        if let (Some(at), Some(by)) = (r.read_at, &r.read_by) {
            about.push_str(&format!("；{} 阅于 {}", by.name, local(at)));
        }
        about.push('。');
        if f.grids > 1 {
            about.push_str(&format!("含 {} 个网格。", f.grids));
        }
        report.paragraph(&about);
        report.heading("一、总体情况");
        report.paragraph(&self.summary_text());

        report.heading("二、事件");
        if f.events.total > 0 {
            report.chart(Chart {
                kind: ChartKind::Pie,
                title: "事件等级分布".to_owned(),
                categories: f
                    .events
                    .by_colour
                    .iter()
                    .map(|c| colour_zh(&c.key))
                    .collect(),
                series: vec![Series::new(
                    "事件数",
                    f.events.by_colour.iter().map(|c| c.count as f64).collect(),
                )],
            });
            report.chart(Chart {
                kind: ChartKind::Bar,
                title: "事件分类".to_owned(),
                categories: f
                    .events
                    .by_category
                    .iter()
                    .map(|c| self.category_zh(&c.key))
                    .collect(),
                series: vec![Series::new(
                    "事件数",
                    f.events
                        .by_category
                        .iter()
                        .map(|c| c.count as f64)
                        .collect(),
                )],
            });
        } else {
            report.paragraph("本月无受理事件。");
        }

        report.heading("三、环节按时率");
        let steps: [(&str, &StepFigures); 3] = [
            ("签收", &f.steps.sign),
            ("到场", &f.steps.arrive),
            ("处置", &f.steps.handle),
        ];
        if f.steps.all.due > 0 {
            report.chart(Chart {
                kind: ChartKind::Bar,
                title: "各环节按时率(%)".to_owned(),
                categories: steps.iter().map(|(n, _)| (*n).to_owned()).collect(),
                series: vec![Series::new(
                    "按时率(%)",
                    steps
                        .iter()
                        .map(|(_, s)| percent(s.rate).unwrap_or(0.0))
                        .collect(),
                )],
            });
        }

        report.heading("四、指标明细");
        report.table(&self.figures_table());

        report.heading("五、重复问题热点");
        let spots = self.hot_spots_table();
        if spots.rows.is_empty() {
            report.paragraph("本月无重复上报的楼栋或微网格。");
        } else {
            report.table(&spots);
        }

        report.heading("六、网格健康趋势");
        if f.health.trend.len() > 1 {
            report.chart(Chart {
                kind: ChartKind::Line,
                title: "健康分（越高越需关注）".to_owned(),
                categories: f
                    .health
                    .trend
                    .iter()
                    .map(|d| d.day.get(5..).unwrap_or(&d.day).to_owned())
                    .collect(),
                series: vec![Series::new(
                    "健康分",
                    f.health.trend.iter().map(|d| d.score).collect(),
                )],
            });
        } else if f.health.trend.is_empty() {
            report.paragraph("本月无健康评分记录。");
        } else {
            report.table(&self.trend_table());
        }

        report.heading("七、研判意见");
        report.paragraph(r.assessment.as_deref().unwrap_or("（尚未填写）"));
        if !self.detail.comments.is_empty() {
            report.heading("八、指挥中心批注");
            report.table(&self.comments_table());
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;
    use crate::health::colour::HealthColour;
    use crate::reviews::figures::{
        Comparison, Count, EventFigures, FreshnessFigures, HealthFigures, HotSpots, LightFigures,
        PatrolFigures, RatingFigures, StepsFigures, TrendDay, VolunteerFigures,
    };
    use crate::reviews::store::{CommentView, Person, ReviewView};

    fn step(due: u64, on_time: u64) -> StepFigures {
        StepFigures {
            due,
            on_time,
            rate: (due > 0).then(|| on_time as f64 / due as f64),
        }
    }

    fn summary(events: u64, health: Option<f64>) -> Summary {
        Summary {
            events,
            closed: 1,
            on_time_rate: Some(0.5),
            average_rating: None,
            patrol_rate: None,
            yellow_lights: 0,
            red_lights: 1,
            health_score: health,
            health_colour: health.map(|_| HealthColour::Yellow),
        }
    }

    fn detail() -> ReviewDetail {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 16, 30, 0).single();
        let at = at.unwrap_or_default();
        let worker = Person {
            id: Uuid::nil(),
            name: "王网格".into(),
        };
        ReviewDetail {
            review: ReviewView {
                id: Uuid::nil(),
                scope: ReviewScope::Grid,
                area_code: "QSH-G001".into(),
                area_name: "=一网格".into(),
                street_code: "QSH".into(),
                month: "2026-11".into(),
                version: 2,
                status: ReviewStatus::Submitted,
                assessment: Some("垃圾堆放反复发生。".into()),
                generated_at: at,
                generated_by: None,
                submitted_at: Some(at),
                submitted_by: Some(worker.clone()),
                read_at: None,
                read_by: None,
            },
            figures: Figures {
                month: "2026-11".into(),
                scope: ReviewScope::Grid,
                area_code: "QSH-G001".into(),
                area_name: "=一网格".into(),
                grids: 1,
                events: EventFigures {
                    total: 4,
                    closed: 3,
                    by_category: vec![Count {
                        key: "environment.garbage".into(),
                        count: 4,
                    }],
                    by_colour: vec![Count {
                        key: "blue".into(),
                        count: 4,
                    }],
                    by_source: vec![Count {
                        key: "citizen".into(),
                        count: 4,
                    }],
                },
                steps: StepsFigures {
                    sign: step(4, 3),
                    arrive: step(4, 3),
                    handle: step(3, 3),
                    all: step(11, 9),
                },
                lights: LightFigures {
                    yellow: 0,
                    red: 1,
                    escalations: 1,
                },
                hot_spots: HotSpots {
                    buildings: vec![HotSpot {
                        code: "QSH-B0001".into(),
                        grid_code: "QSH-G001".into(),
                        reports: 4,
                    }],
                    micro_grids: vec![],
                },
                ratings: RatingFigures {
                    count: 2,
                    average: Some(3.0),
                },
                patrols: PatrolFigures {
                    due: 0,
                    walked: 0,
                    rate: None,
                },
                freshness: FreshnessFigures {
                    total: 3,
                    green: 1,
                    yellow: 1,
                    red: 1,
                },
                volunteering: VolunteerFigures {
                    minutes: 90,
                    hours: 1.5,
                },
                points: None,
                health: HealthFigures {
                    score: Some(70.0),
                    colour: Some(HealthColour::Yellow),
                    trend: vec![
                        TrendDay {
                            day: "2026-11-01".into(),
                            score: 20.0,
                            colour: HealthColour::Green,
                        },
                        TrendDay {
                            day: "2026-11-30".into(),
                            score: 70.0,
                            colour: HealthColour::Yellow,
                        },
                    ],
                },
                summary: summary(4, Some(70.0)),
                comparison: Comparison {
                    previous_month: "2026-10".into(),
                    previous: summary(6, Some(40.0)),
                    events_change: -2,
                    health_trend: Some(Trend::Worse),
                },
            },
            comments: vec![CommentView {
                id: Uuid::nil(),
                review_id: Uuid::nil(),
                author: Person {
                    id: Uuid::nil(),
                    name: "指挥中心值班员".into(),
                },
                body: "@请补充整改时限".into(),
                created_at: at,
            }],
            versions: vec![],
        }
    }

    fn names() -> HashMap<String, String> {
        HashMap::from([("environment.garbage".into(), "垃圾堆放".into())])
    }

    /// The row of the figures table whose item is `item`.
    fn row<'t>(t: &'t Table, section: &str, item: &str) -> &'t [Cell] {
        t.rows
            .iter()
            .find(|r| r[0] == Cell::from(section) && r[1] == Cell::from(item))
            .map_or(&[], Vec::as_slice)
    }

    #[test]
    fn the_figures_table_names_codes_in_chinese_with_last_month_beside() {
        let d = detail();
        let names = names();
        let file = ReviewFile {
            detail: &d,
            category_names: &names,
        };
        let t = file.figures_table();
        assert_eq!(t.header, ["板块", "项目", "本月", "上月"]);
        assert_eq!(
            row(&t, "事件", "受理事件数"),
            [
                Cell::from("事件"),
                Cell::from("受理事件数"),
                Cell::Number(4.0),
                Cell::Number(6.0)
            ]
        );
        assert_eq!(row(&t, "事件分类", "垃圾堆放")[2], Cell::Number(4.0));
        assert_eq!(row(&t, "事件等级", "蓝色")[2], Cell::Number(4.0));
        assert_eq!(row(&t, "事件来源", "居民上报")[2], Cell::Number(4.0));
        assert_eq!(
            row(&t, "环节按时", "合计按时率(%)")[2..],
            [Cell::Number(81.82), Cell::Number(50.0)]
        );
        assert_eq!(row(&t, "巡查", "巡查完成率(%)")[2], Cell::Empty);
        assert_eq!(row(&t, "网格健康", "健康颜色")[2], Cell::from("黄色"));
        assert_eq!(row(&t, "志愿服务", "服务时长(小时)")[2], Cell::Number(1.5));
        // No points in a grid's review: no points lines.
        assert!(row(&t, "积分", "发放").is_empty());
    }

    #[test]
    fn an_unknown_category_is_shown_by_its_code() {
        let d = detail();
        let none = HashMap::new();
        let t = ReviewFile {
            detail: &d,
            category_names: &none,
        }
        .figures_table();
        assert_eq!(
            row(&t, "事件分类", "environment.garbage")[2],
            Cell::Number(4.0)
        );
    }

    #[test]
    fn sheets_hold_hot_spots_trend_and_comments_with_beijing_times() {
        let d = detail();
        let names = names();
        let file = ReviewFile {
            detail: &d,
            category_names: &names,
        };
        let sheets = file.sheets();
        let titles: Vec<&str> = sheets.iter().map(|(n, _)| *n).collect();
        assert_eq!(titles, ["指标", "热点", "健康趋势", "批注"]);
        assert_eq!(
            sheets[1].1.rows,
            [vec![
                Cell::from("楼栋"),
                Cell::from("QSH-B0001"),
                Cell::from("QSH-G001"),
                Cell::Number(4.0)
            ]]
        );
        assert_eq!(sheets[2].1.rows.len(), 2);
        // 16:30 UTC is half past midnight the next day in Beijing.
        assert_eq!(sheets[3].1.rows[0][0], Cell::from("2026-12-01 00:30"));
        assert_eq!(sheets[3].1.rows[0][2].display(), "'@请补充整改时限");
    }

    #[test]
    fn the_file_name_and_summary_say_which_review_and_how_it_went() {
        let d = detail();
        let names = names();
        let file = ReviewFile {
            detail: &d,
            category_names: &names,
        };
        assert_eq!(
            file.file_name("pdf"),
            "QSH-G001_2026-11_月度研判报告_v2.pdf"
        );
        assert_eq!(file.title(), "=一网格 2026-11 月度研判报告");
        let s = file.summary_text();
        assert!(s.contains("本月受理事件 4 件"), "{s}");
        assert!(s.contains("减少 2 件"), "{s}");
        assert!(s.contains("环节按时率 50.00%"), "{s}");
        assert!(s.contains("较上月变差"), "{s}");
    }
}
