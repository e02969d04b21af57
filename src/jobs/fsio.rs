//! Filesystem side of the CLI: walking inputs (with the `ignore` crate's walker, for its
//! symlink loop detection and hidden-file filter), mapping inputs to output paths and atomic writes.

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::WalkBuilder;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

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
            FsErrorKind::Loop(_) => "symlink_loop",
            FsErrorKind::Write(_) => "write",
            FsErrorKind::NotFile => "not_file",
            FsErrorKind::Url => "url",
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
    /// Following a symbolic link leads back to a directory above it.
    #[error("symbolic link loop: leads back to {}", .0.display())]
    Loop(PathBuf),
    /// Writing an output failed.
    #[error("cannot write output: {0}")]
    Write(std::io::Error),
    /// A named path that is not a regular file or a directory: a FIFO, socket or device
    /// could block or never end.
    #[error("not a regular file (a FIFO, socket or device is never read)")]
    NotFile,
    /// A URL where a file was expected.
    #[error("URLs are not supported: download it first")]
    Url,
}

/// One input found on the command line or below a directory argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Path to open.
    pub path: PathBuf,
    /// Path of the output relative to the output directory, before the output extension.
    pub rel: PathBuf,
    /// How the input is named in documents, the manifest and messages when not by its
    /// path: `-` for standard input, which is read into a temporary file first.
    pub name: Option<String>,
}

impl Input {
    /// The input's name: [`Input::name`], or its path.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.path.to_string_lossy().into_owned())
    }
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

/// How directory arguments are walked (`--hidden`, `--follow-symlinks`, `--include`,
/// `--exclude`).
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Also take hidden entries (names starting with `.`) found below a directory argument.
    pub hidden: bool,
    /// Follow symbolic links found while walking, with loop detection.
    pub follow_symlinks: bool,
    /// Globs; when any is given, only walked files matching one of them are taken.
    pub include: Vec<String>,
    /// Globs; walked files and directories matching one of them are left out entirely.
    pub exclude: Vec<String>,
    /// A directory never entered, wherever it turns up: the output directory, so that the
    /// outputs and overlay PNGs of one run are not the inputs of the next.
    pub skip_dir: Option<PathBuf>,
}

/// An `--include` or `--exclude` pattern that is not a valid glob.
#[derive(Debug, thiserror::Error)]
#[error("bad glob '{pattern}': {source}")]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// Why it does not parse.
    #[source]
    pub source: globset::Error,
}

/// [`WalkOptions`] with the globs compiled, ready for [`expand`].
#[derive(Debug, Clone)]
pub struct Walk {
    hidden: bool,
    follow_symlinks: bool,
    include: Option<Arc<GlobSet>>,
    exclude: Arc<GlobSet>,
    /// Canonical form of [`WalkOptions::skip_dir`], when it exists.
    skip_dir: Option<Arc<PathBuf>>,
}

impl Default for Walk {
    fn default() -> Self {
        Self {
            hidden: false,
            follow_symlinks: false,
            include: None,
            exclude: Arc::new(GlobSet::empty()),
            skip_dir: None,
        }
    }
}

fn glob_set(patterns: &[String]) -> Result<GlobSet, PatternError> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        // A leading `./` is how people often write a path relative to the argument; the
        // relative paths matched never have it.
        let bare = pattern.strip_prefix("./").unwrap_or(pattern);
        let glob = Glob::new(bare).map_err(|source| PatternError {
            pattern: pattern.clone(),
            source,
        })?;
        set.add(glob);
    }
    set.build().map_err(|source| PatternError {
        pattern: patterns.join(" "),
        source,
    })
}

impl Walk {
    /// Compiles the globs of `options`.
    ///
    /// # Errors
    /// A [`PatternError`] naming the `--include` or `--exclude` glob that does not parse.
    pub fn new(options: &WalkOptions) -> Result<Self, PatternError> {
        let include = if options.include.is_empty() {
            None
        } else {
            Some(Arc::new(glob_set(&options.include)?))
        };
        Ok(Self {
            hidden: options.hidden,
            follow_symlinks: options.follow_symlinks,
            include,
            exclude: Arc::new(glob_set(&options.exclude)?),
            // A directory that does not exist yet cannot be inside the tree being walked.
            skip_dir: options
                .skip_dir
                .as_ref()
                .and_then(|d| std::fs::canonicalize(d).ok())
                .map(Arc::new),
        })
    }
}

/// Why a walked entry is recorded as skipped rather than taken as an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A symbolic link, and `--follow-symlinks` was not given.
    Symlink,
    /// Not a regular file: a FIFO, socket or device, which could block or never end.
    NotFile,
}

impl SkipReason {
    /// A stable machine-readable name, as the batch manifest records it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Symlink => "symlink",
            Self::NotFile => "not_file",
        }
    }

    /// Why, for people.
    pub fn message(self) -> &'static str {
        match self {
            Self::Symlink => "symbolic link not followed (use --follow-symlinks)",
            Self::NotFile => "not a regular file",
        }
    }
}

/// A walked entry that is not an input, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry.
    pub input: Input,
    /// Why it is not an input.
    pub reason: SkipReason,
}

/// What [`expand`] found.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Files to consider, in argument order and, below a directory, sorted by name.
    pub inputs: Vec<Input>,
    /// Walked entries set aside (links not followed, special files).
    pub skipped: Vec<Skipped>,
    /// Arguments or entries that could not be read, and symlink loops.
    pub errors: Vec<FsError>,
}

/// Expands command-line paths. Directories are walked recursively in sorted order as `walk`
/// says (by default: hidden entries left out, symbolic links not followed but recorded as
/// skipped, no `.gitignore` rules since a media folder is not a repository); a file argument
/// is taken as it is, whatever its name. Errors are returned beside the inputs so that one
/// bad argument or entry does not stop the others.
pub fn expand(args: &[PathBuf], walk: &Walk) -> Expanded {
    let mut found = Expanded::default();
    for arg in args {
        let prefix = output_prefix(arg);
        let text = arg.to_string_lossy();
        let scheme = text.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if matches!(
            scheme.as_deref(),
            Some("http" | "https" | "ftp" | "s3" | "gs" | "file")
        ) && std::fs::symlink_metadata(arg).is_err()
        {
            found.errors.push(FsError {
                path: arg.clone(),
                kind: FsErrorKind::Url,
            });
            continue;
        }
        match std::fs::metadata(arg) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => found.errors.push(FsError {
                path: arg.clone(),
                kind: FsErrorKind::NotFound,
            }),
            Err(e) => found.errors.push(FsError {
                path: arg.clone(),
                kind: FsErrorKind::ReadDir(e),
            }),
            Ok(m) if m.is_dir() => walk_dir(arg, &prefix, walk, &mut found),
            // Checked on the metadata, before anything opens it: opening a FIFO blocks
            // until a writer comes, and a device can be read forever.
            Ok(m) if !m.is_file() => found.errors.push(FsError {
                path: arg.clone(),
                kind: FsErrorKind::NotFile,
            }),
            Ok(_) => found.inputs.push(Input {
                path: arg.clone(),
                rel: prefix,
                name: None,
            }),
        }
    }
    distinct_outputs(&mut found.inputs);
    found
}

/// Gives inputs that would share an output a name each: two files called `x.png` from
/// different folders (given by absolute path, or by `--files-from`) would otherwise write
/// one output, the second over the first. Each such input's output path becomes the
/// shortest ending of its full path that tells it from the others (`a/x.png`, `b/x.png`),
/// or, where none does, its name with a short hash of its full path. Deterministic, so a
/// rerun maps every input to the output it had.
fn distinct_outputs(inputs: &mut [Input]) {
    use std::collections::{HashMap, HashSet};
    let mut by_rel: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        by_rel.entry(input.rel.clone()).or_default().push(i);
    }
    let mut taken: HashSet<PathBuf> = inputs.iter().map(|i| i.rel.clone()).collect();
    let mut clashes: Vec<Vec<usize>> = by_rel
        .into_values()
        .filter(|ix| {
            // The same file named twice is one input's business, not a clash.
            let paths: HashSet<&Path> = ix.iter().map(|&i| inputs[i].path.as_path()).collect();
            paths.len() > 1
        })
        .collect();
    clashes.sort();
    let full = |p: &Path| -> Vec<std::ffi::OsString> {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        abs.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                _ => None,
            })
            .collect()
    };
    for group in clashes {
        let parts: Vec<Vec<std::ffi::OsString>> =
            group.iter().map(|&i| full(&inputs[i].path)).collect();
        let longest = parts.iter().map(Vec::len).max().unwrap_or(1);
        let ending = |k: usize, p: &[std::ffi::OsString]| -> PathBuf {
            p[p.len().saturating_sub(k)..].iter().collect()
        };
        let chosen = (2..=longest).find_map(|k| {
            let names: Vec<PathBuf> = parts.iter().map(|p| ending(k, p)).collect();
            let distinct: HashSet<&PathBuf> = names.iter().collect();
            let free = names.iter().all(|n| !taken.contains(n));
            (distinct.len() == names.len() && free).then_some(names)
        });
        for (j, &i) in group.iter().enumerate() {
            let name = match &chosen {
                Some(names) => names[j].clone(),
                None => {
                    // The full path's hash, longer each time the name is already taken.
                    let digest = crate::media::image::sha256_hex(
                        inputs[i].path.as_os_str().as_encoded_bytes(),
                    );
                    (8..=digest.len())
                        .map(|n| {
                            let mut name = inputs[i].rel.as_os_str().to_owned();
                            name.push(format!("~{}", &digest[..n]));
                            PathBuf::from(name)
                        })
                        .find(|n| !taken.contains(n))
                        .unwrap_or_default()
                }
            };
            // Later groups must not pick a name this one took.
            taken.insert(name.clone());
            inputs[i].rel = name;
        }
    }
}

/// The path an `ignore` error is about, and the error as ours.
fn walk_error(root: &Path, err: ignore::Error) -> FsError {
    let mut path = root.to_path_buf();
    let mut err = err;
    loop {
        err = match err {
            ignore::Error::WithPath { path: p, err } => {
                path = p;
                *err
            }
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                *err
            }
            ignore::Error::Loop { ancestor, child } => {
                return FsError {
                    path: child,
                    kind: FsErrorKind::Loop(ancestor),
                }
            }
            ignore::Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return FsError {
                    path,
                    kind: FsErrorKind::NotFound,
                }
            }
            ignore::Error::Io(e) => {
                return FsError {
                    path,
                    kind: FsErrorKind::ReadDir(e),
                }
            }
            // Glob and ignore-file errors cannot come from a walk without ignore files;
            // kept as an I/O error so nothing is lost if that changes.
            other => {
                return FsError {
                    path,
                    kind: FsErrorKind::ReadDir(std::io::Error::other(other.to_string())),
                }
            }
        };
    }
}

fn walk_dir(dir: &Path, prefix: &Path, walk: &Walk, found: &mut Expanded) {
    let mut builder = WalkBuilder::new(dir);
    // No .gitignore/.ignore rules and no parent-directory lookups: a media folder is not a
    // repository, and a file hidden by a stray ignore file would be dropped without a word.
    builder
        .standard_filters(false)
        .hidden(!walk.hidden)
        .follow_links(walk.follow_symlinks)
        .sort_by_file_name(|a, b| a.cmp(b));
    let exclude = Arc::clone(&walk.exclude);
    let root = dir.to_path_buf();
    // Pruning here keeps an excluded directory from being read at all.
    let skip_dir = walk.skip_dir.clone();
    builder.filter_entry(move |e| {
        if e.depth() == 0 {
            return true;
        }
        let excluded = e
            .path()
            .strip_prefix(&root)
            .is_ok_and(|rel| exclude.is_match(rel));
        // One realpath per directory (not per file) to recognise the output directory
        // however it is reached.
        let is_skip_dir = || {
            skip_dir.as_ref().is_some_and(|skip| {
                e.file_type().is_some_and(|t| t.is_dir())
                    && std::fs::canonicalize(e.path()).is_ok_and(|p| p == **skip)
            })
        };
        !excluded && !is_skip_dir()
    });
    for entry in builder.build() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                found.errors.push(walk_error(dir, e));
                continue;
            }
        };
        if entry.depth() == 0 {
            continue;
        }
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if ft.is_dir() {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        if let Some(include) = &walk.include {
            if !include.is_match(rel) {
                continue;
            }
        }
        let input = Input {
            path: entry.path().to_path_buf(),
            rel: prefix.join(rel),
            name: None,
        };
        // Without following, file_type() is the link's own type.
        let reason = if ft.is_symlink() {
            Some(SkipReason::Symlink)
        } else if !ft.is_file() {
            Some(SkipReason::NotFile)
        } else {
            None
        };
        match reason {
            Some(reason) => found.skipped.push(Skipped { input, reason }),
            None => found.inputs.push(input),
        }
    }
}

/// Refuses to write `path` (below `out_dir`) when a folder between them is a symbolic link
/// (or not a folder): a link inside the output folder would send outputs anywhere. Folders
/// that do not exist yet are fine; they are created as real folders.
///
/// # Errors
/// [`FsErrorKind::Write`] naming the link.
pub fn check_inside(out_dir: &Path, path: &Path) -> Result<(), FsError> {
    let Ok(rel) = path.strip_prefix(out_dir) else {
        return Ok(());
    };
    let mut at = out_dir.to_path_buf();
    let parents: Vec<_> = rel.components().collect();
    for c in parents.iter().take(parents.len().saturating_sub(1)) {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                return Err(FsError {
                    path: path.to_path_buf(),
                    kind: FsErrorKind::Write(std::io::Error::other(format!(
                        "{} is a symbolic link or a file, not a folder; outputs never leave --out",
                        at.display()
                    ))),
                })
            }
            Ok(_) => {}
            // Missing from here down: created as real folders.
            Err(_) => break,
        }
    }
    Ok(())
}

/// [`write_atomic_with`] for an output below `out_dir`, after [`check_inside`]: every
/// writer of outputs (batches, `send`'s fragments) goes through here, so none follows a
/// link out.
///
/// # Errors
/// The errors of [`check_inside`] and [`write_atomic_with`].
pub fn write_inside(
    out_dir: &Path,
    path: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<(), FsError> {
    check_inside(out_dir, path)?;
    write_atomic_with(path, bytes, durability)
}

/// When a write counts as done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Once the kernel has it: a crash of the program loses nothing, a power cut may lose
    /// the last writes (an atomic rename leaves the old file or the new, never a torn one).
    #[default]
    Cache,
    /// Once it is on the disk: the file's data is synced before the rename and its folder
    /// after it, so a power cut loses nothing that was reported written.
    Fsync,
}

/// `OUT/<rel><suffix>`, e.g. `OUT/photos/a.png.jsonld`.
pub fn output_path(out_dir: &Path, rel: &Path, suffix: &str) -> PathBuf {
    let mut name = rel.as_os_str().to_owned();
    name.push(suffix);
    out_dir.join(name)
}

/// Name prefix of the temporary files [`write_atomic`] creates, followed by
/// `<pid>@<host>-`.
pub const TEMP_PREFIX: &str = ".mmprompt-";

/// How old another machine's temporary file must be before a cleaner removes it. Its
/// writer's liveness cannot be checked from here, and no single output takes this long.
pub const FOREIGN_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// This machine's name as it appears in temporary file names: shards on several machines
/// can share one output folder (a network file system), and only the machine that wrote a
/// temporary can tell whether its writer still runs.
pub fn temp_host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_default();
        // `-` separates the fields of the name, so it is mapped away.
        let clean: String = raw
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if clean.is_empty() {
            "localhost".into()
        } else {
            clean
        }
    })
}
/// Name suffix of the temporary files [`write_atomic`] creates.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Whether the process `pid` still runs. Only Linux's /proc can tell without unsafe code;
/// elsewhere every writer counts as gone, which is right for a single batch per output dir.
fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the temporary files that the process `pid` of this machine left directly in
/// `dir`: a batch calls it for the output folders of an input whose worker died, so a
/// killed worker leaves nothing behind. Returns how many were removed.
pub fn remove_temps_of(dir: &Path, pid: u32) -> usize {
    let prefix = format!("{TEMP_PREFIX}{pid}@{}-", temp_host());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX)
        })
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// Removes, below `dir`, the temporary files [`write_atomic`] left behind when its process
/// was killed between creating and renaming them (a SIGKILL runs no destructors). Temporaries
/// of processes still running on this machine are left alone, and so are other machines'
/// unless older than [`FOREIGN_TEMP_AGE`]. Returns how many were removed.
///
/// # Errors
/// An [`FsError`] when `dir` cannot be walked or a stale file cannot be removed.
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
            // `<pid>@<host>`; files from before the host (or the pid) was in the name are
            // this machine's.
            let owner = rest.split('-').next().unwrap_or("");
            let (pid, host) = owner.split_once('@').unwrap_or((owner, temp_host()));
            if host != temp_host() {
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok());
                if age.is_none_or(|a| a < FOREIGN_TEMP_AGE) {
                    continue;
                }
            } else if pid.parse::<u32>().is_ok_and(process_alive) {
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
///
/// # Errors
/// An [`FsError`] naming `path` when its folder cannot be created, or the temporary file
/// cannot be written, synced or renamed over it; `path` is then left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    write_atomic_with(path, bytes, Durability::Cache)
}

/// [`write_atomic`], synced to the disk when `durability` says so.
///
/// # Errors
/// As [`write_atomic`], and a failed sync.
pub fn write_atomic_with(path: &Path, bytes: &[u8], durability: Durability) -> Result<(), FsError> {
    let err = |e: std::io::Error| FsError {
        path: path.to_path_buf(),
        kind: FsErrorKind::Write(e),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The writer's pid is in the name so that a later run can tell the leftovers of a killed
    // process (safe to delete) from the live temporaries of a concurrent one.
    let prefix = format!("{TEMP_PREFIX}{}@{}-", std::process::id(), temp_host());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(TEMP_SUFFIX);
    // Temporary files are owner-only by default; an output is an ordinary file for other
    // tools and users to read, so it is created 0666 less the umask, as `File::create` would.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // The directory usually exists already (a batch writes many files into few folders), so
    // it is only created when making the temporary file finds it missing: two system calls
    // fewer per output.
    let mut tmp = match builder.tempfile_in(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(err)?;
            builder.tempfile_in(dir).map_err(err)?
        }
        other => other.map_err(err)?,
    };
    tmp.write_all(bytes).map_err(err)?;
    if durability == Durability::Fsync {
        tmp.as_file().sync_all().map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    if durability == Durability::Fsync {
        // The rename is only durable once the folder's entry is.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_workers_temporaries_are_removed_and_no_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = temp_host();
        let mine = dir
            .path()
            .join(format!("{TEMP_PREFIX}4242@{host}-abc{TEMP_SUFFIX}"));
        let other = dir
            .path()
            .join(format!("{TEMP_PREFIX}4243@{host}-abc{TEMP_SUFFIX}"));
        let output = dir.path().join("a.png.jsonld");
        for f in [&mine, &other, &output] {
            std::fs::write(f, b"x").expect("write");
        }
        assert_eq!(remove_temps_of(dir.path(), 4242), 1);
        assert!(!mine.exists() && other.exists() && output.exists());
        assert_eq!(remove_temps_of(&dir.path().join("missing"), 4242), 0);
    }

    #[test]
    fn atomic_write_creates_missing_folders_and_ordinary_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a/b/out.json");
        write_atomic(&nested, b"one").expect("write into missing folders");
        assert_eq!(std::fs::read(&nested).expect("read"), b"one");
        write_atomic(&nested, b"two").expect("replace");
        assert_eq!(std::fs::read(&nested).expect("read"), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a/b"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "temporaries left: {leftovers:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Whatever the umask, an output gets the mode File::create would give it.
            let plain = dir.path().join("plain");
            std::fs::File::create(&plain).expect("create");
            let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode(&nested), mode(&plain));
        }
    }

    #[test]
    fn stale_temps_are_told_apart_by_machine_and_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = temp_host();
        let me = std::process::id();
        // pid 0 is never a user process; u32::MAX - 1 exceeds pid_max.
        let dead = u32::MAX - 1;
        let names = [
            (format!(".mmprompt-{me}@{host}-a.tmp"), true),
            (format!(".mmprompt-{dead}@{host}-b.tmp"), false),
            (format!(".mmprompt-{dead}-c.tmp"), false),
            (format!(".mmprompt-{dead}@other.node-d.tmp"), true),
            ("keep.tmp".to_string(), true),
        ];
        for (n, _) in &names {
            std::fs::write(dir.path().join(n), b"x").expect("write");
        }
        assert_eq!(remove_stale_temps(dir.path()).expect("scan"), 2);
        for (n, kept) in &names {
            assert_eq!(dir.path().join(n).exists(), *kept, "{n}");
        }
        // An old foreign temporary is stale: its machine had a day to rename it.
        let old =
            std::time::SystemTime::now() - FOREIGN_TEMP_AGE - std::time::Duration::from_secs(60);
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join(&names[3].0))
            .expect("open");
        f.set_modified(old).expect("set mtime");
        assert_eq!(remove_stale_temps(dir.path()).expect("scan"), 1);
        assert!(!dir.path().join(&names[3].0).exists());
    }

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
        for f in ["b.png", "a.png", ".hidden.png", ".dot/d.png", "sub/c.png"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let args = [dir.path().to_path_buf(), dir.path().join("nope")];
        let found = expand(&args, &Walk::default());
        let rels: Vec<_> = found.inputs.iter().map(|i| i.rel.clone()).collect();
        let base = PathBuf::from(dir.path().file_name().unwrap());
        assert_eq!(
            rels,
            vec![
                base.join("a.png"),
                base.join("b.png"),
                base.join("sub/c.png")
            ]
        );
        assert_eq!(found.errors.len(), 1);
        assert!(matches!(found.errors[0].kind, FsErrorKind::NotFound));

        let hidden = Walk::new(&WalkOptions {
            hidden: true,
            ..WalkOptions::default()
        })
        .unwrap();
        let found = expand(&args[..1], &hidden);
        let rels: Vec<_> = found.inputs.iter().map(|i| i.rel.clone()).collect();
        assert_eq!(
            rels,
            vec![
                base.join(".dot/d.png"),
                base.join(".hidden.png"),
                base.join("a.png"),
                base.join("b.png"),
                base.join("sub/c.png")
            ]
        );
    }

    #[test]
    fn include_and_exclude_match_paths_relative_to_the_argument() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.png", "b.wav", "raw/c.png", "raw/d.wav", "keep/e.png"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let walk = Walk::new(&WalkOptions {
            include: vec!["*.png".into()],
            exclude: vec!["./raw".into()],
            ..WalkOptions::default()
        })
        .unwrap();
        let found = expand(&[dir.path().to_path_buf()], &walk);
        let paths: Vec<_> = found
            .inputs
            .iter()
            .map(|i| i.path.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            paths,
            vec![PathBuf::from("a.png"), PathBuf::from("keep/e.png")]
        );
        let bad = Walk::new(&WalkOptions {
            include: vec!["a[".into()],
            ..WalkOptions::default()
        });
        assert!(bad.is_err_and(|e| e.to_string().contains("a[")));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_skipped_unless_followed_and_loops_are_one_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.png"), b"x").unwrap();
        std::os::unix::fs::symlink("a.png", d.join("sub/link.png")).unwrap();
        std::os::unix::fs::symlink("..", d.join("sub/loop")).unwrap();
        let found = expand(&[d.join("sub")], &Walk::default());
        assert_eq!(found.inputs.len(), 1);
        assert_eq!(found.skipped.len(), 2);
        assert!(found
            .skipped
            .iter()
            .all(|s| s.reason == SkipReason::Symlink));
        assert!(found.errors.is_empty());

        let follow = Walk::new(&WalkOptions {
            follow_symlinks: true,
            ..WalkOptions::default()
        })
        .unwrap();
        let found = expand(&[d.join("sub")], &follow);
        // sub/loop -> d, which holds sub again: the walk sees d/sub/* once more below
        // sub/loop/sub, whose `loop` entry then leads back to an ancestor.
        assert!(found.skipped.is_empty());
        assert_eq!(found.errors.len(), 1, "{:?}", found.errors);
        assert_eq!(found.errors[0].code(), "symlink_loop");
        assert!(found.errors[0].to_string().contains("loop"));
    }
}
