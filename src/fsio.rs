//! Filesystem side of the CLI: walking inputs, mapping inputs to output paths and atomic writes.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// A filesystem error naming the path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct FsError {
    /// The path concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: FsErrorKind,
}

impl FsError {
    /// A stable machine-readable name for the error kind, as the batch manifest records it.
    pub fn code(&self) -> &'static str {
        match self.kind {
            FsErrorKind::NotFound => "not_found",
            FsErrorKind::ReadDir(_) => "io",
            FsErrorKind::Write(_) => "write",
        }
    }
}

/// What went wrong on the filesystem.
#[derive(Debug, thiserror::Error)]
pub enum FsErrorKind {
    /// The path does not exist.
    #[error("no such file or directory")]
    NotFound,
    /// A directory could not be listed.
    #[error("cannot read directory: {0}")]
    ReadDir(std::io::Error),
    /// Writing an output failed.
    #[error("cannot write output: {0}")]
    Write(std::io::Error),
}

/// One input found on the command line or below a directory argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Path to open.
    pub path: PathBuf,
    /// Path of the output relative to the output directory, before the output extension.
    pub rel: PathBuf,
}

/// Keeps a user-given path as the output prefix when it is relative and stays inside the
/// output directory; otherwise only its last component, so outputs never escape `--out`.
fn output_prefix(arg: &Path) -> PathBuf {
    let safe = arg.is_relative()
        && arg
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if safe {
        arg.components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect()
    } else {
        arg.file_name().map(PathBuf::from).unwrap_or_default()
    }
}

/// Expands command-line paths. Directories are walked recursively in sorted order, skipping
/// hidden entries; a file argument is taken as it is. Errors are returned beside the inputs
/// so that one bad argument does not stop the others.
pub fn expand(args: &[PathBuf]) -> (Vec<Input>, Vec<FsError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        let prefix = output_prefix(arg);
        match std::fs::metadata(arg) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => errors.push(FsError {
                path: arg.clone(),
                kind: FsErrorKind::NotFound,
            }),
            Err(e) => errors.push(FsError {
                path: arg.clone(),
                kind: FsErrorKind::ReadDir(e),
            }),
            Ok(m) if m.is_dir() => walk(arg, &prefix, &mut inputs, &mut errors),
            Ok(_) => inputs.push(Input {
                path: arg.clone(),
                rel: prefix,
            }),
        }
    }
    (inputs, errors)
}

fn walk(dir: &Path, rel: &Path, inputs: &mut Vec<Input>, errors: &mut Vec<FsError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            errors.push(FsError {
                path: dir.to_path_buf(),
                kind: FsErrorKind::ReadDir(e),
            });
            return;
        }
    };
    let mut names: Vec<_> = entries.filter_map(Result::ok).collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let child_rel = rel.join(&name);
        // metadata() follows symlinks, so a link to a file counts as that file.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, &child_rel, inputs, errors),
            Ok(_) => inputs.push(Input {
                path,
                rel: child_rel,
            }),
            Err(e) => errors.push(FsError {
                path,
                kind: FsErrorKind::ReadDir(e),
            }),
        }
    }
}

/// `OUT/<rel><suffix>`, e.g. `OUT/photos/a.png.jsonld`.
pub fn output_path(out_dir: &Path, rel: &Path, suffix: &str) -> PathBuf {
    let mut name = rel.as_os_str().to_owned();
    name.push(suffix);
    out_dir.join(name)
}

/// Name prefix of the temporary files [`write_atomic`] creates (followed by the pid).
pub const TEMP_PREFIX: &str = ".mmprompt-";
/// Name suffix of the temporary files [`write_atomic`] creates.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Whether the process `pid` still runs. Only Linux's /proc can tell without unsafe code;
/// elsewhere every writer counts as gone, which is right for a single batch per output dir.
fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes, below `dir`, the temporary files [`write_atomic`] left behind when its process
/// was killed between creating and renaming them (a SIGKILL runs no destructors). Temporaries
/// of processes still running are left alone. Returns how many were removed.
pub fn remove_stale_temps(dir: &Path) -> Result<usize, FsError> {
    let err = |path: &Path, e: std::io::Error| FsError {
        path: path.to_path_buf(),
        kind: FsErrorKind::ReadDir(e),
    };
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(err(&d, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| err(&d, e))?;
            // file_type() does not follow symlinks, so a link out of the output tree (or a
            // loop) is never entered.
            let ft = entry.file_type().map_err(|e| err(&entry.path(), e))?;
            if ft.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Some(rest) = name
                .strip_prefix(TEMP_PREFIX)
                .filter(|_| name.ends_with(TEMP_SUFFIX))
            else {
                continue;
            };
            // Files from before the pid was in the name have no pid: stale by definition.
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(process_alive) {
                continue;
            }
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                // Another cleaner got there first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(&entry.path(), e)),
            }
        }
    }
    Ok(removed)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file and a failed write leaves any old file intact.
///
/// There is no fsync: the rename is what makes a killed process leave either the old or the
/// new file, and an fsync per output would cost more than analysing a small image.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let err = |e: std::io::Error| FsError {
        path: path.to_path_buf(),
        kind: FsErrorKind::Write(e),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    // The writer's pid is in the name so that a later run can tell the leftovers of a killed
    // process (safe to delete) from the live temporaries of a concurrent one.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    // Temporary files are created owner-only; an output is an ordinary file for other
    // tools and users to read, as if written with the usual umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_never_escape_the_output_dir() {
        assert_eq!(
            output_prefix(Path::new("photos/a.png")),
            PathBuf::from("photos/a.png")
        );
        assert_eq!(
            output_prefix(Path::new("./photos")),
            PathBuf::from("photos")
        );
        assert_eq!(
            output_prefix(Path::new("../x/a.png")),
            PathBuf::from("a.png")
        );
        assert_eq!(
            output_prefix(Path::new("/data/photos")),
            PathBuf::from("photos")
        );
        assert_eq!(output_prefix(Path::new(".")), PathBuf::new());
    }

    #[test]
    fn output_path_keeps_the_extension() {
        assert_eq!(
            output_path(Path::new("OUT"), Path::new("photos/a.png"), ".jsonld"),
            PathBuf::from("OUT/photos/a.png.jsonld")
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn stale_temps_go_and_live_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        // pid 0 is never a user process, so it stands for a killed writer.
        let dead = sub.join(".mmprompt-0-abc.tmp");
        let legacy = dir.path().join(".mmprompt-xyz.tmp");
        let live = sub.join(format!(".mmprompt-{}-abc.tmp", std::process::id()));
        let other = sub.join("keep.tmp");
        for p in [&dead, &legacy, &live, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 2);
        assert!(!dead.exists() && !legacy.exists());
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn expand_walks_sorted_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.png", "a.png", ".hidden.png", "sub/c.png"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let (inputs, errors) = expand(&[dir.path().to_path_buf(), dir.path().join("nope")]);
        let rels: Vec<_> = inputs.iter().map(|i| i.rel.clone()).collect();
        let base = PathBuf::from(dir.path().file_name().unwrap());
        assert_eq!(
            rels,
            vec![
                base.join("a.png"),
                base.join("b.png"),
                base.join("sub/c.png")
            ]
        );
        assert_eq!(errors.len(), 1);
        assert!(matches!(errors[0].kind, FsErrorKind::NotFound));
    }
}
