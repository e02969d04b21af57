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

    #[test]
    fn model_names_with_vendor_prefixes_case_and_azure_spellings() {
        for (m, e) in [
            ("openai/gpt-4", TokenEncoding::Cl100kBase),
            ("GPT-4-0613", TokenEncoding::Cl100kBase),
            ("gpt-35-turbo", TokenEncoding::Cl100kBase),
            ("text-embedding-3-small", TokenEncoding::Cl100kBase),
            ("text-embedding-ada-002", TokenEncoding::Cl100kBase),
            ("azure/GPT-4o", TokenEncoding::O200kBase),
            ("gpt-4.5-preview", TokenEncoding::O200kBase),
            ("meta-llama/Llama-3.1-8B", TokenEncoding::O200kBase),
            ("", TokenEncoding::O200kBase),
        ] {
            assert_eq!(TokenEncoding::for_model(m), e, "{m:?}");
        }
        assert_eq!(TokenEncoding::O200kBase.as_str(), "o200k_base");
        assert_eq!(TokenEncoding::Cl100kBase.as_str(), "cl100k_base");
    }

    #[test]
    fn special_token_spellings_count_as_text_and_vocabularies_differ() {
        // OpenAI's cookbook: "tiktoken is great!" is 6 tokens in cl100k_base.
        assert_eq!(
            Counter::new(TokenEncoding::Cl100kBase).count("tiktoken is great!"),
            6
        );
        for e in [TokenEncoding::O200kBase, TokenEncoding::Cl100kBase] {
            let c = Counter::new(e);
            // One token if it were read as the special token; several as plain text.
            assert!(c.count("<|endoftext|>") > 1, "{e:?}");
            // Counting is additive over a space-separated join only roughly, but never
            // less than for either half.
            let a = "region r1 at 10,20,30,40";
            assert!(c.count(&format!("{a}\n{a}")) >= c.count(a));
        }
    }

    mod truncation {
        use super::super::Counter;
        use crate::llm::Provider;
        use crate::media::MediaKind;
        use crate::prompt::{assemble, FragmentFormat, Input, PromptError, PromptOptions};
        use serde_json::Value;

        /// The golden document of samples/coins.png: many regions of differing salience, listed
        /// most salient first, or (`reversed`) least salient first, so that document order
        /// and salience order differ.
        fn coins(reversed: bool) -> Input {
            let mut doc: Value =
                serde_json::from_str(include_str!("../../tests/golden/coins.png.jsonld")).unwrap();
            if reversed {
                doc["items"].as_array_mut().unwrap().reverse();
            }
            Input {
                path: "coins.png.jsonld".into(),
                kind: MediaKind::Image,
                document: crate::doc::Document::from_value(&doc).expect("the golden page reads"),
                media_path: None,
                from_jsonld: true,
            }
        }

        fn opts(format: FragmentFormat, budget: Option<usize>) -> PromptOptions {
            PromptOptions {
                format,
                max_prompt_tokens: budget,
                ..PromptOptions::default()
            }
        }

        #[test]
        fn budgets_keep_the_most_salient_fragments_that_fit() {
            let model = "gpt-4o";
            let counter = Counter::new(super::TokenEncoding::O200kBase);
            for (format, reversed) in [
                (FragmentFormat::Text, false),
                (FragmentFormat::Text, true),
                (FragmentFormat::Jsonld, true),
            ] {
                let inputs = [coins(reversed)];
                let run = |b| assemble(&inputs, &opts(format, b), Provider::OpenAi, model);
                let full = run(None).unwrap();
                let n = full.kept.len();
                let golden: Value =
                    serde_json::from_str(include_str!("../../tests/golden/coins.png.jsonld"))
                        .unwrap();
                assert_eq!(n, golden["items"].as_array().unwrap().len(), "{format:?}");
                assert!(n > 10, "{format:?}: too few regions to test a budget");
                assert!(full.dropped.is_empty());
                // The reported count is the count of what is sent.
                assert_eq!(
                    full.tokens,
                    counter.count(&full.prompt.system) + counter.count(&full.prompt.user)
                );
                // The smallest budget that holds the prompt without fragments.
                let needed = match run(Some(1)) {
                    Err(PromptError::OverBudget { needed, budget: 1 }) => needed,
                    other => panic!("{format:?}: expected over budget, got {other:?}"),
                };
                assert!(matches!(
                    run(Some(needed - 1)),
                    Err(PromptError::OverBudget { .. })
                ));
                let bare = run(Some(needed)).unwrap();
                assert!(bare.kept.is_empty(), "{format:?}");
                assert_eq!(bare.dropped.len(), n);
                assert_eq!(bare.tokens, needed);
                // Room to spare keeps everything. (Exactly the full size may not: the
                // first pass sums per-fragment estimates, which run a little over the count
                // of the joined text, and the exact pass only ever removes fragments.)
                let roomy = run(Some(2 * full.tokens)).unwrap();
                assert!(roomy.dropped.is_empty(), "{format:?}");
                assert_eq!(roomy.prompt.user, full.prompt.user);
                assert_eq!(roomy.tokens, full.tokens);
                for budget in [needed + (full.tokens - needed) / 3, full.tokens - 1] {
                    let cut = run(Some(budget)).unwrap();
                    assert!(cut.tokens <= budget, "{format:?} {budget}");
                    assert_eq!(
                        cut.tokens,
                        counter.count(&cut.prompt.system) + counter.count(&cut.prompt.user)
                    );
                    assert!(!cut.kept.is_empty() && !cut.dropped.is_empty(), "{budget}");
                    assert_eq!(cut.kept.len() + cut.dropped.len(), n);
                    let salience =
                        |id: &str| full.kept.iter().find(|f| f.id == id).unwrap().salience;
                    let min_kept = cut.kept.iter().map(|f| f.salience).fold(f64::MAX, f64::min);
                    let dropped: Vec<f64> = cut.dropped.iter().map(|d| salience(d)).collect();
                    assert!(dropped.iter().all(|&s| s <= min_kept), "{budget}");
                    // Dropped ids are listed most salient first, least salient last.
                    assert!(dropped.windows(2).all(|w| w[0] >= w[1]), "{dropped:?}");
                    // Kept fragments are shown in document order, each one in the text.
                    assert!(cut.kept.windows(2).all(|w| w[0].order < w[1].order));
                    let mark = |id: &str| match format {
                        FragmentFormat::Text => format!("id={id},"),
                        FragmentFormat::Jsonld => format!("\"regionId\":\"{id}\""),
                    };
                    for f in &cut.kept {
                        assert!(cut.prompt.user.contains(&mark(&f.id)), "{}", f.id);
                    }
                    for d in &cut.dropped {
                        assert!(!cut.prompt.user.contains(&mark(d)), "{d}");
                    }
                }
            }
        }
    }
}
