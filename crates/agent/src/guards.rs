//! Rules that hand a conversation to a human whatever the model says: the customer asked for a
//! person, is upset, or raised a topic the business wants people to handle.

use std::sync::LazyLock;

use regex::Regex;

static HUMAN_REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(",
        r"(talk|speak|chat|connect me|put me through|transfer me)\s+(to|with)\s+(a |an |some |the )?(real |actual |live )?(human|person|agent|someone|somebody|representative|rep|operator|manager|staff|people)",
        r"|^\s*(a |an )?(human|person|real person|agent|live agent|live person|operator|customer service( rep(resentative)?)?)(\s+(please|pls|now))?\s*[.!?]*\s*$",
        r"|\bi want (a|an) (human|person|agent)",
        r"|hablar con (una persona|un agente|alguien|un humano|un asesor)",
        r"|parler (à|a|avec) (un humain|une personne|un conseiller|quelqu'un|un agent)",
        r"|mit (einem|einer) (menschen|mitarbeiter|mitarbeiterin|person)",
        r"|falar com (um atendente|uma pessoa|um humano|alguém)",
        r"|parlare con (un operatore|una persona|un umano)",
        r"|(spreken|praten) met (iemand|een (echte? )?(medewerker|mens|persoon))",
        r"|\b(someone|anyone|somebody|anybody) (from|on|in|at) (your|the) (team|staff|support|company)",
        r"|\b(call|ring|phone) me( back)?\b",
        r"|(ll[aá]ma(me|rme)|me (pueden|puede|podéis) llamar)|rappelez-moi|appelez-moi|rufen sie mich( bitte)? an",
        r"|(me liguem|me ligue|ligar-me)|(chiamatemi|mi (potete|può) chiamare)|bel me( terug)?\b",
        r")"
    ))
    .expect("valid regex")
});

static ANGER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(",
        r"ridiculous|useless|unacceptable|outrageous|pathetic|terrible service|worst|scam|rip-?off|furious|angry|",
        r"fed up|sick of|frustrat\w*|disgusted|incompetent|waste of (my )?time|this is a joke|",
        r"not helpful|doesn'?t help|you'?re not helping|stupid bot|wtf|damn|fuck\w*|shit|",
        r"inaceptable|indignante|hart[oa]|vergüenza|p[ée]simo|una estafa|in[uú]til|",
        r"inadmissible|scandaleux|lamentable|honteux|ras le bol|j'en ai marre|arnaque|",
        r"unverschämt|frechheit|lächerlich|katastrophal|eine zumutung|",
        r"absurdo|rid[ií]culo|vergonha|palha[çc]ada|",
        r"vergogna|pessimo|ridicolo|inaccettabile|che schifo|",
        r"belachelijk|waardeloo?s|schandalig|ik ben het zat|",
        r"(de nuevo|otra vez|encore|schon wieder|wieder|de novo|di nuovo|weer)\s+(no|pas|nicht|não|nao|non|niet)\b",
        r")\b"
    ))
    .expect("valid regex")
});

/// Why a message must go to a human before the bot answers, if it must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    HumanRequested,
    Frustration,
    Topic(String),
    /// What the message asks for is for people (a refund, an account taken over…).
    Intent(crate::intents::IntentKind),
    /// The customer says what the bot suggested did not solve it.
    ProblemPersists,
}

impl Trigger {
    pub fn reason(&self) -> String {
        match self {
            Trigger::HumanRequested => "the customer asked for a human".into(),
            Trigger::Frustration => "the customer is frustrated".into(),
            Trigger::Topic(t) => format!("topic handled by people: {t}"),
            Trigger::Intent(kind) => kind
                .handover_reason()
                .unwrap_or("the customer's request is for people")
                .into(),
            Trigger::ProblemPersists => "the suggested answer did not solve the problem".into(),
        }
    }
}

/// A topic the business wants people to handle, the words that raise it, and example messages
/// about it (matched by meaning, like the intents: "I was charged twice" raises "refunds"
/// without the word "refund").
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct HandoffTopic {
    pub name: String,
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

impl HandoffTopic {
    fn matches(&self, lower: &str) -> bool {
        self.keywords.iter().any(|k| {
            let k = k.trim().to_lowercase();
            !k.is_empty()
                && lower.match_indices(&k).any(|(at, _)| {
                    let before = lower[..at].chars().next_back();
                    let after = lower[at + k.len()..].chars().next();
                    !before.is_some_and(char::is_alphanumeric)
                        && !after.is_some_and(char::is_alphanumeric)
                })
        })
    }
}

/// Share of letters in capitals above which a long message reads as shouting.
const SHOUTING: f32 = 0.7;

pub fn check(text: &str, topics: &[HandoffTopic]) -> Option<Trigger> {
    if HUMAN_REQUEST.is_match(text) {
        return Some(Trigger::HumanRequested);
    }
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let capitals = letters.iter().filter(|c| c.is_uppercase()).count();
    let shouting = letters.len() >= 12 && capitals as f32 / letters.len() as f32 > SHOUTING;
    let exclaiming = text.matches('!').count() >= 3;
    if ANGER.is_match(text) || (shouting && exclaiming) {
        return Some(Trigger::Frustration);
    }
    let lower = text.to_lowercase();
    topics
        .iter()
        .find(|t| t.matches(&lower))
        .map(|t| Trigger::Topic(t.name.clone()))
}

/// What a message asks for, as far as the handover rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Greeting,
    /// Thanks, "ok", goodbye: nothing to answer.
    Thanks,
    /// Tells something without asking or reporting a problem ("our store number is …").
    Statement,
    /// A question, a request or a problem report: something to answer or hand over.
    Question,
}

static GREETING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(hi|hello|hey|hiya|good (morning|afternoon|evening)|hola|buenos d[ií]as|bonjour|salut|hallo|guten tag|ciao|ol[aá]|bom dia|hoi)( there| team| all)?[\s!.,]*$")
        .expect("valid regex")
});

static THANKS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*((thanks|thank you|thx|ty|cheers|great|perfect|awesome|cool|ok(ay)?|got it|all good|bye|goodbye|gracias|merci|danke|grazie|obrigad[oa]|bedankt)( (so|very) much| a lot| again| for (the|your) help)?[\s!.,]*)+$")
        .expect("valid regex")
});

static ASKS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(\?|^\s*((hi|hello|hey|ok|okay|so|and|but|also|then|well|sorry)[\s,!.]+)*(how|what|why|when|where|which|who|whom|whose|can|could|do|does|did|is|are|was|were|should|would|will|may|might|please|pls|help|tell|show|explain|any)\b",
        r"|\b(how|what|where|why|when|which)\s+(do|does|did|can|could|should|is|are|to)\b",
        r"|\b(i need|i want|i'd like|i would like|need help|how to|is there|are there|not working|doesn'?t work|does not work|can'?t|cannot|won'?t|unable|error|broken|issue|problem|fail\w*|stuck|wrong|missing|refund|cancel)\b",
        r"|^\s*(c[oó]mo|qu[eé]|por qu[eé]|d[oó]nde|cu[aá]ndo|comment|pourquoi|o[uù]|quand|wie|warum|wo|wann|come|perch[eé]|dove|quando|porque|onde)\b)"
    ))
    .expect("valid regex")
});

/// A request for instructions or a question of what is possible: "how do I…", "can we…", "wie
/// setze ich…", "hoe reset ik…", anywhere in the message ("changed my password and now
/// messages stopped, how do I reconnect"). The knowledge answers it, even when it names a
/// refund, a subscription or a password. ("Can you…" asks us to act, and is not one.)
static HOW_TO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(^|[\s,.;:!?¿])",
        r"(how (do|can|should|would|to)\b|what('?s| is) the (\w+ )?way to|(best|fastest|easiest|quickest) way to|where (do|can) (i|we) ",
        r"|\b(can|could|may) (i|we)\b|is (it|there) (possible|a way)|do you (support|accept|offer|have|allow)\b",
        r"|\bwhat (should|do|can|must) (i|we) do\b|\bwhat now\b",
        r"|\b(se puede|es posible)\b|puis-je|peut-on|est-ce possible",
        r"|\b(kann ich|k[öo]nnen wir|ist es m[öo]glich|gibt es)\b|\b(é possível|dá para)\b",
        r"|\b(si pu[òo]|è possibile)\b|\b(kan ik|kunnen we|is het mogelijk)\b",
        r"|c[oó]mo (puedo|podemos|se|hago|configuro|cambio|activo|elimino|borro|creo|restablezco)\b",
        r"|comment (puis-je|peut-on|faire|configurer|supprimer|cr[ée]er|activer|changer|r[ée]initialiser)\b",
        r"|wie (kann|k[öo]nnen|stelle|setze|l[öo]sche|richte|aktiviere|[äa]ndere|erstelle|mache)\b",
        r"|como (posso|podemos|fa[çc]o|configuro|altero|ativo|apago|crio|redefino)\b",
        r"|come (posso|possiamo|si|faccio|imposto|configuro|elimino|cambio|creo)\b",
        r"|hoe (kan|kunnen|stel|zet|reset|verwijder|maak|wijzig|activeer|koppel)\b)"
    ))
    .expect("valid regex")
});

/// Words of a problem that outlasted a fix: "did all that… still white", "same error",
/// "keeps saying the login failed", "toujours pas", "immer noch nicht".
static PERSISTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(still (not|doesn'?t|does not|isn'?t|is not|won'?t|can'?t|no|nothing|the same|white|blank|empty|fail\w*|broken|getting|showing|says|shows|stuck|missing)",
        r"|did (all )?(that|this|it|everything)|(tried|done) (that|this|it|everything|all)",
        r"|same (error|problem|issue|thing|result|message)|keeps? (saying|failing|showing|giving|returning|crashing)",
        r"|nothing (new )?(has )?(shown|changed|happened|arrived|appear\w*)",
        r"|todav[ií]a no|sigue (sin|igual|fallando|dando)|toujours (pas|le m[eê]me|la m[eê]me)",
        r"|immer noch (nicht|kein|der gleiche|dasselbe)|ainda n[aã]o|continua (sem|a dar|igual|a n[aã]o)",
        r"|ancora non|continua a non|sempre lo stesso|nog steeds (niet|geen|hetzelfde)|werkt nog (steeds )?niet)"
    ))
    .expect("valid regex")
});

/// Whether the message reports that a problem remains after what was tried (see `PERSISTS`).
pub fn reports_persisting_problem(text: &str) -> bool {
    PERSISTS.is_match(text)
}

/// Knowledge that says people must do it: "contact our support team to…", "our team will issue the
/// refund", "open a ticket". Quoting it to the customer answers nothing; a person must act.
static STAFF_MUST_ACT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b((please )?(contact|e-?mail|reach out to|write to|call|message) (our|the) (support|customer (service|support|success)|help ?desk|billing|sales|account) ?(team|desk|department)?",
        r"|our (support |billing |customer service )?team (will|can|must|needs to|has to) (issue|process|refund|reset|change|update|delete|cancel|verify|unlock|enable|activate|restore)",
        r"|(please )?(open|raise|file|submit) a (support )?(ticket|request) with us",
        r"|only (our|the) (support|billing) team can)\b"
    ))
    .expect("valid regex")
});

/// Whether a knowledge passage says our staff must do it (see `STAFF_MUST_ACT`).
pub fn staff_must_act(passage: &str) -> bool {
    STAFF_MUST_ACT.is_match(passage)
}

/// Whether the message asks how to do something (see `HOW_TO`).
pub fn is_how_to(text: &str) -> bool {
    HOW_TO.is_match(text)
}

pub fn intent(text: &str) -> Intent {
    if GREETING.is_match(text) {
        Intent::Greeting
    } else if THANKS.is_match(text) {
        Intent::Thanks
    } else if ASKS.is_match(text) {
        Intent::Question
    } else {
        Intent::Statement
    }
}

/// Legal matters go to people unless the configuration says otherwise.
pub fn default_topics() -> Vec<HandoffTopic> {
    vec![HandoffTopic {
        name: "legal".into(),
        keywords: vec![
            "lawyer".into(),
            "attorney".into(),
            "lawsuit".into(),
            "legal action".into(),
            "sue you".into(),
            "small claims".into(),
            "abogado".into(),
            "avocat".into(),
            "anwalt".into(),
            "vor gericht".into(),
            "advogado".into(),
            "avvocato".into(),
            "advocaat".into(),
            "rechtszaak".into(),
        ],
        examples: Vec::new(),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_for_a_person_in_several_languages() {
        for text in [
            "Can I talk to a human please?",
            "I want to speak with a real person",
            "human",
            "Quiero hablar con una persona",
            "Je veux parler à un conseiller",
        ] {
            assert_eq!(check(text, &[]), Some(Trigger::HumanRequested), "{text}");
        }
    }

    #[test]
    fn ordinary_questions_trigger_nothing() {
        for text in [
            "How do I reset my thermostat?",
            "Is a human-readable export available?",
            "Our bot should answer first, then pass the customer to a real person.",
            "What's the refund policy?",
        ] {
            assert_eq!(check(text, &default_topics()), None, "{text}");
        }
    }

    #[test]
    fn intents() {
        assert_eq!(intent("Hi there!"), Intent::Greeting);
        assert_eq!(intent("thanks a lot, bye"), Intent::Thanks);
        assert_eq!(intent("ok"), Intent::Thanks);
        assert_eq!(
            intent("Our store number is +31 6 12345678."),
            Intent::Statement
        );
        assert_eq!(intent("my widget is broken"), Intent::Question);
        assert_eq!(intent("where do I paste it"), Intent::Question);
        assert_eq!(intent("Hi, how do I reset my password"), Intent::Question);
        assert_eq!(
            intent("Our store number is +31 6 12345678, the one we'll connect."),
            Intent::Statement
        );
    }

    #[test]
    fn how_to_questions_in_our_languages() {
        for text in [
            "How do I issue a refund to a customer?",
            "hi, how can I reset my password",
            "¿Cómo restablezco la contraseña?",
            "Wie lösche ich einen Kontakt?",
            "Hoe stel ik de bot in?",
            "Can I pay for my subscription with bitcoin?",
        ] {
            assert!(is_how_to(text), "{text}");
        }
        for text in [
            "I want my money back",
            "How dare you charge me twice",
            "cancel my plan",
            "Can you refund me?",
        ] {
            assert!(!is_how_to(text), "{text}");
        }
    }

    #[test]
    fn a_problem_that_outlasted_the_fix() {
        for text in [
            "I put darkMode auto in the settings and cleared the cache, the widget is still white",
            "did all that but chatwoot keeps saying the login failed",
            "Lo hice y todavía no llegan los correos",
            "J'ai vidé le cache, toujours pas de widget",
        ] {
            assert!(reports_persisting_problem(text), "{text}");
        }
        for text in ["Is the old API still supported?", "how do I add a widget"] {
            assert!(!reports_persisting_problem(text), "{text}");
        }
    }

    #[test]
    fn passages_that_leave_it_to_our_staff() {
        assert!(staff_must_act(
            "To move your data to another region, contact our support team with your account id."
        ));
        assert!(staff_must_act(
            "Our billing team will issue the refund within 5 days."
        ));
        assert!(!staff_must_act(
            "Go to Settings → Inboxes and click Add inbox."
        ));
        assert!(!staff_must_act(
            "Agents can contact the customer from the conversation view."
        ));
    }

    #[test]
    fn anger_and_shouting() {
        assert_eq!(
            check("This is ridiculous, third time I ask", &[]),
            Some(Trigger::Frustration)
        );
        assert_eq!(
            check("WHY IS MY ORDER STILL NOT HERE!!!", &[]),
            Some(Trigger::Frustration)
        );
    }

    #[test]
    fn configured_topics_match_whole_words() {
        let topics = vec![HandoffTopic {
            name: "refunds".into(),
            keywords: vec!["refund".into(), "chargeback".into()],
            examples: Vec::new(),
        }];
        assert_eq!(
            check("I want a refund", &topics),
            Some(Trigger::Topic("refunds".into()))
        );
        assert_eq!(check("refunded already?", &topics), None);
        assert_eq!(
            check("my lawyer will call", &default_topics()),
            Some(Trigger::Topic("legal".into()))
        );
    }
}
