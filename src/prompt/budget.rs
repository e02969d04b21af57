//! Token counting with OpenAI's BPE vocabularies (`tiktoken-rs`, tables built into the
//! binary, so counting works offline).
//!
//! The vocabulary follows the model family: `cl100k_base` for GPT-4 (not 4o/4.1), GPT-3.5
//! and the text-embedding-3 models; `o200k_base` for everything else — GPT-4o, GPT-4.1,
//! GPT-5, the o-series, and every non-OpenAI model. For Claude, Gemini, Llama and the like
//! no public tokenizer of theirs is bundled, so o200k stands in: its counts land within
//! about ±15% of theirs on English and JSON, which is why budgets should keep a margin.

use tiktoken_rs::CoreBPE;

/// A BPE vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEncoding {
    /// GPT-4o and later.
    O200kBase,
    /// GPT-4 and GPT-3.5.
    Cl100kBase,
}

impl TokenEncoding {
    /// The vocabulary for a model name (see the module docs for the rule).
    pub fn for_model(model: &str) -> Self {
        let m = model.to_ascii_lowercase();
        let m = m.rsplit('/').next().unwrap_or(&m);
        let gpt4 = m.starts_with("gpt-4") && !m.starts_with("gpt-4o") && !m.starts_with("gpt-4.");
        let cl100k = gpt4
            || m.starts_with("gpt-3.5")
            || m.starts_with("gpt-35")
            || m.starts_with("text-embedding-3")
            || m.starts_with("text-embedding-ada");
        if cl100k {
            TokenEncoding::Cl100kBase
        } else {
            TokenEncoding::O200kBase
        }
    }

    /// The vocabulary's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEncoding::O200kBase => "o200k_base",
            TokenEncoding::Cl100kBase => "cl100k_base",
        }
    }
}

/// Counts tokens with one vocabulary, loaded once per process.
pub struct Counter {
    bpe: &'static CoreBPE,
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counter")
    }
}

impl Counter {
    /// A counter for `encoding`.
    pub fn new(encoding: TokenEncoding) -> Self {
        let bpe = match encoding {
            TokenEncoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            TokenEncoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        };
        Self { bpe }
    }

    /// Tokens in `text`, special-token spellings counted as plain text.
    pub fn count(&self, text: &str) -> usize {
        self.bpe.encode_ordinary(text).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_families() {
        for (m, e) in [
            ("gpt-4o-mini", TokenEncoding::O200kBase),
            ("gpt-4.1", TokenEncoding::O200kBase),
            ("gpt-5", TokenEncoding::O200kBase),
            ("o3-mini", TokenEncoding::O200kBase),
            ("gpt-4-turbo", TokenEncoding::Cl100kBase),
            ("gpt-3.5-turbo", TokenEncoding::Cl100kBase),
            ("claude-sonnet-4-5", TokenEncoding::O200kBase),
            ("smollm2-135m", TokenEncoding::O200kBase),
        ] {
            assert_eq!(TokenEncoding::for_model(m), e, "{m}");
        }
    }

    #[test]
    fn counts_match_known_tokenizations() {
        // Known from OpenAI's tokenizer: "hello world" is 2 tokens in both vocabularies;
        // the empty string is none.
        for e in [TokenEncoding::O200kBase, TokenEncoding::Cl100kBase] {
            let c = Counter::new(e);
            assert_eq!(c.count("hello world"), 2);
            assert_eq!(c.count(""), 0);
        }
    }
}
