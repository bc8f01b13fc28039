//! Builds the command-centre console (`console/`, a Vite project) into `console/dist` when that
//! is missing or older than the console's sources or the OpenAPI document its types come from,
//! then copies it into OUT_DIR, where `src/console.rs` embeds it. A machine with the Rust
//! toolchain, Node.js and npm needs nothing else: `cargo build` runs `npm ci` (when
//! `console/node_modules` is missing or older than the lock file) and `npm run build`.
//!
//! Nothing this script writes is among the paths it watches: the generated API types go to
//! `console/generated/`, the built files to `console/dist/`. (A watched file written during the
//! run would make cargo run the script, and rebuild the crate, once more on the next build.)
//! The copy in OUT_DIR keeps the binary whole even if `console/dist` is deleted afterwards; it
//! also holds a gzipped twin (`NAME.gz`) of each script, style sheet and other text asset, which
//! the server sends to browsers that accept gzip.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// The console's sources, relative to the console directory: a change to any of them rebuilds it.
const SOURCES: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

fn main() {
    if let Err(e) = run() {
        eprintln!("\nerror: the web console (console/) could not be built: {e}\n");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?);
    let root = manifest
        .parent()
        .ok_or("the api crate has no parent directory")?;
    let console = root.join("console");
    let openapi = root.join("openapi").join("openapi.json");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("no OUT_DIR")?).join("console");

    let mut inputs: Vec<PathBuf> = SOURCES.iter().map(|s| console.join(s)).collect();
    inputs.push(openapi);
    // Only paths that exist are watched: cargo takes a watched path that is missing (the
    // console has no `public/` today) as changed, reruns this script on every build and so
    // recompiles the server each time, a quarter of an hour for a release build here.
    inputs.retain(|p| p.exists());
    for input in &inputs {
        println!("cargo:rerun-if-changed={}", input.display());
    }

    let dist = console.join("dist");
    let built = modified(&dist.join("index.html"));
    let newest = inputs.iter().filter_map(|p| newest_in(p)).max();
    let fresh = matches!((built, newest), (Some(b), Some(n)) if b >= n)
        || (built.is_some() && newest.is_none());
    if !fresh {
        build(&console, built.is_some())?;
    }
    if modified(&dist.join("index.html")).is_none() {
        return Err(format!(
            "{} has no index.html after the build",
            dist.display()
        ));
    }
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("clearing {}: {e}", out.display()))?;
    }
    copy_dir(&dist, &out)
        .map_err(|e| format!("copying {} to {}: {e}", dist.display(), out.display()))?;
    gzip_assets(&out.join("assets")).map_err(|e| format!("gzipping the console's assets: {e}"))
}

/// Writes `NAME.gz` beside each text asset worth compressing (scripts, style sheets, SVG, JSON).
fn gzip_assets(dir: &Path) -> io::Result<()> {
    use std::io::Write;
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let text = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("js" | "mjs" | "css" | "svg" | "json")
        );
        if !text {
            continue;
        }
        let bytes = fs::read(&path)?;
        if bytes.len() < 1024 {
            continue;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        let mut name = path.as_os_str().to_owned();
        name.push(".gz");
        fs::write(PathBuf::from(name), gz.finish()?)?;
    }
    Ok(())
}

/// `npm ci` when the installed packages are missing or older than the lock file, then
/// `npm run build` (API types, type check, Vite). Without npm, an existing but stale build is
/// used with a warning; no build at all is an error saying what to install.
fn build(console: &Path, have_old_build: bool) -> Result<(), String> {
    let npm_works = Command::new("npm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !npm_works {
        if have_old_build {
            println!(
                "cargo:warning=npm not found: embedding console/dist as last built, older than its sources"
            );
            return Ok(());
        }
        return Err(
            "npm was not found on PATH. The gridwing binary embeds the console built from \
                    console/ with Node.js (20.19 or newer) and npm: install them (e.g. `apt-get \
                    install nodejs npm`) and build again."
                .to_owned(),
        );
    }
    let installed = modified(&console.join("node_modules").join(".package-lock.json"));
    let lock = modified(&console.join("package-lock.json"));
    if installed.is_none() || installed < lock {
        npm(
            console,
            &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
        )?;
    }
    npm(console, &["run", "build"])
}

fn npm(console: &Path, args: &[&str]) -> Result<(), String> {
    // npm's output goes to stderr: cargo reads this script's stdout for its own directives.
    let status = Command::new("npm")
        .args(args)
        .current_dir(console)
        .stdout(Stdio::from(io::stderr()))
        .status()
        .map_err(|e| format!("running npm {}: {e}", args.join(" ")))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`npm {}` in console/ failed ({status}); its output is above",
            args.join(" ")
        ))
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file, or of any file under a directory.
fn newest_in(path: &Path) -> Option<SystemTime> {
    let meta = fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    let mut newest = meta.modified().ok();
    for entry in fs::read_dir(path).ok()?.flatten() {
        newest = newest.max(newest_in(&entry.path()));
    }
    newest
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
