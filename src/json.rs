//! Files of results: JSON lines appended and flushed one record at a time
//! (an interrupted run loses nothing already written), and whole files
//! written atomically (readers never see half of one).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// JSON has no NaN: `serde_json` writes non-finite floats as `null`, and this
/// reads `null` back as NaN (a diverged run's accuracy, for instance).
pub fn f64_or_nan<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// Appends serialisable records to a file, one JSON line each.
pub struct JsonLines {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl JsonLines {
    /// Opens `path` for appending (creating it, not its folder).
    pub fn append(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
        })
    }

    /// The file the records are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record and flushes it to the file.
    pub fn write<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, record)?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()
    }
}

/// Reads every complete record of a JSON-lines file. A last line cut short by
/// an interruption is ignored; a malformed line elsewhere is an error.
pub fn read_json_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Vec<T>> {
    let text = fs::read_to_string(path)?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let mut records = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(_) if index + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(error) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: line {}: {error}", path.display(), index + 1),
                ))
            }
        }
    }
    Ok(records)
}

/// Writes a file through a temporary file and a rename, so readers never
/// see half of it. The temporary file's name is the file's own, the
/// process's and a counter's, so no two writes share one.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let unique = format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    );
    let temporary = path.with_file_name(unique);
    let mut file = File::create(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}
