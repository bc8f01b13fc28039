//! Writes the harness's seed inputs into the corpus directory given as the only argument.

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "corpus/sync_message".into());
    std::fs::create_dir_all(&dir)?;
    for (i, seed) in sync_engine::harness::seeds().iter().enumerate() {
        std::fs::write(format!("{dir}/seed-{i}"), seed)?;
    }
    Ok(())
}
