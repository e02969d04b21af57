//! What every command shares: the exit codes, the usage-error line, the `--context` flag,
//! positive-seconds flags, and telling a closed stdout from a failure.

use clap::ValueEnum;

/// Exit code when every input succeeded.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code for a usage error: bad flags or a combination that cannot work.
pub(crate) const EXIT_USAGE: u8 = 1;
/// Exit code when at least one input failed.
pub(crate) const EXIT_FAILED: u8 = 2;

/// `--context`: how documents refer to their JSON-LD context.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ContextArg {
    /// `"@context": "<stable IRI>"`.
    Ref,
    /// The context object embedded in each document.
    Inline,
}

/// Parses a flag in seconds: more than 0 and at most a day, so a typo cannot mean "never".
pub(crate) fn parse_timeout(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        return Err(format!("'{s}' must be more than 0 and at most 86400"));
    }
    Ok(v)
}

/// Whether `e` is a closed stdout: a reader that stopped early (`| head`) is no failure.
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes the one usage-error line and gives the usage exit code.
pub(crate) fn usage_error(msg: &str) -> anyhow::Result<u8> {
    eprintln!("mmprompt: usage error: {msg}");
    Ok(EXIT_USAGE)
}
