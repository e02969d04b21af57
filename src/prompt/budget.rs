//! What a token budget keeps ([`units`], [`priority`]), and token counting with OpenAI's
//! BPE vocabularies (`tiktoken-rs`, tables built into the binary, so counting works
//! offline).
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

/// Longest event that is grouped with its repeats, in seconds.
pub const GROUP_MAX_EVENT_S: f64 = 1.0;
/// Longest gap between the starts of grouped events, in seconds.
pub const GROUP_MAX_INTERVAL_S: f64 = 2.0;
/// Fewest repeats that make a group.
pub const GROUP_MIN_COUNT: usize = 3;

/// What a budget keeps or leaves out as one: a fragment, or a group of repeated short
/// events of one label shown as one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// Indices of its fragments, in document order.
    pub members: Vec<usize>,
    /// How much of the media it explains: the sum of its members' weights.
    pub weight: f64,
}

/// The fragments as units: runs of at least [`GROUP_MIN_COUNT`] `event:` segments of one
/// label in one input, each at most [`GROUP_MAX_EVENT_S`] long and starting at most
/// [`GROUP_MAX_INTERVAL_S`] after the one before, become one unit; every other fragment is
/// a unit of its own. Units are in document order of their first member.
pub fn units(fragments: &[super::Fragment]) -> Vec<Unit> {
    let short_event = |f: &super::Fragment| {
        f.label.starts_with("event:")
            && f.span
                .is_some_and(|(a, b)| b - a <= GROUP_MAX_EVENT_S + 1e-9)
    };
    let mut grouped = vec![false; fragments.len()];
    let mut out: Vec<Unit> = Vec::new();
    for (i, f) in fragments.iter().enumerate() {
        if grouped[i] {
            continue;
        }
        let mut members = vec![i];
        if short_event(f) {
            let mut last = f.span.map_or(0.0, |s| s.0);
            for (j, g) in fragments.iter().enumerate().skip(i + 1) {
                if g.input != f.input {
                    break;
                }
                let Some((start, _)) = g.span else { continue };
                if start - last > GROUP_MAX_INTERVAL_S + 1e-9 {
                    break;
                }
                if g.label == f.label && short_event(g) {
                    members.push(j);
                    last = start;
                }
            }
        }
        if members.len() < GROUP_MIN_COUNT {
            members.truncate(1);
        }
        for &m in &members {
            grouped[m] = true;
        }
        let weight = members.iter().map(|&m| fragments[m].salience).sum();
        out.push(Unit { members, weight });
    }
    out
}

/// The order a budget keeps units in: first the weightiest unit of each label of each
/// input (weightiest first), so every kind of thing present is shown before any kind gets
/// a second; then the rest, weightiest first. Ties keep document order.
pub fn priority(units: &[Unit], fragments: &[super::Fragment]) -> Vec<usize> {
    let mut by_weight: Vec<usize> = (0..units.len()).collect();
    by_weight.sort_by(|&a, &b| units[b].weight.total_cmp(&units[a].weight).then(a.cmp(&b)));
    let mut seen: Vec<(usize, &str)> = Vec::new();
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for u in by_weight {
        let f = &fragments[units[u].members[0]];
        let key = (f.input, f.label.as_str());
        if seen.contains(&key) {
            rest.push(u);
        } else {
            seen.push(key);
            first.push(u);
        }
    }
    first.extend(rest);
    first
}

/// The text line of a group of repeated events:
/// `audio_events:[ids=s2;s4;s6,label=event:impact,count=3,t=1.00-2.10,every=0.50,confidence=0.88]`
/// (`every` is the mean interval between starts; `confidence` the members' mean).
pub fn group_line(members: &[&super::Fragment]) -> String {
    let ids: Vec<&str> = members.iter().map(|f| f.id.as_str()).collect();
    let starts: Vec<f64> = members.iter().filter_map(|f| f.span.map(|s| s.0)).collect();
    let first = starts.first().copied().unwrap_or(0.0);
    let end = members
        .iter()
        .filter_map(|f| f.span.map(|s| s.1))
        .fold(first, f64::max);
    let every = if starts.len() > 1 {
        (starts[starts.len() - 1] - first) / (starts.len() - 1) as f64
    } else {
        0.0
    };
    let confidence = members
        .iter()
        .filter_map(|f| f.annotation["body"]["confidence"].as_f64())
        .sum::<f64>()
        / members.len().max(1) as f64;
    format!(
        "audio_events:[ids={},label={},count={},t={first:.2}-{end:.2},every={every:.2},confidence={confidence:.2}]",
        ids.join(";"),
        members.first().map_or("", |f| f.label.as_str()),
        members.len(),
    )
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
        fn budgets_keep_one_of_each_label_then_the_weightiest_and_say_what_they_left_out() {
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
                assert!(
                    !full.prompt.user.contains("shown=") && !full.prompt.user.contains("left out")
                );
                // The reported count is the count of what is sent.
                assert_eq!(
                    full.tokens,
                    counter.count(&full.prompt.system) + counter.count(&full.prompt.user)
                );
                // A budget of exactly the full size keeps everything.
                let exact = run(Some(full.tokens)).unwrap();
                assert!(exact.dropped.is_empty(), "{format:?}");
                assert_eq!(exact.prompt.user, full.prompt.user);
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
                assert!(bare.prompt.user.contains(&format!(
                    "({n} of {n} regions left out for the token budget: "
                )));
                let labels: Vec<&str> = {
                    let mut l: Vec<&str> = full.kept.iter().map(|f| f.label.as_str()).collect();
                    l.sort_unstable();
                    l.dedup();
                    l
                };
                let weight = |id: &str| full.kept.iter().find(|f| f.id == id).unwrap().salience;
                for budget in [needed + (full.tokens - needed) / 3, full.tokens - 1] {
                    let cut = run(Some(budget)).unwrap();
                    assert!(cut.tokens <= budget, "{format:?} {budget}");
                    assert_eq!(
                        cut.tokens,
                        counter.count(&cut.prompt.system) + counter.count(&cut.prompt.user)
                    );
                    let k = cut.kept.len();
                    assert!(k > 0 && !cut.dropped.is_empty(), "{budget}");
                    assert_eq!(k + cut.dropped.len(), n);
                    // One of each label, its weightiest, before any label gets a second.
                    let kept_labels = labels
                        .iter()
                        .filter(|l| cut.kept.iter().any(|f| f.label == **l))
                        .count();
                    assert_eq!(kept_labels, labels.len().min(k), "{budget}");
                    for l in &labels {
                        let best = full
                            .kept
                            .iter()
                            .filter(|f| f.label == *l)
                            .map(|f| f.salience)
                            .fold(f64::MIN, f64::max);
                        if let Some(f) = cut.kept.iter().find(|f| f.label == *l) {
                            let _ = f;
                            assert!(cut.kept.iter().any(|f| f.label == *l && f.salience == best));
                        }
                    }
                    // Past one of each label, nothing dropped outweighs anything kept.
                    let seconds: Vec<f64> = cut
                        .kept
                        .iter()
                        .filter(|f| {
                            let best = cut
                                .kept
                                .iter()
                                .filter(|g| g.label == f.label)
                                .map(|g| g.salience)
                                .fold(f64::MIN, f64::max);
                            f.salience < best
                        })
                        .map(|f| f.salience)
                        .collect();
                    let min_second = seconds.iter().copied().fold(f64::MAX, f64::min);
                    assert!(
                        cut.dropped.iter().all(|d| weight(d) <= min_second),
                        "{budget}"
                    );
                    // The header says how many are shown of how many, and a line says what
                    // was left out, by label.
                    if format == FragmentFormat::Text {
                        assert!(
                            cut.prompt.user.contains(&format!("regions={n},shown={k}]")),
                            "{}",
                            cut.prompt.user
                        );
                    }
                    let note = format!("({} of {n} regions left out for the token budget: ", n - k);
                    assert!(cut.prompt.user.contains(&note), "{}", cut.prompt.user);
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
