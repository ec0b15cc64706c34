//! What a customer message wants, read by meaning rather than by keywords: the message is
//! compared with a bank of example messages per intent (`prompts/intents/`, in every language
//! the bot speaks) on the local embedder and on letter trigrams, and the intent whose closest
//! examples are closest wins. Keyword rules (`guards`) stay as high-precision shortcuts; this
//! is what holds on wording nobody wrote a rule for.
//!
//! The examples' vectors are computed once per bank version and model, and kept on disk when a
//! cache folder is given, so a restart (or a test suite's hundred apps) costs a file read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use rapport_core::ports::Embedder;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::{Error, Result, guards};

/// A message longer than this is not small talk, whatever its closest examples say.
const SMALL_TALK_WORDS: usize = 8;

/// What a message asks of us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum IntentKind {
    HumanRequest,
    AccountSecurity,
    BillingDispute,
    Cancellation,
    LegalPrivacy,
    Frustration,
    ProblemPersists,
    Sales,
    Greeting,
    Thanks,
    ChitChat,
    Question,
    Statement,
}

impl IntentKind {
    pub const ALL: [IntentKind; 13] = [
        IntentKind::HumanRequest,
        IntentKind::AccountSecurity,
        IntentKind::BillingDispute,
        IntentKind::Cancellation,
        IntentKind::LegalPrivacy,
        IntentKind::Frustration,
        IntentKind::ProblemPersists,
        IntentKind::Sales,
        IntentKind::Greeting,
        IntentKind::Thanks,
        IntentKind::ChitChat,
        IntentKind::Question,
        IntentKind::Statement,
    ];

    /// The id used in the bank's file names, the trace and evaluation files.
    pub fn id(self) -> &'static str {
        match self {
            IntentKind::HumanRequest => "human_request",
            IntentKind::AccountSecurity => "account_security",
            IntentKind::BillingDispute => "billing_dispute",
            IntentKind::Cancellation => "cancellation",
            IntentKind::LegalPrivacy => "legal_privacy",
            IntentKind::Frustration => "frustration",
            IntentKind::ProblemPersists => "problem_persists",
            IntentKind::Sales => "sales",
            IntentKind::Greeting => "greeting",
            IntentKind::Thanks => "thanks",
            IntentKind::ChitChat => "chit_chat",
            IntentKind::Question => "question",
            IntentKind::Statement => "statement",
        }
    }

    pub fn from_id(id: &str) -> Option<IntentKind> {
        IntentKind::ALL.into_iter().find(|k| k.id() == id.trim())
    }

    /// Whether a person must take over, whatever the knowledge says.
    pub fn hands_over(self) -> bool {
        self.handover_reason().is_some()
    }

    /// Hand-over intents whose words are also those of everyday how-to questions (passwords,
    /// refunds, cancelling, deleting data): a question of how to do it is not a request to
    /// have it done. Asking for a person, sales and anger have no such look-alikes.
    pub fn has_how_to_look_alikes(self) -> bool {
        matches!(
            self,
            IntentKind::AccountSecurity
                | IntentKind::BillingDispute
                | IntentKind::Cancellation
                | IntentKind::LegalPrivacy
        )
    }

    /// The escalation reason agents read, for the intents that hand over.
    pub fn handover_reason(self) -> Option<&'static str> {
        Some(match self {
            IntentKind::HumanRequest => "the customer asked for a human",
            IntentKind::AccountSecurity => {
                "urgent: the customer reports an account security problem"
            }
            IntentKind::BillingDispute => "billing dispute or refund request",
            IntentKind::Cancellation => "the customer wants to cancel",
            IntentKind::LegalPrivacy => "legal or privacy request",
            IntentKind::Frustration => "the customer is frustrated",
            IntentKind::Sales => "sales or contract request",
            _ => return None,
        })
    }
}

/// One example message of an intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exemplar {
    pub intent: IntentKind,
    /// ISO 639-1 code of the example's language.
    pub lang: String,
    pub text: String,
}

/// The example messages, per intent and language, from `prompts/intents/`.
#[derive(Debug, Clone)]
pub struct IntentBank {
    pub exemplars: Vec<Exemplar>,
    /// Changes whenever any example changes: the key of the cached vectors.
    pub fingerprint: String,
}

/// The bank's files, compiled in so Rapport runs from anywhere.
const BUILTIN: &[(&str, &str)] = &[
    (
        "human_request",
        include_str!("../../../prompts/intents/human_request.txt"),
    ),
    (
        "account_security",
        include_str!("../../../prompts/intents/account_security.txt"),
    ),
    (
        "billing_dispute",
        include_str!("../../../prompts/intents/billing_dispute.txt"),
    ),
    (
        "cancellation",
        include_str!("../../../prompts/intents/cancellation.txt"),
    ),
    (
        "legal_privacy",
        include_str!("../../../prompts/intents/legal_privacy.txt"),
    ),
    (
        "frustration",
        include_str!("../../../prompts/intents/frustration.txt"),
    ),
    (
        "problem_persists",
        include_str!("../../../prompts/intents/problem_persists.txt"),
    ),
    ("sales", include_str!("../../../prompts/intents/sales.txt")),
    (
        "greeting",
        include_str!("../../../prompts/intents/greeting.txt"),
    ),
    (
        "thanks",
        include_str!("../../../prompts/intents/thanks.txt"),
    ),
    (
        "chit_chat",
        include_str!("../../../prompts/intents/chit_chat.txt"),
    ),
    (
        "question",
        include_str!("../../../prompts/intents/question.txt"),
    ),
    (
        "statement",
        include_str!("../../../prompts/intents/statement.txt"),
    ),
];

static BUILTIN_BANK: LazyLock<Arc<IntentBank>> = LazyLock::new(|| {
    Arc::new(
        IntentBank::from_files(BUILTIN.iter().copied())
            .unwrap_or_else(|e| panic!("prompts/intents is invalid (a unit test checks it): {e}")),
    )
});

impl IntentBank {
    /// The bank compiled into the binary.
    pub fn builtin() -> Arc<IntentBank> {
        BUILTIN_BANK.clone()
    }

    /// Reads `(intent id, file text)` pairs: one `lang: message` a line, `#` comments.
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut exemplars = Vec::new();
        let mut hash = Sha256::new();
        for (name, text) in files {
            let intent = IntentKind::from_id(name)
                .ok_or_else(|| Error::Invalid(format!("intent bank: no intent named {name}")))?;
            hash.update(name.as_bytes());
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (lang, message) = line
                    .split_once(':')
                    .filter(|(l, m)| l.len() == 2 && !m.trim().is_empty())
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "intent bank {name}.txt line {}: expected \"<lang>: <message>\"",
                            n + 1
                        ))
                    })?;
                hash.update(line.as_bytes());
                exemplars.push(Exemplar {
                    intent,
                    lang: lang.to_owned(),
                    text: message.trim().to_owned(),
                });
            }
        }
        Ok(IntentBank {
            exemplars,
            fingerprint: hex::encode(&hash.finalize()[..8]),
        })
    }
}

/// How the classifier weighs its evidence; the defaults were chosen by leave-one-out on the
/// bank itself (`rapport eval intents --bank-only`), never on the held-out evaluation set.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClassifierTuning {
    /// Weight of the embedding's cosine against the letter-trigram cosine.
    pub dense_weight: f32,
    /// An intent's score is the mean similarity of its `k` closest examples.
    pub k: usize,
    /// Below this best score the message is read as a question (nothing is alike enough).
    pub floor: f32,
    /// A hand-over intent must beat the best non-hand-over intent by this much: asking to be
    /// handed over is not to be guessed.
    pub handover_margin: f32,
    /// A hand-over intent scoring below this is not trusted: the message is read as its best
    /// other intent. Long product questions share a few words with everything ("password",
    /// "verification code") and score low everywhere; real requests score high on theirs.
    pub handover_floor: f32,
    /// A how-to question ("how do I reset my password?") hands over only from this score.
    pub how_to_floor: f32,
}

impl Default for ClassifierTuning {
    fn default() -> Self {
        ClassifierTuning {
            dense_weight: 0.6,
            k: 3,
            floor: 0.25,
            handover_margin: 0.0,
            handover_floor: 0.4,
            how_to_floor: 0.6,
        }
    }
}

/// An example close to the message, for the trace and the playground.
#[derive(Debug, Clone, Serialize)]
pub struct Nearest {
    pub intent: IntentKind,
    pub lang: String,
    pub text: String,
    pub similarity: f32,
}

/// What the classifier read in a message.
#[derive(Debug, Clone, Serialize)]
pub struct IntentReading {
    pub intent: IntentKind,
    pub score: f32,
    /// The best other intent and its score: a small margin is an uncertain reading.
    pub runner_up: Option<(IntentKind, f32)>,
    /// `examples` (the bank) or `rule` (a keyword shortcut decided).
    pub by: &'static str,
    /// The closest examples, best first.
    pub nearest: Vec<Nearest>,
    /// The language of the closest examples, a hint where the text is too short to tell.
    pub nearest_lang: Option<String>,
}

impl IntentReading {
    /// A reading decided by a keyword rule.
    pub fn by_rule(intent: IntentKind) -> IntentReading {
        IntentReading {
            intent,
            score: 1.0,
            runner_up: None,
            by: "rule",
            nearest: Vec::new(),
            nearest_lang: None,
        }
    }
}

/// Letter trigrams of a text, lower-cased and without accents, with word boundaries: close
/// spellings in any language share most of them, which the English embedder cannot see.
pub(crate) fn trigrams(text: &str) -> HashMap<[char; 3], f32> {
    let mut grams = HashMap::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let chars: Vec<char> = std::iter::once(' ')
            .chain(word.chars().flat_map(char::to_lowercase).map(fold_accent))
            .chain(std::iter::once(' '))
            .collect();
        for w in chars.windows(3) {
            *grams.entry([w[0], w[1], w[2]]).or_insert(0.0) += 1.0;
        }
    }
    let norm = grams.values().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        grams.values_mut().for_each(|v| *v /= norm);
    }
    grams
}

fn fold_accent(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ç' => 'c',
        'ñ' => 'n',
        'ß' => 's',
        c => c,
    }
}

fn trigram_cosine(a: &HashMap<[char; 3], f32>, b: &HashMap<[char; 3], f32>) -> f32 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .iter()
        .filter_map(|(g, v)| large.get(g).map(|w| v * w))
        .sum()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The bank's examples as the classifier compares them, in the bank's order.
struct Encoded {
    examples: Vec<EncodedText>,
}

/// A text embedded and split into trigrams, ready to compare with any other. The embedder's
/// vectors are of unit length (retrieval relies on it too), so a dot product is the cosine.
pub struct EncodedText {
    dense: Vec<f32>,
    grams: HashMap<[char; 3], f32>,
}

impl EncodedText {
    fn new(dense: Vec<f32>, text: &str) -> EncodedText {
        EncodedText {
            dense,
            grams: trigrams(text),
        }
    }

    /// Similarity with another encoded text under `tuning`.
    pub fn similarity(&self, other: &EncodedText, tuning: &ClassifierTuning) -> f32 {
        tuning.dense_weight * dot(&self.dense, &other.dense)
            + (1.0 - tuning.dense_weight) * trigram_cosine(&self.grams, &other.grams)
    }
}

/// Reads intents with the bank's examples on an embedder.
#[derive(Clone)]
pub struct IntentClassifier {
    bank: Arc<IntentBank>,
    embedder: Arc<dyn Embedder>,
    tuning: ClassifierTuning,
    cache_dir: Option<PathBuf>,
    encoded: Arc<OnceCell<Arc<Encoded>>>,
    /// Texts encoded before (the admins' hand-off topic examples), by text.
    seen: Arc<Mutex<HashMap<String, Arc<EncodedText>>>>,
}

/// Vectors of the banks encoded in this process, by model and fingerprint: every app in a test
/// binary shares them.
static ENCODED: LazyLock<Mutex<HashMap<String, Arc<Encoded>>>> = LazyLock::new(Default::default);
static ENCODING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl IntentClassifier {
    pub fn new(bank: Arc<IntentBank>, embedder: Arc<dyn Embedder>) -> IntentClassifier {
        IntentClassifier {
            bank,
            embedder,
            tuning: ClassifierTuning::default(),
            cache_dir: None,
            encoded: Arc::default(),
            seen: Arc::default(),
        }
    }

    /// Keeps the examples' vectors in `dir` across restarts.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    pub fn with_tuning(mut self, tuning: ClassifierTuning) -> Self {
        self.tuning = tuning;
        self
    }

    pub fn tuning(&self) -> &ClassifierTuning {
        &self.tuning
    }

    pub fn bank(&self) -> &IntentBank {
        &self.bank
    }

    /// Encodes the bank now (it is otherwise encoded on the first message).
    pub async fn warm(&self) -> Result<()> {
        self.encoded().await.map(|_| ())
    }

    async fn encoded(&self) -> Result<Arc<Encoded>> {
        self.encoded
            .get_or_try_init(|| self.encode_bank())
            .await
            .cloned()
    }

    async fn encode_bank(&self) -> Result<Arc<Encoded>> {
        let key = format!(
            "{}-{}",
            self.embedder
                .model_name()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                })
                .collect::<String>(),
            self.bank.fingerprint
        );
        // One encoding at a time in a process: apps starting together wait for the first and
        // then find its vectors.
        let _one_at_a_time = ENCODING.lock().await;
        if let Some(e) = ENCODED.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(e);
        }
        let texts: Vec<String> = self.bank.exemplars.iter().map(|e| e.text.clone()).collect();
        let cache = self
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("intents-{key}.json")));
        let dense = match cache.as_deref().and_then(|p| read_cache(p, texts.len())) {
            Some(v) => v,
            None => {
                let vectors = self.embedder.embed(texts.clone()).await?;
                if let Some(path) = &cache {
                    write_cache(path, &vectors);
                }
                vectors
            }
        };
        let encoded = Arc::new(Encoded {
            examples: dense
                .into_iter()
                .zip(&texts)
                .map(|(v, t)| EncodedText::new(v, t))
                .collect(),
        });
        if let Ok(mut m) = ENCODED.lock() {
            m.insert(key, encoded.clone());
        }
        Ok(encoded)
    }

    /// Embeds `text` for comparison.
    pub async fn encode(&self, text: &str) -> Result<EncodedText> {
        // With its tokens, so that searching the knowledge for the same message reuses it
        // (the embedder remembers recent texts).
        let vector = self
            .embedder
            .embed_with_tokens(vec![text.to_owned()])
            .await?
            .pop()
            .map(|e| e.vector)
            .ok_or_else(|| rapport_core::Error::Embedder("no vector returned".into()))?;
        Ok(EncodedText::new(vector, text))
    }

    /// Encodes texts that come back often (hand-off topic examples), remembering their vectors.
    pub async fn encode_remembered(&self, texts: &[String]) -> Result<Vec<Arc<EncodedText>>> {
        let mut found: HashMap<String, Arc<EncodedText>> = {
            let seen = self.seen.lock().map_err(|_| poisoned())?;
            texts
                .iter()
                .filter_map(|t| seen.get(t).map(|e| (t.clone(), e.clone())))
                .collect()
        };
        let missing: Vec<String> = texts
            .iter()
            .filter(|t| !found.contains_key(t.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let vectors = self.embedder.embed(missing.clone()).await?;
            let mut seen = self.seen.lock().map_err(|_| poisoned())?;
            // The admins' examples are few; a bound keeps a runaway settings loop harmless.
            if seen.len() > 10_000 {
                seen.clear();
            }
            for (t, v) in missing.into_iter().zip(vectors) {
                let encoded = Arc::new(EncodedText::new(v, &t));
                seen.insert(t.clone(), encoded.clone());
                found.insert(t, encoded);
            }
        }
        // One per text, in order (the embedder returns one vector per text).
        Ok(texts.iter().filter_map(|t| found.get(t).cloned()).collect())
    }

    /// The intent of `text` as the agent reads it: the keyword rules where they are sure (an
    /// explicit request for a person, anger, a bare greeting or thanks), else the bank; a long
    /// message the bank reads as small talk is a question ("hi, how do I add an agent?").
    /// Returns the encoded message too, for the stages that compare it with more examples.
    pub async fn understand(&self, text: &str) -> Result<(IntentReading, EncodedText)> {
        let encoded = self.encode(text).await?;
        let by_rule = match guards::check(text, &[]) {
            Some(guards::Trigger::HumanRequested) => Some(IntentKind::HumanRequest),
            Some(guards::Trigger::Frustration) => Some(IntentKind::Frustration),
            _ => match guards::intent(text) {
                guards::Intent::Greeting => Some(IntentKind::Greeting),
                guards::Intent::Thanks => Some(IntentKind::Thanks),
                _ => None,
            },
        };
        if let Some(kind) = by_rule {
            return Ok((IntentReading::by_rule(kind), encoded));
        }
        let mut reading = self.classify_encoded(&encoded).await?;
        if matches!(reading.intent, IntentKind::Greeting | IntentKind::Thanks)
            && (text.split_whitespace().count() > SMALL_TALK_WORDS
                || (guards::is_how_to(text) && guards::intent(text) == guards::Intent::Question))
        {
            reading.intent = IntentKind::Question;
        }
        // "How do I reset my password?" asks for instructions; only a reading as sure as a
        // plain request ("how do I get my money back, you charged me twice") hands it over.
        if reading.intent.has_how_to_look_alikes()
            && reading.score < self.tuning.how_to_floor
            && guards::is_how_to(text)
        {
            reading.runner_up = Some((reading.intent, reading.score));
            reading.intent = IntentKind::Question;
        }
        Ok((reading, encoded))
    }

    /// The intent of an encoded message by the bank alone.
    pub async fn classify_encoded(&self, message: &EncodedText) -> Result<IntentReading> {
        let encoded = self.encoded().await?;
        Ok(self.read(&encoded, message, None))
    }

    /// Leave-one-out reading of the bank's own example `index` (tuning without a held-out set).
    pub async fn classify_left_out(&self, index: usize) -> Result<IntentReading> {
        let encoded = self.encoded().await?;
        Ok(self.read(&encoded, &encoded.examples[index], Some(index)))
    }

    fn read(&self, encoded: &Encoded, message: &EncodedText, skip: Option<usize>) -> IntentReading {
        let t = &self.tuning;
        let mut scored: Vec<(usize, f32)> = encoded
            .examples
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(i, example)| (i, message.similarity(example, t)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut per_intent: HashMap<IntentKind, Vec<f32>> = HashMap::new();
        for (i, s) in &scored {
            let list = per_intent
                .entry(self.bank.exemplars[*i].intent)
                .or_default();
            if list.len() < t.k.max(1) {
                list.push(*s);
            }
        }
        let mut ranking: Vec<(IntentKind, f32)> = per_intent
            .into_iter()
            .map(|(k, s)| (k, s.iter().sum::<f32>() / s.len() as f32))
            .collect();
        ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let (mut intent, mut score) = ranking
            .first()
            .copied()
            .unwrap_or((IntentKind::Question, 0.0));
        let best_other = ranking
            .iter()
            .find(|(k, _)| !k.hands_over())
            .copied()
            .unwrap_or((IntentKind::Question, 0.0));
        if score < t.floor {
            (intent, score) = (IntentKind::Question, score);
        } else if intent.hands_over()
            && (score < t.handover_floor || score - best_other.1 < t.handover_margin)
        {
            (intent, score) = best_other;
        }
        let runner_up = ranking.iter().find(|(k, _)| *k != intent).copied();
        let nearest: Vec<Nearest> = scored
            .iter()
            .take(5)
            .map(|(i, s)| {
                let e = &self.bank.exemplars[*i];
                Nearest {
                    intent: e.intent,
                    lang: e.lang.clone(),
                    text: e.text.clone(),
                    similarity: *s,
                }
            })
            .collect();
        IntentReading {
            intent,
            score,
            runner_up,
            by: "examples",
            nearest_lang: majority_lang(&nearest),
            nearest,
        }
    }
}

/// The language most of the closest examples share, if most do.
fn majority_lang(nearest: &[Nearest]) -> Option<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for n in nearest {
        *counts.entry(n.lang.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, c)| *c * 2 > nearest.len())
        .map(|(l, _)| l.to_owned())
        .next()
}

fn poisoned() -> Error {
    Error::Invalid("the intent classifier's cache is unusable after a panic".into())
}

fn read_cache(path: &Path, expected: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    let vectors: Vec<Vec<f32>> = serde_json::from_slice(&bytes).ok()?;
    (vectors.len() == expected).then_some(vectors)
}

/// Best effort: a read-only model folder only means the next start encodes again.
fn write_cache(path: &Path, vectors: &[Vec<f32>]) {
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(vectors).unwrap_or_default())?;
            std::fs::rename(&tmp, path)
        });
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "intent vectors not cached");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_bank_has_every_intent_in_every_language() {
        let bank = IntentBank::builtin();
        for intent in IntentKind::ALL {
            for lang in ["en", "es", "fr", "de", "pt", "it", "nl"] {
                let n = bank
                    .exemplars
                    .iter()
                    .filter(|e| e.intent == intent && e.lang == lang)
                    .count();
                assert!(n >= 8, "{} has {n} {lang} examples", intent.id());
            }
        }
    }

    #[test]
    fn a_malformed_line_is_reported_with_its_place() {
        let err = IntentBank::from_files([("greeting", "# c\nen: hi\nhello there\n")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("greeting.txt line 3"), "{err}");
    }

    #[test]
    fn trigrams_see_through_accents_and_case() {
        let a = trigrams("Reembolso, por favor");
        let b = trigrams("reembolso por favor");
        assert!((trigram_cosine(&a, &b) - 1.0).abs() < 1e-4);
        let c = trigrams("Quiero un reembolso");
        assert!(trigram_cosine(&a, &c) > 0.3);
    }
}
