//! The CJK font a PDF embeds: found on the system or named by the server's settings, checked to
//! hold Chinese glyphs, loaded once. Only the glyphs a document uses are embedded (a subset), so
//! a viewer needs no fonts of its own and a one-page file stays small.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

/// Fonts under the SIL Open Font License or similar that Debian and most Linux systems ship,
/// with the face index to use in a collection (`.ttc`). Tried in this order.
pub const SYSTEM_FONTS: &[(&str, u32)] = &[
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    // Noto Sans CJK's collection holds JP, KR, SC, TC, HK in that order: index 2 is Simplified.
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    (
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        0,
    ),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
];

/// The Debian package that provides the first of [`SYSTEM_FONTS`]; named in error messages.
pub const FONT_PACKAGE: &str = "fonts-wqy-microhei";

/// Why no font could be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FontError {
    /// No font was configured and none of [`SYSTEM_FONTS`] exists.
    #[error(
        "no Chinese font for PDF files: install the Debian package {FONT_PACKAGE} (or fonts-noto-cjk), or name a TrueType/OpenType font with --pdf-font / GRIDWING_PDF_FONT"
    )]
    Missing,
    /// The configured file could not be read.
    #[error("cannot read the PDF font {path}: {reason}")]
    Unreadable {
        /// The file named.
        path: PathBuf,
        /// The operating system's words.
        reason: String,
    },
    /// The file is not a TrueType/OpenType font (or collection) that can be embedded.
    #[error("{path} is not a TrueType/OpenType font")]
    NotAFont {
        /// The file named.
        path: PathBuf,
    },
    /// The font has no Chinese glyphs, so text would print as empty boxes.
    #[error("the PDF font {path} has no Chinese glyphs")]
    NoChinese {
        /// The file named.
        path: PathBuf,
    },
}

/// A loaded font: what krilla embeds, plus the raw data to measure text with.
#[derive(Clone)]
pub struct PdfFont {
    pub(crate) krilla: krilla::text::Font,
    data: Arc<Vec<u8>>,
    index: u32,
    path: PathBuf,
}

impl std::fmt::Debug for PdfFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfFont")
            .field("path", &self.path)
            .field("index", &self.index)
            .finish()
    }
}

impl PdfFont {
    /// Reads face `index` of the font file at `path` and checks it can print Chinese.
    pub fn load(path: &Path, index: u32) -> Result<Self, FontError> {
        let data = std::fs::read(path).map_err(|e| FontError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_data(data, index, path)
    }

    fn from_data(data: Vec<u8>, index: u32, path: &Path) -> Result<Self, FontError> {
        let not_a_font = || FontError::NotAFont {
            path: path.to_owned(),
        };
        let font_ref = skrifa::FontRef::from_index(&data, index).map_err(|_| not_a_font())?;
        // 中 and 国: a font without them would print every heading as empty boxes.
        let charmap = font_ref.charmap();
        if charmap.map('中').is_none() || charmap.map('国').is_none() {
            return Err(FontError::NoChinese {
                path: path.to_owned(),
            });
        }
        let data = Arc::new(data);
        let krilla = krilla::text::Font::new(krilla::Data::from(data.clone()), index)
            .ok_or_else(not_a_font)?;
        Ok(Self {
            krilla,
            data,
            index,
            path: path.to_owned(),
        })
    }

    /// The configured font when one is named (index 0 of a collection), else the first of
    /// [`SYSTEM_FONTS`] that exists.
    pub fn discover(configured: Option<&Path>) -> Result<Self, FontError> {
        let (path, index) = locate(configured)?;
        Self::load(&path, index)
    }

    /// The file the font came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Advance width of `text` at `size` points, from the font's horizontal metrics. Close enough
    /// to what the shaper lays out for Chinese and Latin text to centre, align and wrap it.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let Ok(font) = skrifa::FontRef::from_index(&self.data, self.index) else {
            return 0.0;
        };
        let charmap = font.charmap();
        let metrics = font.glyph_metrics(Size::new(size), LocationRef::default());
        text.chars()
            .map(|c| {
                let glyph = charmap.map(c).unwrap_or_default();
                metrics.advance_width(glyph).unwrap_or(size)
            })
            .sum()
    }
}

/// Which file (and face) [`PdfFont::discover`] would load, without reading it: for a warning at
/// startup when PDF files cannot be made.
pub fn locate(configured: Option<&Path>) -> Result<(PathBuf, u32), FontError> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok((path.to_owned(), 0))
        } else {
            Err(FontError::Unreadable {
                path: path.to_owned(),
                reason: "no such file".to_owned(),
            })
        };
    }
    SYSTEM_FONTS
        .iter()
        .find(|(path, _)| Path::new(path).is_file())
        .map(|(path, index)| (PathBuf::from(path), *index))
        .ok_or(FontError::Missing)
}

/// A font found on first use and kept: a server starts without reading 5 MB it may never need,
/// and a font installed after a failed attempt is found on the next one.
#[derive(Debug, Default)]
pub struct LazyFont {
    configured: Option<PathBuf>,
    loaded: OnceLock<Arc<PdfFont>>,
}

impl LazyFont {
    /// A font to be loaded from `configured`, or found on the system when `None`.
    pub fn new(configured: Option<PathBuf>) -> Self {
        Self {
            configured,
            loaded: OnceLock::new(),
        }
    }

    /// The file the font would come from (see [`locate`]); reads nothing.
    pub fn locate(&self) -> Result<(PathBuf, u32), FontError> {
        locate(self.configured.as_deref())
    }

    /// The font, loading it the first time; failures are not kept.
    pub fn get(&self) -> Result<Arc<PdfFont>, FontError> {
        if let Some(font) = self.loaded.get() {
            return Ok(font.clone());
        }
        let font = Arc::new(PdfFont::discover(self.configured.as_deref())?);
        Ok(self.loaded.get_or_init(|| font).clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    /// The font the tests print with: the system's (scripts/test installs fonts-wqy-microhei).
    pub(crate) fn test_font() -> Arc<PdfFont> {
        static FONT: OnceLock<Arc<PdfFont>> = OnceLock::new();
        FONT.get_or_init(|| {
            Arc::new(
                PdfFont::discover(None).expect("a CJK font: apt-get install fonts-wqy-microhei"),
            )
        })
        .clone()
    }

    #[test]
    fn a_system_font_is_found_and_measures_chinese_wider_than_latin() {
        let font = test_font();
        let han = font.width("网格", 10.0);
        assert!((han - 20.0).abs() < 1.0, "two em-wide glyphs: {han}");
        let latin = font.width("ab", 10.0);
        assert!(latin > 2.0 && latin < han, "{latin}");
        assert_eq!(font.width("", 10.0), 0.0);
        assert!((font.width("网格", 20.0) - 2.0 * han).abs() < 0.01);
    }

    #[test]
    fn a_missing_or_wrong_font_is_a_typed_error() {
        let missing = PdfFont::discover(Some(Path::new("/nonexistent/font.ttf"))).unwrap_err();
        assert!(
            matches!(missing, FontError::Unreadable { .. }),
            "{missing:?}"
        );
        let dir = std::env::temp_dir().join(format!("gw-font-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.ttf");
        std::fs::write(&junk, b"not a font at all").unwrap();
        assert_eq!(
            PdfFont::load(&junk, 0).unwrap_err(),
            FontError::NotAFont { path: junk.clone() }
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(FontError::Missing.to_string().contains(FONT_PACKAGE));
        assert!(FontError::Missing.to_string().contains("--pdf-font"));
    }

    #[test]
    fn a_latin_only_font_is_refused() {
        // DejaVu comes with fontconfig, which the browser tests' Chromium brings.
        let dejavu = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
        assert_eq!(
            PdfFont::load(dejavu, 0).unwrap_err(),
            FontError::NoChinese {
                path: dejavu.to_owned()
            }
        );
    }

    #[test]
    fn a_lazy_font_retries_after_a_failure_and_then_keeps_the_font() {
        let lazy = LazyFont::new(Some(PathBuf::from("/nonexistent/font.ttf")));
        assert!(matches!(lazy.locate(), Err(FontError::Unreadable { .. })));
        assert!(lazy.get().is_err());
        assert!(lazy.get().is_err());
        let found = LazyFont::new(Some(test_font().path().to_owned()));
        assert_eq!(found.locate().unwrap().0, test_font().path());
        let first = found.get().unwrap();
        assert!(Arc::ptr_eq(&first, &found.get().unwrap()));
    }
}
