//! Append-only NDJSON manifests: the record that batches (`OUT/index.ndjson`) and sends
//! (`OUT/send.ndjson`) keep of finished work, readable while a run goes on and after it is
//! killed.
//!
//! Each line goes out in one `write_all` of the whole line on a file opened for appending
//! (one `write(2)` for lines of this size on a local file), so concurrent writers do not
//! interleave and a killed process leaves whole lines behind. What a crash can still leave
//! is a torn last line (a full disk, a power cut): [`Manifest::open`] ends it with a newline
//! before appending, so the next line never glues onto it, and readers ([`read_lines`],
//! [`compact`]) skip any line that does not parse. Nothing is ever cut off, because another
//! process may be appending to the same file (two sends into one folder).
//!
//! A manifest whose lines describe the current state of keyed items (the batch: one line
//! per input path) is kept short with [`compact`]; one that is a history (the sends: one line
//! per attempt, so a resumed run shows what was retried) is only appended to.

use super::fsio::{self, Durability, FsError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::fs::File;
use std::hash::Hash;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why a manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest could not be opened or read.
    #[error("{}: cannot read manifest: {source}", path.display())]
    Read {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line could not be appended (or the torn tail cut off); going on would lose the
    /// record of finished work.
    #[error("{}: cannot append to manifest: {source}", path.display())]
    Write {
        /// The manifest.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The compacted manifest could not replace the old one.
    #[error(transparent)]
    Rewrite(#[from] FsError),
}

impl ManifestError {
    /// The manifest the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. } | Self::Write { path, .. } => path,
            Self::Rewrite(e) => &e.path,
        }
    }
}

/// An open manifest that whole lines are appended to; shared by reference across threads.
#[derive(Debug)]
pub struct Manifest {
    path: PathBuf,
    file: Mutex<File>,
    durability: Durability,
}

impl Manifest {
    /// Opens the manifest at `path` for appending, creating it (but not its folder), and
    /// ends a torn last line left by a crash with a newline, so that it stays a line of its
    /// own that readers skip.
    ///
    /// # Errors
    /// [`ManifestError::Write`] when the file cannot be opened, read or written.
    pub fn open(path: &Path) -> Result<Self, ManifestError> {
        let err = |source| ManifestError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(err)?;
        if !ends_clean(&mut file).map_err(err)? {
            file.write_all(b"\n").map_err(err)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            durability: Durability::Cache,
        })
    }

    /// The manifest with each appended line synced to the disk before `append` returns
    /// ([`Durability::Fsync`]), or not.
    #[must_use]
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Where the manifest is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `line` as one JSON line, in one `write_all`.
    ///
    /// # Errors
    /// [`ManifestError::Write`] when the line cannot be serialised or written.
    pub fn append<T: Serialize + ?Sized>(&self, line: &T) -> Result<(), ManifestError> {
        let err = |source| ManifestError::Write {
            path: self.path.clone(),
            source,
        };
        let mut buf = serde_json::to_vec(line).map_err(|e| err(std::io::Error::other(e)))?;
        buf.push(b'\n');
        // A writer that panicked mid-append left at most a torn line, which readers skip.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write of the whole line on an O_APPEND file: the kernel places it at the end in
        // one piece, so a SIGKILL cannot interleave or cut it short in the page cache.
        file.write_all(&buf).map_err(err)?;
        file.flush().map_err(err)?;
        if self.durability == Durability::Fsync {
            file.sync_data().map_err(err)?;
        }
        Ok(())
    }
}

/// Whether `file` is empty or ends with a newline.
fn ends_clean(file: &mut File) -> std::io::Result<bool> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// Reads the manifest's bytes; a missing manifest is an empty one.
fn read_bytes(path: &Path) -> Result<Vec<u8>, ManifestError> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(ManifestError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse_lines<T: DeserializeOwned>(bytes: &[u8]) -> impl Iterator<Item = T> + '_ {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|raw| serde_json::from_slice::<T>(raw).ok())
}

/// Every line of the manifest at `path` that parses as `T`, in order; lines that do not (a
/// torn last line) are skipped. A missing manifest has no lines.
///
/// # Errors
/// [`ManifestError::Read`] when the file exists but cannot be read.
pub fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, ManifestError> {
    Ok(parse_lines(&read_bytes(path)?).collect())
}

/// Keeps the last valid line per `key` (in the order the keys first appeared), drops lines
/// that do not parse, and rewrites the manifest atomically if that changed it. A missing
/// manifest is an empty one.
///
/// # Errors
/// [`ManifestError::Read`] when the file cannot be read, [`ManifestError::Rewrite`] when the
/// compacted file cannot replace it.
pub fn compact<T, K>(path: &Path, key: impl Fn(&T) -> K) -> Result<Vec<T>, ManifestError>
where
    T: DeserializeOwned + Serialize,
    K: Eq + Hash,
{
    compact_with(path, key, Durability::Cache)
}

/// [`compact`], with the rewrite synced to the disk when `durability` says so.
///
/// # Errors
/// As [`compact`].
pub fn compact_with<T, K>(
    path: &Path,
    key: impl Fn(&T) -> K,
    durability: Durability,
) -> Result<Vec<T>, ManifestError>
where
    T: DeserializeOwned + Serialize,
    K: Eq + Hash,
{
    let bytes = read_bytes(path)?;
    let mut lines: Vec<T> = Vec::new();
    let mut index: HashMap<K, usize> = HashMap::new();
    for line in parse_lines::<T>(&bytes) {
        match index.get(&key(&line)) {
            Some(&i) => lines[i] = line,
            None => {
                index.insert(key(&line), lines.len());
                lines.push(line);
            }
        }
    }
    let mut text = Vec::with_capacity(bytes.len());
    for line in &lines {
        // A line that parsed from JSON serialises back.
        if let Ok(s) = serde_json::to_vec(line) {
            text.extend_from_slice(&s);
            text.push(b'\n');
        }
    }
    if text != bytes {
        fsio::write_atomic_with(path, &text, durability)?;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Line {
        k: String,
        v: u32,
    }

    fn line(k: &str, v: u32) -> Line {
        Line { k: k.into(), v }
    }

    #[test]
    fn a_torn_tail_is_ended_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.ndjson");
        std::fs::write(&path, "{\"k\":\"a\",\"v\":1}\n{\"k\":\"b\",\"v\"").unwrap();
        let m = Manifest::open(&path).unwrap();
        m.append(&line("c", 3)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"k\":\"a\",\"v\":1}\n{\"k\":\"b\",\"v\"\n{\"k\":\"c\",\"v\":3}\n"
        );
        assert_eq!(
            read_lines::<Line>(&path).unwrap(),
            [line("a", 1), line("c", 3)]
        );
    }

    #[test]
    fn opening_never_removes_bytes_and_leaves_a_clean_file_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let torn = dir.path().join("torn.ndjson");
        std::fs::write(&torn, "{\"k\":").unwrap();
        Manifest::open(&torn).unwrap();
        assert_eq!(std::fs::read(&torn).unwrap(), b"{\"k\":\n");
        // Opened again, the now clean file is not touched.
        Manifest::open(&torn).unwrap();
        assert_eq!(std::fs::read(&torn).unwrap(), b"{\"k\":\n");
        let empty = dir.path().join("empty.ndjson");
        Manifest::open(&empty).unwrap();
        assert_eq!(std::fs::read(&empty).unwrap(), b"");
        // Compaction drops the torn line for good.
        assert!(compact(&torn, |l: &Line| l.k.clone()).unwrap().is_empty());
        assert_eq!(std::fs::read(&torn).unwrap(), b"");
    }

    #[test]
    fn compaction_keeps_the_last_line_per_key_in_first_seen_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.ndjson");
        let m = Manifest::open(&path).unwrap();
        for l in [line("a", 1), line("b", 2), line("a", 3)] {
            m.append(&l).unwrap();
        }
        drop(m);
        let kept = compact(&path, |l: &Line| l.k.clone()).unwrap();
        assert_eq!(kept, [line("a", 3), line("b", 2)]);
        assert_eq!(read_lines::<Line>(&path).unwrap(), kept);
        assert!(compact(&dir.path().join("none"), |l: &Line| l.k.clone())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn appends_from_many_threads_stay_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.ndjson");
        let m = Manifest::open(&path).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let m = &m;
                s.spawn(move || {
                    for i in 0..250 {
                        m.append(&line(&format!("{t}-{i}"), i)).unwrap();
                    }
                });
            }
        });
        let lines = read_lines::<Line>(&path).unwrap();
        assert_eq!(lines.len(), 1000);
        let raw = std::fs::read_to_string(&path).unwrap();
        assert_eq!(raw.lines().count(), 1000);
    }
}
