//! One page's drawing, recorded as operations and written by [`super::render`].

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub u8, pub u8, pub u8);

impl Color {
    /// Body text.
    pub const BLACK: Color = Color(0, 0, 0);
    /// Rules and axes.
    pub const GREY: Color = Color(150, 150, 150);
    /// Grid lines and table header backgrounds.
    pub const LIGHT_GREY: Color = Color(230, 230, 230);
    /// Text on dark fills.
    pub const WHITE: Color = Color(255, 255, 255);
}

/// Where a text's anchor `x` sits: at its left end, centre or right end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// `x` is the left end.
    Left,
    /// `x` is the middle.
    Center,
    /// `x` is the right end.
    Right,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
        align: Align,
        color: Color,
    },
    /// Filled as one path: a QR code of hundreds of modules stays one drawing operation.
    Rects {
        rects: Vec<(f32, f32, f32, f32)>,
        color: Color,
    },
    Polygon {
        points: Vec<(f32, f32)>,
        color: Color,
    },
    Line {
        points: Vec<(f32, f32)>,
        width: f32,
        color: Color,
    },
}

/// The drawing of one A4 page, in points from the top-left corner.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Canvas {
    pub(crate) ops: Vec<Op>,
}

impl Canvas {
    /// An empty page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Text on one line with its baseline at `y`. Line breaks and tabs become spaces.
    pub fn text(&mut self, x: f32, y: f32, size: f32, text: &str, align: Align, color: Color) {
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if text.trim().is_empty() {
            return;
        }
        self.ops.push(Op::Text {
            x,
            y,
            size,
            text,
            align,
            color,
        });
    }

    /// Filled rectangles `(left, top, width, height)`, all in one colour.
    pub fn rects(&mut self, rects: &[(f32, f32, f32, f32)], color: Color) {
        if !rects.is_empty() {
            self.ops.push(Op::Rects {
                rects: rects.to_vec(),
                color,
            });
        }
    }

    /// A filled polygon through `points`.
    pub fn polygon(&mut self, points: &[(f32, f32)], color: Color) {
        if points.len() >= 3 {
            self.ops.push(Op::Polygon {
                points: points.to_vec(),
                color,
            });
        }
    }

    /// A stroked line through `points`, `width` points wide.
    pub fn line(&mut self, points: &[(f32, f32)], width: f32, color: Color) {
        if points.len() >= 2 {
            self.ops.push(Op::Line {
                points: points.to_vec(),
                width,
                color,
            });
        }
    }

    /// The texts drawn so far, in order (what a test or a caller may check).
    pub fn texts(&self) -> Vec<&str> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                Op::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// True when nothing has been drawn.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
