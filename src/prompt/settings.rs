//! The prompt options as every front end spells them: `mmprompt prompt` and `send` derive
//! their flags from [`PromptSettings`] (feature `cli`), and the Python package and the MCP
//! server deserialize it from JSON, so the names, defaults and checks are one.

use crate::jobs::extract::ExtractOptions;
use crate::jobs::settings::SettingsError;
use crate::llm::config::{Config, Endpoint, Overrides};
use crate::llm::Provider;
use crate::prompt::attach::AttachLimits;
use crate::prompt::coords::Coords;
use crate::prompt::{
    check_template, default_answer_schema, AttachMode, FragmentFormat, PromptOptions,
    DEFAULT_SYSTEM, DEFAULT_TASK, DEFAULT_TEMPLATE,
};
use crate::send::SendOptions;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `provider`: the request format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum ProviderArg {
    Openai,
    OpenaiResponses,
    Ollama,
    Anthropic,
    Gemini,
}

impl From<ProviderArg> for Provider {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Openai => Provider::OpenAi,
            ProviderArg::OpenaiResponses => Provider::OpenAiResponses,
            ProviderArg::Ollama => Provider::Ollama,
            ProviderArg::Anthropic => Provider::Anthropic,
            ProviderArg::Gemini => Provider::Gemini,
        }
    }
}

/// `fragments`: how fragments are shown to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum FragmentsArg {
    /// Full JSON-LD documents.
    Jsonld,
    /// Compact text lines.
    #[default]
    Text,
}

/// `coords`: the frame image boxes are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum CoordsArg {
    /// The provider's box convention for attached images (Gemini: box2d), the attached
    /// image's pixels for the others; the original's pixels when nothing is attached.
    #[default]
    Auto,
    /// The original image's pixels.
    Original,
    /// The attached image's pixels.
    Attached,
    /// `box_2d=[ymin,xmin,ymax,xmax]` normalised to 0-1000.
    Box2d,
}

/// Options shared by `prompt` and `send`: the endpoint and how the prompt is built. Field
/// names are the flags in snake case.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct PromptSettings {
    /// Endpoint profile from mmprompt.toml (default: the file's `default`).
    #[cfg_attr(feature = "cli", arg(long, value_name = "NAME"))]
    pub profile: Option<String>,
    /// Config file (default: $MMPROMPT_CONFIG, ./mmprompt.toml, then
    /// $XDG_CONFIG_HOME/mmprompt/mmprompt.toml or ~/.config/mmprompt/mmprompt.toml).
    #[cfg_attr(feature = "cli", arg(long, value_name = "FILE"))]
    pub config: Option<PathBuf>,
    /// Request format; overrides the profile.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub provider: Option<ProviderArg>,
    /// The server's base URL, e.g. http://127.0.0.1:8080; overrides the profile.
    #[cfg_attr(feature = "cli", arg(long, value_name = "URL"))]
    pub endpoint: Option<String>,
    /// Model name; overrides the profile.
    #[cfg_attr(feature = "cli", arg(long, value_name = "NAME"))]
    pub model: Option<String>,
    /// Environment variable holding the API key (default by provider: OPENAI_API_KEY,
    /// ANTHROPIC_API_KEY, GEMINI_API_KEY; Ollama none). Keys are never printed or saved.
    #[cfg_attr(feature = "cli", arg(long, value_name = "VAR"))]
    pub api_key_env: Option<String>,

    /// How fragments are shown to the model.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = FragmentsArg::Text))]
    pub fragments: FragmentsArg,
    /// User message template, inline or @FILE; placeholders {{fragments}} (required),
    /// {{files}}, {{media}}, {{task}}.
    #[cfg_attr(feature = "cli", arg(long, value_name = "TEXT|@FILE"))]
    pub template: Option<String>,
    /// System instruction, inline or @FILE (default: explains the anchor notation).
    #[cfg_attr(feature = "cli", arg(long, value_name = "TEXT|@FILE"))]
    pub system: Option<String>,
    /// The question or task, filled into {{task}}.
    #[cfg_attr(feature = "cli", arg(long, value_name = "TEXT"))]
    pub task: Option<String>,
    /// Attach the media themselves: images as they are when the provider takes them
    /// (else downscaled to max_image_side and re-encoded), audio as 16 kHz WAV (OpenAI
    /// chat and Gemini only).
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = AttachMode::None))]
    pub attach: AttachMode,
    /// The frame image boxes are written in. Citations always resolve to the original's
    /// pixels.
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value_t = CoordsArg::Auto))]
    pub coords: CoordsArg,
    /// Longest side of attached images, in pixels (at least 16).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = AttachLimits::default().max_image_side, value_name = "PX"))]
    pub max_image_side: u32,
    /// Cap on the whole request body, in MB.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = AttachLimits::default().max_body_bytes as f64 / 1e6, value_name = "MB"))]
    pub max_body_mb: f64,
    /// Keep the most salient fragments that fit this many prompt tokens (tiktoken:
    /// cl100k_base for GPT-4/3.5, o200k_base for everything else).
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    pub max_prompt_tokens: Option<usize>,
    /// JSON Schema for the answer: `default` (an answer and claims citing fragment ids),
    /// `none`, or a file.
    #[cfg_attr(
        feature = "cli",
        arg(long, default_value = "default", value_name = "default|none|FILE")
    )]
    pub answer_schema: String,
    /// Sampling temperature (0 to 2).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = PromptOptions::default().temperature))]
    pub temperature: f64,
    /// Cap on generated tokens.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = PromptOptions::default().max_tokens, value_name = "N"))]
    pub max_tokens: u32,
}

impl Default for PromptSettings {
    fn default() -> Self {
        Self {
            profile: None,
            config: None,
            provider: None,
            endpoint: None,
            model: None,
            api_key_env: None,
            fragments: FragmentsArg::Text,
            template: None,
            system: None,
            task: None,
            attach: AttachMode::None,
            coords: CoordsArg::Auto,
            max_image_side: AttachLimits::default().max_image_side,
            max_body_mb: AttachLimits::default().max_body_bytes as f64 / 1e6,
            max_prompt_tokens: None,
            answer_schema: "default".into(),
            temperature: PromptOptions::default().temperature,
            max_tokens: PromptOptions::default().max_tokens,
        }
    }
}

/// Why prompt settings could not become options.
#[derive(Debug, thiserror::Error)]
pub enum PromptSettingsError {
    /// A bad value or combination: a usage error.
    #[error(transparent)]
    Usage(#[from] SettingsError),
    /// A file the settings name (a template, a system text, an answer schema) could not be
    /// read or parsed.
    #[error("{path}: {detail}")]
    File {
        /// The file as given.
        path: String,
        /// Why.
        detail: String,
    },
}

impl PromptSettings {
    /// Settings from a JSON object of options; `null` is the defaults.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the first unknown option or bad value.
    pub fn from_json(value: &Value) -> Result<Self, SettingsError> {
        crate::jobs::settings::from_json_named(value)
    }

    /// The files these settings would read, besides the inputs: the config file, an
    /// `@FILE` template or system text, and an answer schema file.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self.config.iter().cloned().collect();
        for text in [&self.template, &self.system].into_iter().flatten() {
            if let Some(path) = text.strip_prefix('@') {
                files.push(PathBuf::from(path));
            }
        }
        if !matches!(self.answer_schema.as_str(), "default" | "none") {
            files.push(PathBuf::from(&self.answer_schema));
        }
        files
    }

    /// The endpoint and prompt options these settings describe; media inputs are
    /// extracted with `extract`, and `send` writes under `out_dir`.
    ///
    /// # Errors
    /// [`PromptSettingsError::Usage`] for a bad profile, endpoint, template or value;
    /// [`PromptSettingsError::File`] when a named file cannot be read or is not JSON.
    pub fn send_options(
        &self,
        extract: ExtractOptions,
        out_dir: &Path,
        stream: bool,
    ) -> Result<SendOptions, PromptSettingsError> {
        let usage = |m: String| PromptSettingsError::Usage(SettingsError(m));
        let config = Config::load(self.config.as_deref()).map_err(|e| usage(e.to_string()))?;
        let profile = config
            .profile(self.profile.as_deref())
            .map_err(|e| usage(e.to_string()))?;
        let endpoint = Endpoint::resolve(
            &profile,
            &Overrides {
                provider: self.provider.map(Into::into),
                endpoint: self.endpoint.clone(),
                model: self.model.clone(),
                api_key_env: self.api_key_env.clone(),
            },
        )
        .map_err(|e| usage(e.to_string()))?;
        let template = self
            .template
            .as_deref()
            .map(text_or_file)
            .transpose()?
            .unwrap_or_else(|| DEFAULT_TEMPLATE.to_string());
        check_template(&template).map_err(|e| usage(e.to_string()))?;
        let answer_schema = match self.answer_schema.as_str() {
            "default" => Some(default_answer_schema()),
            "none" => None,
            file => {
                let text =
                    std::fs::read_to_string(file).map_err(|e| PromptSettingsError::File {
                        path: file.into(),
                        detail: format!("cannot read: {e}"),
                    })?;
                let v: Value =
                    serde_json::from_str(&text).map_err(|e| PromptSettingsError::File {
                        path: file.into(),
                        detail: format!("not JSON: {e}"),
                    })?;
                if let Err(e) = jsonschema::validator_for(&v) {
                    return Err(usage(format!("{file}: not a valid JSON Schema: {e}")));
                }
                Some(v)
            }
        };
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.max_body_mb)
            || !(0.0..=2.0).contains(&self.temperature)
            || self.max_image_side < 16
        {
            return Err(usage(
                "--max-body-mb must be > 0, --temperature within 0..2, --max-image-side at least 16"
                    .into(),
            ));
        }
        Ok(SendOptions {
            endpoint,
            prompt: PromptOptions {
                system: self
                    .system
                    .as_deref()
                    .map(text_or_file)
                    .transpose()?
                    .unwrap_or_else(|| DEFAULT_SYSTEM.into()),
                template,
                task: self.task.clone().unwrap_or_else(|| DEFAULT_TASK.into()),
                format: match self.fragments {
                    FragmentsArg::Jsonld => FragmentFormat::Jsonld,
                    FragmentsArg::Text => FragmentFormat::Text,
                },
                max_prompt_tokens: self.max_prompt_tokens,
                attach: self.attach,
                coords: match self.coords {
                    CoordsArg::Auto => Coords::Auto,
                    CoordsArg::Original => Coords::Original,
                    CoordsArg::Attached => Coords::Attached,
                    CoordsArg::Box2d => Coords::Normalized1000,
                },
                limits: AttachLimits {
                    max_image_side: self.max_image_side,
                    max_body_bytes: (self.max_body_mb * 1_000_000.0) as usize,
                    ..AttachLimits::default()
                },
                answer_schema,
                temperature: self.temperature,
                max_tokens: self.max_tokens,
                stream,
            },
            extract,
            out_dir: out_dir.to_path_buf(),
            force: false,
        })
    }
}

/// The text itself, or with a leading `@` the named file's text.
fn text_or_file(v: &str) -> Result<String, PromptSettingsError> {
    match v.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| PromptSettingsError::File {
            path: path.into(),
            detail: format!("cannot read: {e}"),
        }),
        None => Ok(v.to_string()),
    }
}
