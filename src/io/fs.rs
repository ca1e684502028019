//! Summaries on the local filesystem, with the same layout as in S3.

use std::io;
use std::path::Path;

use crate::analyze::Report;

/// Writes the summary objects of `report` under `dir` (the keys become
/// relative paths). Each file is written to a temporary name and renamed,
/// so a reader never sees half a file.
pub fn write_summaries(dir: &Path, report: &Report, prefix: &str) -> io::Result<Vec<String>> {
    let mut written = Vec::new();
    for obj in report.summary_objects(prefix) {
        let path = dir.join(&obj.key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension("gz.tmp");
        std::fs::write(&tmp, &obj.body)?;
        std::fs::rename(&tmp, &path)?;
        written.push(obj.key);
    }
    Ok(written)
}
