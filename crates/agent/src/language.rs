//! The customer's language, so that what Rapport writes itself (hand-off notices, "More:") reads
//! naturally. Knowledge passages are quoted as they are written.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Language {
    /// ISO 639-1 code.
    pub code: &'static str,
    pub name: &'static str,
}

pub const ENGLISH: Language = Language {
    code: "en",
    name: "English",
};

const SUPPORTED: &[(whatlang::Lang, Language)] = &[
    (whatlang::Lang::Eng, ENGLISH),
    (
        whatlang::Lang::Spa,
        Language {
            code: "es",
            name: "Spanish",
        },
    ),
    (
        whatlang::Lang::Fra,
        Language {
            code: "fr",
            name: "French",
        },
    ),
    (
        whatlang::Lang::Deu,
        Language {
            code: "de",
            name: "German",
        },
    ),
    (
        whatlang::Lang::Por,
        Language {
            code: "pt",
            name: "Portuguese",
        },
    ),
    (
        whatlang::Lang::Ita,
        Language {
            code: "it",
            name: "Italian",
        },
    ),
    (
        whatlang::Lang::Nld,
        Language {
            code: "nl",
            name: "Dutch",
        },
    ),
];

/// The language of `text`, or `None` when the text is too short or ambiguous to tell (then the
/// caller keeps the language of earlier messages).
pub fn detect(text: &str) -> Option<Language> {
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters < 12 {
        return None;
    }
    // Choosing among the languages we speak is far more reliable on short messages than
    // choosing among all of them.
    let detector = whatlang::Detector::with_allowlist(SUPPORTED.iter().map(|(l, _)| *l).collect());
    let info = detector.detect(text)?;
    if info.confidence() < 0.1 && letters < 30 {
        return None;
    }
    let picked = SUPPORTED
        .iter()
        .find(|(lang, _)| *lang == info.lang())
        .map(|(_, l)| *l)?;
    // Letter statistics confuse close languages on a short message (Spanish read as
    // Portuguese); their function words do not.
    let scores = function_word_scores(text);
    let score_of = |code: &str| {
        scores
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| *n)
    };
    let (best, best_score) = scores
        .iter()
        .max_by_key(|(_, n)| *n)
        .copied()
        .unwrap_or(("en", 0));
    if best_score >= 2 && best_score > score_of(picked.code) {
        return SUPPORTED
            .iter()
            .find(|(_, l)| l.code == best)
            .map(|(_, l)| *l);
    }
    Some(picked)
}

/// Words frequent in one of our languages and rare in the others.
const FUNCTION_WORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "and", "is", "my", "i", "to", "it", "how", "what", "you", "with", "can", "does",
            "not", "this",
        ],
    ),
    (
        "es",
        &[
            "el", "la", "los", "las", "y", "en", "una", "mi", "está", "tengo", "puedo", "cómo",
            "qué", "pero", "muy", "hola", "gracias", "ayer",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "e", "em", "não", "meu", "minha", "você", "tenho", "posso", "como",
            "obrigado", "olá", "ontem", "uma", "está",
        ],
    ),
    (
        "fr",
        &[
            "le", "les", "et", "est", "je", "mon", "ma", "une", "pas", "vous", "comment", "avec",
            "pour", "bonjour", "merci",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "das", "und", "ist", "ich", "mein", "meine", "nicht", "wie", "ein",
            "eine", "mit", "sie", "hallo", "danke",
        ],
    ),
    (
        "it",
        &[
            "il", "lo", "gli", "e", "è", "non", "mio", "mia", "come", "una", "sono", "ciao",
            "grazie", "perché", "ieri",
        ],
    ),
    (
        "nl",
        &[
            "de", "het", "en", "is", "ik", "mijn", "niet", "hoe", "een", "met", "je", "hallo",
            "bedankt", "wat",
        ],
    ),
];

fn function_word_scores(text: &str) -> Vec<(&'static str, usize)> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    FUNCTION_WORDS
        .iter()
        .map(|(code, list)| {
            (
                *code,
                words.iter().filter(|w| list.contains(&w.as_str())).count(),
            )
        })
        .collect()
}

/// The language of the latest message, else of the customer's earlier messages (newest
/// first), else English.
pub fn of_customer<'a>(latest: &str, earlier: impl Iterator<Item = &'a str>) -> Language {
    detect(latest)
        .or_else(|| earlier.filter_map(detect).next())
        .unwrap_or(ENGLISH)
}

/// What Rapport says in its own words, per language.
pub struct Phrases {
    pub more: &'static str,
    /// `{channel}` is replaced by the channel's name.
    pub handoff: &'static str,
    pub unknown: &'static str,
    pub human_requested: &'static str,
    /// Answer to a greeting or thanks.
    pub small_talk: &'static str,
    /// Answer to a statement that asks nothing ("our store number is …").
    pub noted: &'static str,
    /// Answer to thanks or a goodbye.
    pub welcome: &'static str,
}

pub fn phrases(lang: Language) -> &'static Phrases {
    match lang.code {
        "es" => &Phrases {
            more: "Más información",
            handoff: "He pasado tu conversación a una persona de nuestro equipo. Te responderá aquí, en {channel}.",
            unknown: "No tengo la respuesta a eso y no quiero adivinar. Una persona de nuestro equipo te ayudará y te responderá aquí, en {channel}.",
            human_requested: "Claro. He pasado tu conversación a una persona de nuestro equipo; te responderá aquí, en {channel}.",
            small_talk: "¡Hola! ¿En qué puedo ayudarte?",
            noted: "Gracias, lo tengo en cuenta. ¿En qué más puedo ayudarte?",
            welcome: "¡De nada! Si necesitas algo más, aquí estoy.",
        },
        "fr" => &Phrases {
            more: "En savoir plus",
            handoff: "J'ai transmis votre conversation à un membre de notre équipe. Il vous répondra ici, sur {channel}.",
            unknown: "Je n'ai pas la réponse et je préfère ne pas deviner. Un membre de notre équipe va vous aider et vous répondra ici, sur {channel}.",
            human_requested: "Bien sûr. J'ai transmis votre conversation à un membre de notre équipe ; il vous répondra ici, sur {channel}.",
            small_talk: "Bonjour ! Comment puis-je vous aider ?",
            noted: "Merci, c'est noté. Que puis-je faire d'autre pour vous ?",
            welcome: "Avec plaisir ! Je reste là si besoin.",
        },
        "de" => &Phrases {
            more: "Mehr dazu",
            handoff: "Ich habe Ihr Anliegen an eine Kollegin oder einen Kollegen weitergegeben. Sie erhalten die Antwort hier auf {channel}.",
            unknown: "Darauf habe ich keine sichere Antwort, und ich möchte nicht raten. Jemand aus unserem Team hilft Ihnen und antwortet hier auf {channel}.",
            human_requested: "Gern. Ich habe Ihr Anliegen an jemanden aus unserem Team weitergegeben; die Antwort kommt hier auf {channel}.",
            small_talk: "Hallo! Wie kann ich helfen?",
            noted: "Danke, ist notiert. Wobei kann ich sonst helfen?",
            welcome: "Gern geschehen! Melden Sie sich, wenn Sie noch etwas brauchen.",
        },
        "pt" => &Phrases {
            more: "Saiba mais",
            handoff: "Passei a sua conversa para uma pessoa da nossa equipa. Ela vai responder aqui, no {channel}.",
            unknown: "Não tenho a resposta para isso e não quero adivinhar. Uma pessoa da nossa equipa vai ajudar e responder aqui, no {channel}.",
            human_requested: "Claro. Passei a sua conversa para uma pessoa da nossa equipa; ela vai responder aqui, no {channel}.",
            small_talk: "Olá! Como posso ajudar?",
            noted: "Obrigado, fica anotado. Em que mais posso ajudar?",
            welcome: "De nada! Se precisar de mais alguma coisa, estou aqui.",
        },
        "it" => &Phrases {
            more: "Per saperne di più",
            handoff: "Ho passato la tua conversazione a una persona del nostro team. Ti risponderà qui, su {channel}.",
            unknown: "Non ho la risposta e preferisco non tirare a indovinare. Una persona del nostro team ti aiuterà e ti risponderà qui, su {channel}.",
            human_requested: "Certo. Ho passato la tua conversazione a una persona del nostro team; ti risponderà qui, su {channel}.",
            small_talk: "Ciao! Come posso aiutarti?",
            noted: "Grazie, ne prendo nota. Come posso aiutarti ancora?",
            welcome: "Prego! Se ti serve altro, sono qui.",
        },
        "nl" => &Phrases {
            more: "Meer info",
            handoff: "Ik heb je gesprek doorgegeven aan iemand van ons team. Je krijgt hier antwoord, via {channel}.",
            unknown: "Daar heb ik geen antwoord op en ik wil niet gokken. Iemand van ons team helpt je verder en antwoordt hier, via {channel}.",
            human_requested: "Natuurlijk. Ik heb je gesprek doorgegeven aan iemand van ons team; je krijgt hier antwoord, via {channel}.",
            small_talk: "Hallo! Waarmee kan ik je helpen?",
            noted: "Bedankt, genoteerd. Waarmee kan ik je verder helpen?",
            welcome: "Graag gedaan! Laat het weten als je nog iets nodig hebt.",
        },
        _ => &Phrases {
            more: "More",
            handoff: "I've passed your conversation to a teammate. They'll reply right here on {channel}.",
            unknown: "I don't know the answer to that, and I'd rather not guess. A teammate will help you and reply right here on {channel}.",
            human_requested: "Of course. I've passed your conversation to a teammate; they'll reply right here on {channel}.",
            small_talk: "Hi! How can I help you today?",
            noted: "Thanks, noted. What else can I help you with?",
            welcome: "You're welcome! If you need anything else, I'm here.",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_languages_are_recognised() {
        assert_eq!(
            detect("How do I reset my thermostat password please?"),
            Some(ENGLISH)
        );
        assert_eq!(
            detect("¿Cómo puedo restablecer la contraseña de mi termostato?").map(|l| l.code),
            Some("es")
        );
        assert_eq!(
            detect("Comment puis-je réinitialiser le mot de passe de mon thermostat ?")
                .map(|l| l.code),
            Some("fr")
        );
    }

    #[test]
    fn a_short_message_keeps_the_earlier_language() {
        let lang = of_customer(
            "ok?",
            ["Mi enchufe inteligente no se enciende desde ayer"].into_iter(),
        );
        assert_eq!(lang.code, "es");
    }
}
