//! The types that assembling a prompt and attaching its media share: an input and its
//! document, which media are attached, and why a prompt could not be made. A leaf module,
//! so [`super::attach`] uses them without importing the assembler.

use crate::doc::Document;
use crate::jobs::extract::ExtractError;
use crate::media::MediaKind;
use std::path::PathBuf;

/// Why a prompt could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// Extraction of a media input failed.
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// An input could not be read.
    #[error("{path}: {detail}")]
    Read {
        /// The input.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A `.jsonld` input is not an mmprompt document.
    #[error("{path}: not an mmprompt document: {detail}")]
    NotADocument {
        /// The input.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// A template, schema or option is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The budget cannot hold even the prompt without fragments.
    #[error(
        "the prompt needs {needed} tokens before any fragment, over --max-prompt-tokens {budget}"
    )]
    OverBudget {
        /// Tokens needed with no fragment.
        needed: usize,
        /// The budget.
        budget: usize,
    },
    /// A medium could not be attached.
    #[error("cannot attach {name}: {reason}")]
    Attach {
        /// The medium.
        name: String,
        /// Why.
        reason: String,
    },
}

impl PromptError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PromptError::Extract(e) => e.code(),
            PromptError::Read { .. } => "read",
            PromptError::NotADocument { .. } => "not_a_document",
            PromptError::Invalid(_) => "invalid",
            PromptError::OverBudget { .. } => "over_budget",
            PromptError::Attach { .. } => "attach",
        }
    }
}

/// One input of a prompt and its document.
#[derive(Debug, Clone)]
pub struct Input {
    /// The path as given.
    pub path: PathBuf,
    /// Image or audio.
    pub kind: MediaKind,
    /// The document, read with its types.
    pub document: Document,
    /// Where the medium itself is, when it can be found (for attaching).
    pub media_path: Option<PathBuf>,
    /// Whether the document was read from a `.jsonld` file (not extracted now).
    pub from_jsonld: bool,
}

/// Which media are attached (`--attach`, and the `attach` option of the Python package and
/// the MCP server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum AttachMode {
    /// Fragments only.
    #[default]
    None,
    /// Image inputs.
    Image,
    /// Audio inputs.
    Audio,
    /// Every input the provider takes.
    All,
    /// Every input, images with each shown region's outline and id drawn on them
    /// (Set-of-Mark).
    Marked,
}
