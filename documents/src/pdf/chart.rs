//! Bar, line and pie charts drawn as vector paths, with axis labels, value labels and a legend.

use std::f32::consts::PI;

use super::canvas::{Align, Canvas, Color};
use crate::font::PdfFont;
use crate::table::format_number;

/// Colours of the series (and pie slices), in order; they repeat after the last.
const PALETTE: [Color; 8] = [
    Color(64, 116, 196),
    Color(230, 126, 34),
    Color(46, 160, 90),
    Color(200, 60, 60),
    Color(142, 92, 178),
    Color(120, 120, 120),
    Color(214, 170, 30),
    Color(40, 170, 190),
];
const TITLE_SIZE: f32 = 11.0;
const LABEL_SIZE: f32 = 8.0;
const SMALLEST_LABEL: f32 = 5.0;

/// How a chart shows its figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// Bars side by side for each category, one per series.
    Bar,
    /// One line per series through the categories.
    Line,
    /// Slices of the first series' positive values, one per category.
    Pie,
}

/// A named row of figures, one per category.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// One value per category; missing ones count as none (bars and lines) or 0 (pie).
    pub values: Vec<f64>,
}

impl Series {
    /// A series called `name`.
    pub fn new(name: &str, values: Vec<f64>) -> Self {
        Self {
            name: name.to_owned(),
            values,
        }
    }
}

/// A chart: its kind, a title, category names along the axis (or pie slices) and series.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Bar, line or pie.
    pub kind: ChartKind,
    /// Printed above the chart.
    pub title: String,
    /// One label per position on the axis, or per slice.
    pub categories: Vec<String>,
    /// The figures.
    pub series: Vec<Series>,
}

impl Chart {
    /// Draws the chart inside the box at (`left`, `top`), `width` × `height` points.
    pub fn draw(
        &self,
        font: &PdfFont,
        canvas: &mut Canvas,
        left: f32,
        top: f32,
        width: f32,
        height: f32,
    ) {
        let mut y = top + TITLE_SIZE;
        canvas.text(
            left + width / 2.0,
            y,
            TITLE_SIZE,
            &self.title,
            Align::Center,
            Color::BLACK,
        );
        y += 8.0;
        match self.kind {
            ChartKind::Bar | ChartKind::Line => {
                y = self.legend(font, canvas, left, y, width);
                self.axes(font, canvas, left, y, width, top + height - y);
            }
            ChartKind::Pie => self.pie(font, canvas, left, y, width, top + height - y),
        }
    }

    /// Coloured squares with the series names, in rows across the width; returns the y below.
    fn legend(&self, font: &PdfFont, canvas: &mut Canvas, left: f32, top: f32, width: f32) -> f32 {
        let entries: Vec<(f32, &str)> = self
            .series
            .iter()
            .map(|s| (font.width(&s.name, LABEL_SIZE) + 24.0, s.name.as_str()))
            .collect();
        let total: f32 = entries.iter().map(|e| e.0).sum();
        let mut x = left + ((width - total) / 2.0).max(0.0);
        let mut y = top;
        for (i, (entry_width, name)) in entries.into_iter().enumerate() {
            if x + entry_width > left + width && x > left {
                x = left;
                y += LABEL_SIZE + 6.0;
            }
            canvas.rects(&[(x, y, 8.0, 8.0)], color(i));
            canvas.text(
                x + 11.0,
                y + 7.5,
                LABEL_SIZE,
                name,
                Align::Left,
                Color::BLACK,
            );
            x += entry_width;
        }
        y + LABEL_SIZE + 10.0
    }

    fn axes(
        &self,
        font: &PdfFont,
        canvas: &mut Canvas,
        left: f32,
        top: f32,
        width: f32,
        height: f32,
    ) {
        let values = self.series.iter().flat_map(|s| s.values.iter().copied());
        let scale = Scale::of(values);
        let tick_labels: Vec<String> = scale.ticks().map(|t| scale.label(t)).collect();
        let axis_label_width = tick_labels
            .iter()
            .map(|t| font.width(t, LABEL_SIZE))
            .fold(0.0_f32, f32::max);
        let plot_left = left + axis_label_width + 6.0;
        let plot_right = left + width;
        let plot_top = top + 4.0;
        let plot_bottom = top + height - LABEL_SIZE - 8.0;
        let to_y = |v: f64| {
            let share = ((v - scale.low) / (scale.high - scale.low)) as f32;
            plot_bottom - share * (plot_bottom - plot_top)
        };
        for (tick, label) in scale.ticks().zip(&tick_labels) {
            let y = to_y(tick);
            canvas.line(&[(plot_left, y), (plot_right, y)], 0.4, Color::LIGHT_GREY);
            canvas.text(
                plot_left - 4.0,
                y + LABEL_SIZE / 3.0,
                LABEL_SIZE,
                label,
                Align::Right,
                Color::BLACK,
            );
        }
        let zero = to_y(0.0);
        canvas.line(&[(plot_left, zero), (plot_right, zero)], 0.8, Color::GREY);
        canvas.line(
            &[(plot_left, plot_top), (plot_left, plot_bottom)],
            0.8,
            Color::GREY,
        );

        let count = self.categories.len().max(1);
        let slot = (plot_right - plot_left) / count as f32;
        for (i, category) in self.categories.iter().enumerate() {
            let center = plot_left + slot * (i as f32 + 0.5);
            let (size, text) = fitted(font, category, slot - 2.0);
            canvas.text(
                center,
                plot_bottom + LABEL_SIZE + 4.0,
                size,
                &text,
                Align::Center,
                Color::BLACK,
            );
        }
        match self.kind {
            ChartKind::Bar => {
                let series = self.series.len().max(1) as f32;
                let bar = slot * 0.8 / series;
                for (s, series_values) in self.series.iter().enumerate() {
                    for (i, value) in series_values.values.iter().take(count).enumerate() {
                        let x = plot_left + slot * (i as f32 + 0.1) + bar * s as f32;
                        let y = to_y(*value);
                        let (top, bottom) = if y < zero { (y, zero) } else { (zero, y) };
                        canvas.rects(&[(x, top, bar, (bottom - top).max(0.3))], color(s));
                        let label = scale.label(*value);
                        if font.width(&label, LABEL_SIZE - 1.0) <= bar + 4.0 {
                            let at = if *value < 0.0 {
                                bottom + LABEL_SIZE
                            } else {
                                top - 2.0
                            };
                            canvas.text(
                                x + bar / 2.0,
                                at,
                                LABEL_SIZE - 1.0,
                                &label,
                                Align::Center,
                                Color::BLACK,
                            );
                        }
                    }
                }
            }
            ChartKind::Line | ChartKind::Pie => {
                for (s, series_values) in self.series.iter().enumerate() {
                    let points: Vec<(f32, f32)> = series_values
                        .values
                        .iter()
                        .take(count)
                        .enumerate()
                        .map(|(i, v)| (plot_left + slot * (i as f32 + 0.5), to_y(*v)))
                        .collect();
                    canvas.line(&points, 1.5, color(s));
                    let marks: Vec<_> = points
                        .iter()
                        .map(|(x, y)| (x - 2.0, y - 2.0, 4.0, 4.0))
                        .collect();
                    canvas.rects(&marks, color(s));
                    if slot >= 24.0 {
                        for ((x, y), v) in points.iter().zip(&series_values.values) {
                            canvas.text(
                                *x,
                                y - 5.0,
                                LABEL_SIZE - 1.0,
                                &scale.label(*v),
                                Align::Center,
                                Color::BLACK,
                            );
                        }
                    }
                }
            }
        }
    }

    /// Slices clockwise from twelve o'clock, percentages on the larger ones, and a legend with
    /// each category's value and share beside the circle.
    fn pie(
        &self,
        font: &PdfFont,
        canvas: &mut Canvas,
        left: f32,
        top: f32,
        width: f32,
        height: f32,
    ) {
        let Some(series) = self.series.first() else {
            return;
        };
        let values: Vec<f64> = (0..self.categories.len())
            .map(|i| series.values.get(i).copied().unwrap_or(0.0).max(0.0))
            .collect();
        let total: f64 = values.iter().sum();
        let radius = (height / 2.0 - 4.0).min(width / 4.0).max(10.0);
        let (cx, cy) = (left + width / 4.0, top + height / 2.0);
        let mut legend_y = top + 10.0;
        let legend_x = left + width / 2.0 + 10.0;
        let line = ((height - 10.0) / self.categories.len().max(1) as f32).min(LABEL_SIZE + 6.0);
        let size = (line - 4.0).clamp(SMALLEST_LABEL, LABEL_SIZE);
        let mut start = -PI / 2.0;
        for (i, (category, value)) in self.categories.iter().zip(&values).enumerate() {
            let share = if total > 0.0 { value / total } else { 0.0 };
            let sweep = share as f32 * 2.0 * PI;
            if sweep > 0.0 {
                // A polygon through the arc every 2 degrees is smooth at print sizes.
                let steps = ((sweep / (PI / 90.0)).ceil() as usize).max(1);
                let mut points = vec![(cx, cy)];
                points.extend((0..=steps).map(|k| {
                    let angle = start + sweep * k as f32 / steps as f32;
                    (cx + radius * angle.cos(), cy + radius * angle.sin())
                }));
                canvas.polygon(&points, color(i));
                if share >= 0.06 {
                    let mid = start + sweep / 2.0;
                    let (x, y) = (
                        cx + radius * 0.62 * mid.cos(),
                        cy + radius * 0.62 * mid.sin(),
                    );
                    canvas.text(
                        x,
                        y + LABEL_SIZE / 3.0,
                        LABEL_SIZE,
                        &percent(share),
                        Align::Center,
                        Color::WHITE,
                    );
                }
            }
            start += sweep;
            canvas.rects(&[(legend_x, legend_y - size + 1.0, size, size)], color(i));
            let entry = format!(
                "{category}  {}  ({})",
                format_number(*value),
                percent(share)
            );
            let (fit, entry) = fitted(font, &entry, width / 2.0 - 30.0);
            canvas.text(
                legend_x + size + 4.0,
                legend_y,
                fit.min(size),
                &entry,
                Align::Left,
                Color::BLACK,
            );
            legend_y += line;
        }
    }
}

fn color(index: usize) -> Color {
    PALETTE[index % PALETTE.len()]
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The label at the largest size down to [`SMALLEST_LABEL`] that fits `width`, cut with an
/// ellipsis when even that is too wide.
fn fitted(font: &PdfFont, text: &str, width: f32) -> (f32, String) {
    let natural = font.width(text, LABEL_SIZE);
    if natural <= width {
        return (LABEL_SIZE, text.to_owned());
    }
    let size = (LABEL_SIZE * width / natural).max(SMALLEST_LABEL);
    if font.width(text, size) <= width {
        return (size, text.to_owned());
    }
    let mut chars: Vec<char> = text.chars().collect();
    while chars.pop().is_some() {
        let cut: String = chars.iter().chain(['…'].iter()).collect();
        if font.width(&cut, size) <= width {
            return (size, cut);
        }
    }
    (size, "…".to_owned())
}

/// The value axis: from 0 (or below, for negative figures) to a round figure above the largest.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    low: f64,
    high: f64,
    step: f64,
}

impl Scale {
    fn of(values: impl Iterator<Item = f64>) -> Self {
        let (mut low, mut high) = (0.0_f64, 0.0_f64);
        for v in values.filter(|v| v.is_finite()) {
            low = low.min(v);
            high = high.max(v);
        }
        if high - low <= 0.0 {
            high = 1.0;
        }
        let raw = (high - low) / 5.0;
        let magnitude = 10_f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * magnitude);
        Self {
            low: (low / step).floor() * step,
            high: (high / step).ceil() * step,
            step,
        }
    }

    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let count = ((self.high - self.low) / self.step).round() as usize;
        (0..=count).map(move |i| self.low + self.step * i as f64)
    }

    /// A figure rounded to the axis' precision, so 0.1 + 0.2 prints as 0.3.
    fn label(&self, value: f64) -> String {
        let decimals = (-self.step.log10().floor()).max(0.0) as i32 + 1;
        let factor = 10_f64.powi(decimals);
        format_number((value * factor).round() / factor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::font::tests::test_font;

    #[test]
    fn the_scale_starts_at_zero_and_ends_on_a_round_figure() {
        let scale = Scale::of([3.0, 47.0, 12.0].into_iter());
        assert_eq!(
            scale,
            Scale {
                low: 0.0,
                high: 50.0,
                step: 10.0
            }
        );
        assert_eq!(
            scale.ticks().collect::<Vec<_>>(),
            [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
        );
        let negative = Scale::of([-7.0, 3.0].into_iter());
        assert_eq!(
            negative,
            Scale {
                low: -8.0,
                high: 4.0,
                step: 2.0
            }
        );
        let flat = Scale::of(std::iter::empty());
        assert_eq!(flat.high, 1.0);
        assert_eq!(Scale::of([0.3].into_iter()).label(0.1 + 0.2), "0.3");
    }

    fn chart(kind: ChartKind) -> Chart {
        Chart {
            kind,
            title: "各网格事件数".into(),
            categories: vec!["一网格".into(), "二网格".into(), "三网格".into()],
            series: vec![Series::new("本月", vec![10.0, 30.0, 60.0])],
        }
    }

    #[test]
    fn a_bar_chart_draws_a_bar_and_a_value_label_per_category() {
        let font = test_font();
        let mut canvas = Canvas::new();
        chart(ChartKind::Bar).draw(&font, &mut canvas, 50.0, 50.0, 495.0, 250.0);
        let texts = canvas.texts();
        for needle in ["各网格事件数", "本月", "一网格", "三网格", "10", "30", "60"] {
            assert!(texts.contains(&needle), "{needle}: {texts:?}");
        }
        let bars: Vec<f32> = canvas
            .ops
            .iter()
            .filter_map(|op| match op {
                super::super::canvas::Op::Rects { rects, .. } if rects[0].2 > 8.0 => {
                    Some(rects[0].3)
                }
                _ => None,
            })
            .collect();
        assert_eq!(bars.len(), 3);
        // Heights are proportional to the values.
        assert!((bars[1] / bars[0] - 3.0).abs() < 0.01, "{bars:?}");
        assert!((bars[2] / bars[0] - 6.0).abs() < 0.01, "{bars:?}");
    }

    #[test]
    fn a_pie_chart_labels_each_slice_with_its_share() {
        let font = test_font();
        let mut canvas = Canvas::new();
        chart(ChartKind::Pie).draw(&font, &mut canvas, 50.0, 50.0, 495.0, 250.0);
        let texts = canvas.texts();
        for needle in [
            "10.0%",
            "30.0%",
            "60.0%",
            "一网格  10  (10.0%)",
            "三网格  60  (60.0%)",
        ] {
            assert!(texts.contains(&needle), "{needle}: {texts:?}");
        }
        let slices = canvas
            .ops
            .iter()
            .filter(|op| matches!(op, super::super::canvas::Op::Polygon { .. }))
            .count();
        assert_eq!(slices, 3);
    }

    #[test]
    fn long_labels_shrink_then_are_cut() {
        let font = test_font();
        let (size, text) = fitted(&font, "短", 100.0);
        assert_eq!((size, text.as_str()), (LABEL_SIZE, "短"));
        let (size, text) = fitted(&font, &"很长的网格名称".repeat(5), 40.0);
        assert_eq!(size, SMALLEST_LABEL);
        assert!(text.ends_with('…'));
        assert!(font.width(&text, size) <= 40.0);
    }
}
