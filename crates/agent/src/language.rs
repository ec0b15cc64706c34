//! The customer's language, so that what Rapport writes itself (hand-off notices, "More:") reads
//! naturally. Knowledge passages are quoted as they are written.

use rapport_core::domain::Channel;
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

/// One of the languages we speak, by its ISO 639-1 code.
pub fn by_code(code: &str) -> Option<Language> {
    SUPPORTED
        .iter()
        .find(|(_, l)| l.code == code)
        .map(|(_, l)| *l)
}

/// Letters from which a message's own statistics are trusted over any other evidence.
const SURE_LETTERS: usize = 40;

/// The customer's language: the latest message's when it is long enough to tell; on a short
/// one, the language the conversation was already in, else `hint` (the language of the intent
/// examples closest to the message, which share its words), else the channel's `locale` (a
/// WhatsApp number's country), else whatever the message alone suggests, else English. A
/// four-word Spanish refund request is not read as French. Short English words ("ok",
/// "hello") are written in every language, so an English hint gives way to the locale.
pub fn of_customer<'a>(
    latest: &str,
    earlier: impl Iterator<Item = &'a str>,
    hint: Option<&str>,
    locale: Option<Language>,
) -> Language {
    let alone = detect(latest);
    let letters = latest.chars().filter(|c| c.is_alphabetic()).count();
    let hint = hint.and_then(by_code);
    if let Some(l) = alone
        && (letters >= SURE_LETTERS || hint.is_none_or(|h| h == l))
    {
        return l;
    }
    let hint = match (hint, locale) {
        (Some(h), Some(l)) if h == ENGLISH => Some(l),
        (h, l) => h.or(l),
    };
    earlier
        .filter_map(detect)
        .next()
        .or(hint)
        .or(alone)
        .unwrap_or(ENGLISH)
}

/// The language a phone number's country suggests (E.164 digits, `+` optional), among those
/// Rapport speaks; `None` for countries of several languages or of none of ours.
pub fn of_phone(number: &str) -> Option<Language> {
    const PREFIXES: &[(&str, &str)] = &[
        ("351", "pt"),
        ("34", "es"),
        ("52", "es"),
        ("54", "es"),
        ("56", "es"),
        ("57", "es"),
        ("51", "es"),
        ("58", "es"),
        ("33", "fr"),
        ("49", "de"),
        ("43", "de"),
        ("55", "pt"),
        ("39", "it"),
        ("31", "nl"),
        ("44", "en"),
        ("61", "en"),
        ("1", "en"),
    ];
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 8 {
        return None;
    }
    PREFIXES
        .iter()
        .find(|(prefix, _)| digits.starts_with(prefix))
        .and_then(|(_, code)| by_code(code))
}

/// What Rapport says in its own words, per language. `{channel}` is replaced by the place the
/// reply comes, with its preposition ([`place`]: "on WhatsApp", "por correo electrónico"), so a
/// Spanish notice never ends in English words.
pub struct Phrases {
    pub more: &'static str,
    pub handoff: &'static str,
    pub unknown: &'static str,
    pub human_requested: &'static str,
    /// Hand-off of something that cannot wait (an account taken over).
    pub urgent: &'static str,
    /// Answer to a greeting.
    pub small_talk: &'static str,
    /// Answer to a statement that asks nothing ("our store number is …").
    pub noted: &'static str,
    /// Answer to thanks or a goodbye.
    pub welcome: &'static str,
    /// Answer to chit-chat that has nothing to do with the business.
    pub off_topic: &'static str,
    /// While a person has the conversation: the customer is not forgotten.
    pub holding: &'static str,
    /// The same, naming what is pending: `{topic}`.
    pub holding_about: &'static str,
    /// "I don't know" when the knowledge never mentions what was asked about: `{terms}`.
    pub not_covered: &'static str,
    /// Quotes around a named thing, and the word joining two of them.
    pub quotes: (&'static str, &'static str),
    pub and: &'static str,
}

/// Where a reply comes, in `lang`, preposition included.
pub fn place(lang: Language, channel: Channel) -> &'static str {
    use Channel::*;
    match (lang.code, channel) {
        ("es", Whatsapp) => "por WhatsApp",
        ("es", Instagram) => "por Instagram",
        ("es", Web) => "en este chat",
        ("es", Email) => "por correo electrónico",
        ("es", Api) => "por este canal",
        ("fr", Whatsapp) => "sur WhatsApp",
        ("fr", Instagram) => "sur Instagram",
        ("fr", Web) => "dans ce chat",
        ("fr", Email) => "par e-mail",
        ("fr", Api) => "sur ce canal",
        ("de", Whatsapp) => "auf WhatsApp",
        ("de", Instagram) => "auf Instagram",
        ("de", Web) => "in diesem Chat",
        ("de", Email) => "per E-Mail",
        ("de", Api) => "über diesen Kanal",
        ("pt", Whatsapp) => "pelo WhatsApp",
        ("pt", Instagram) => "pelo Instagram",
        ("pt", Web) => "neste chat",
        ("pt", Email) => "por e-mail",
        ("pt", Api) => "por este canal",
        ("it", Whatsapp) => "su WhatsApp",
        ("it", Instagram) => "su Instagram",
        ("it", Web) => "in questa chat",
        ("it", Email) => "via e-mail",
        ("it", Api) => "su questo canale",
        ("nl", Whatsapp) => "via WhatsApp",
        ("nl", Instagram) => "via Instagram",
        ("nl", Web) => "in deze chat",
        ("nl", Email) => "per e-mail",
        ("nl", Api) => "via dit kanaal",
        (_, Whatsapp) => "on WhatsApp",
        (_, Instagram) => "on Instagram",
        (_, Web) => "in this chat",
        (_, Email) => "by email",
        (_, Api) => "on this channel",
    }
}

/// "Our team is back on Monday at 09:00 (Europe/Paris)." in `lang`.
pub fn back_at(lang: Language, at: crate::settings::NextOpening) -> String {
    let day = at.weekday.num_days_from_monday() as usize;
    let names: [&str; 7] = match lang.code {
        "es" => [
            "lunes",
            "martes",
            "miércoles",
            "jueves",
            "viernes",
            "sábado",
            "domingo",
        ],
        "fr" => [
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        ],
        "de" => [
            "Montag",
            "Dienstag",
            "Mittwoch",
            "Donnerstag",
            "Freitag",
            "Samstag",
            "Sonntag",
        ],
        "pt" => [
            "segunda-feira",
            "terça-feira",
            "quarta-feira",
            "quinta-feira",
            "sexta-feira",
            "sábado",
            "domingo",
        ],
        "it" => [
            "lunedì",
            "martedì",
            "mercoledì",
            "giovedì",
            "venerdì",
            "sabato",
            "domenica",
        ],
        "nl" => [
            "maandag",
            "dinsdag",
            "woensdag",
            "donderdag",
            "vrijdag",
            "zaterdag",
            "zondag",
        ],
        _ => [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ],
    };
    let (name, time, tz) = (names[day], at.time, at.timezone);
    match lang.code {
        "es" => format!("Nuestro equipo vuelve el {name} a las {time} ({tz})."),
        "fr" => format!("Notre équipe est de retour {name} à {time} ({tz})."),
        "de" => format!("Unser Team ist am {name} um {time} Uhr ({tz}) wieder da."),
        "pt" => {
            let article = if day >= 5 { "no" } else { "na" };
            format!("A nossa equipa volta {article} {name} às {time} ({tz}).")
        }
        "it" => format!("Il nostro team torna {name} alle {time} ({tz})."),
        "nl" => format!("Ons team is er weer op {name} om {time} ({tz})."),
        _ => format!("Our team is back on {name} at {time} ({tz})."),
    }
}

impl Phrases {
    /// `template` with the channel's place filled in.
    pub fn on(&self, template: &str, lang: Language, channel: Channel) -> String {
        template.replace("{channel}", place(lang, channel))
    }

    /// Named things quoted and joined: “HubSpot” and “Okta”.
    pub fn quoted(&self, things: &[String]) -> String {
        let quoted: Vec<String> = things
            .iter()
            .map(|t| format!("{}{t}{}", self.quotes.0, self.quotes.1))
            .collect();
        match quoted.split_last() {
            None => String::new(),
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} {} {last}", rest.join(", "), self.and),
        }
    }
}

pub fn phrases(lang: Language) -> &'static Phrases {
    match lang.code {
        "es" => &Phrases {
            more: "Más información",
            handoff: "He pasado tu conversación a una persona de nuestro equipo. Te responderá aquí, {channel}.",
            unknown: "No tengo la respuesta a eso y no quiero adivinar. Una persona de nuestro equipo te ayudará y te responderá aquí, {channel}.",
            human_requested: "Claro. He pasado tu conversación a una persona de nuestro equipo; te responderá aquí, {channel}.",
            urgent: "Esto es urgente, así que lo he pasado ahora mismo a nuestro equipo. Te responderán aquí, {channel}.",
            small_talk: "¡Hola! ¿En qué puedo ayudarte?",
            noted: "Gracias, lo tengo en cuenta. ¿En qué más puedo ayudarte?",
            welcome: "¡De nada! Si necesitas algo más, aquí estoy.",
            off_topic: "Estoy aquí para ayudarte con nuestros productos y tu cuenta. ¿En qué puedo ayudarte?",
            holding: "Tu mensaje está con nuestro equipo; te responderán aquí, {channel}.",
            holding_about: "Tu consulta sobre «{topic}» está con nuestro equipo; te responderán aquí, {channel}.",
            not_covered: "Nuestros artículos de ayuda no tratan sobre {terms} y no quiero adivinar. Una persona de nuestro equipo te ayudará y te responderá aquí, {channel}.",
            quotes: ("«", "»"),
            and: "y",
        },
        "fr" => &Phrases {
            more: "En savoir plus",
            handoff: "J'ai transmis votre conversation à un membre de notre équipe. Il vous répondra ici, {channel}.",
            unknown: "Je n'ai pas la réponse et je préfère ne pas deviner. Un membre de notre équipe va vous aider et vous répondra ici, {channel}.",
            human_requested: "Bien sûr. J'ai transmis votre conversation à un membre de notre équipe ; il vous répondra ici, {channel}.",
            urgent: "C'est urgent : je l'ai transmis immédiatement à notre équipe. Elle vous répondra ici, {channel}.",
            small_talk: "Bonjour ! Comment puis-je vous aider ?",
            noted: "Merci, c'est noté. Que puis-je faire d'autre pour vous ?",
            welcome: "Avec plaisir ! Je reste là si besoin.",
            off_topic: "Je suis là pour vous aider avec nos produits et votre compte. Que puis-je faire pour vous ?",
            holding: "Votre message est entre les mains de notre équipe ; elle vous répondra ici, {channel}.",
            holding_about: "Votre question sur « {topic} » est entre les mains de notre équipe ; elle vous répondra ici, {channel}.",
            not_covered: "Nos articles d'aide ne parlent pas de {terms}, et je préfère ne pas deviner. Un membre de notre équipe va vous aider et vous répondra ici, {channel}.",
            quotes: ("« ", " »"),
            and: "et",
        },
        "de" => &Phrases {
            more: "Mehr dazu",
            handoff: "Ich habe Ihr Anliegen an eine Kollegin oder einen Kollegen weitergegeben. Sie erhalten die Antwort hier {channel}.",
            unknown: "Darauf habe ich keine sichere Antwort, und ich möchte nicht raten. Jemand aus unserem Team hilft Ihnen und antwortet hier {channel}.",
            human_requested: "Gern. Ich habe Ihr Anliegen an jemanden aus unserem Team weitergegeben; die Antwort kommt hier {channel}.",
            urgent: "Das ist dringend, daher habe ich es sofort an unser Team weitergegeben. Die Antwort kommt hier {channel}.",
            small_talk: "Hallo! Wie kann ich helfen?",
            noted: "Danke, ist notiert. Wobei kann ich sonst helfen?",
            welcome: "Gern geschehen! Melden Sie sich, wenn Sie noch etwas brauchen.",
            off_topic: "Ich helfe Ihnen gern bei Fragen zu unseren Produkten und Ihrem Konto. Worum geht es?",
            holding: "Ihre Nachricht liegt bei unserem Team; die Antwort kommt hier {channel}.",
            holding_about: "Ihre Frage zu „{topic}“ liegt bei unserem Team; die Antwort kommt hier {channel}.",
            not_covered: "Unsere Hilfeartikel behandeln {terms} nicht, und ich möchte nicht raten. Jemand aus unserem Team hilft Ihnen und antwortet hier {channel}.",
            quotes: ("„", "“"),
            and: "und",
        },
        "pt" => &Phrases {
            more: "Saiba mais",
            handoff: "Passei a sua conversa para uma pessoa da nossa equipa. Ela vai responder aqui, {channel}.",
            unknown: "Não tenho a resposta para isso e não quero adivinhar. Uma pessoa da nossa equipa vai ajudar e responder aqui, {channel}.",
            human_requested: "Claro. Passei a sua conversa para uma pessoa da nossa equipa; ela vai responder aqui, {channel}.",
            urgent: "Isto é urgente, por isso passei já para a nossa equipa. Vão responder aqui, {channel}.",
            small_talk: "Olá! Como posso ajudar?",
            noted: "Obrigado, fica anotado. Em que mais posso ajudar?",
            welcome: "De nada! Se precisar de mais alguma coisa, estou aqui.",
            off_topic: "Estou aqui para ajudar com os nossos produtos e a sua conta. Em que posso ajudar?",
            holding: "A sua mensagem está com a nossa equipa; vão responder aqui, {channel}.",
            holding_about: "A sua questão sobre «{topic}» está com a nossa equipa; vão responder aqui, {channel}.",
            not_covered: "Os nossos artigos de ajuda não falam de {terms} e não quero adivinhar. Uma pessoa da nossa equipa vai ajudar e responder aqui, {channel}.",
            quotes: ("«", "»"),
            and: "e",
        },
        "it" => &Phrases {
            more: "Per saperne di più",
            handoff: "Ho passato la tua conversazione a una persona del nostro team. Ti risponderà qui, {channel}.",
            unknown: "Non ho la risposta e preferisco non tirare a indovinare. Una persona del nostro team ti aiuterà e ti risponderà qui, {channel}.",
            human_requested: "Certo. Ho passato la tua conversazione a una persona del nostro team; ti risponderà qui, {channel}.",
            urgent: "È urgente, quindi l'ho passato subito al nostro team. Ti risponderanno qui, {channel}.",
            small_talk: "Ciao! Come posso aiutarti?",
            noted: "Grazie, ne prendo nota. Come posso aiutarti ancora?",
            welcome: "Prego! Se ti serve altro, sono qui.",
            off_topic: "Sono qui per aiutarti con i nostri prodotti e il tuo account. Come posso aiutarti?",
            holding: "Il tuo messaggio è nelle mani del nostro team; ti risponderanno qui, {channel}.",
            holding_about: "La tua richiesta su «{topic}» è nelle mani del nostro team; ti risponderanno qui, {channel}.",
            not_covered: "I nostri articoli di aiuto non parlano di {terms} e preferisco non tirare a indovinare. Una persona del nostro team ti aiuterà e ti risponderà qui, {channel}.",
            quotes: ("«", "»"),
            and: "e",
        },
        "nl" => &Phrases {
            more: "Meer info",
            handoff: "Ik heb je gesprek doorgegeven aan iemand van ons team. Je krijgt hier antwoord, {channel}.",
            unknown: "Daar heb ik geen antwoord op en ik wil niet gokken. Iemand van ons team helpt je verder en antwoordt hier, {channel}.",
            human_requested: "Natuurlijk. Ik heb je gesprek doorgegeven aan iemand van ons team; je krijgt hier antwoord, {channel}.",
            urgent: "Dit is dringend, dus ik heb het meteen aan ons team doorgegeven. Je krijgt hier antwoord, {channel}.",
            small_talk: "Hallo! Waarmee kan ik je helpen?",
            noted: "Bedankt, genoteerd. Waarmee kan ik je verder helpen?",
            welcome: "Graag gedaan! Laat het weten als je nog iets nodig hebt.",
            off_topic: "Ik help je graag met vragen over onze producten en je account. Waarmee kan ik je helpen?",
            holding: "Je bericht ligt bij ons team; je krijgt hier antwoord, {channel}.",
            holding_about: "Je vraag over ‘{topic}’ ligt bij ons team; je krijgt hier antwoord, {channel}.",
            not_covered: "Onze helpartikelen gaan niet over {terms}, en ik wil niet gokken. Iemand van ons team helpt je verder en antwoordt hier, {channel}.",
            quotes: ("‘", "’"),
            and: "en",
        },
        _ => &Phrases {
            more: "More",
            handoff: "I've passed your conversation to a teammate. They'll reply right here {channel}.",
            unknown: "I don't know the answer to that, and I'd rather not guess. A teammate will help you and reply right here {channel}.",
            human_requested: "Of course. I've passed your conversation to a teammate; they'll reply right here {channel}.",
            urgent: "This is urgent, so I've passed it to our team right away. They'll reply right here {channel}.",
            small_talk: "Hi! How can I help you today?",
            noted: "Thanks, noted. What else can I help you with?",
            welcome: "You're welcome! If you need anything else, I'm here.",
            off_topic: "I'm here to help with our products and your account. What can I help you with?",
            holding: "Your message is with our team; they'll reply right here {channel}.",
            holding_about: "Your question about \u{201c}{topic}\u{201d} is with our team; they'll reply right here {channel}.",
            not_covered: "Our help articles don't cover {terms}, and I'd rather not guess. A teammate will help you and reply right here {channel}.",
            quotes: ("\u{201c}", "\u{201d}"),
            and: "and",
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
            None,
            None,
        );
        assert_eq!(lang.code, "es");
    }

    #[test]
    fn a_short_first_message_follows_the_closest_examples() {
        // Letter statistics alone are unsure on four words; the examples sharing them are not.
        let lang = of_customer(
            "Quiero un reembolso ya",
            std::iter::empty(),
            Some("es"),
            None,
        );
        assert_eq!(lang.code, "es");
        let long = "Bonjour, je voudrais savoir comment ajouter un agent à mon équipe";
        assert_eq!(
            of_customer(long, std::iter::empty(), Some("es"), None).code,
            "fr"
        );
    }

    #[test]
    fn a_short_first_message_on_whatsapp_follows_the_numbers_country() {
        let spain = of_phone("+34 612 345 678");
        assert_eq!(spain.map(|l| l.code), Some("es"));
        // "ok" looks English, and is written everywhere.
        assert_eq!(
            of_customer("ok", std::iter::empty(), Some("en"), spain).code,
            "es"
        );
        // Words that look Spanish stay Spanish whatever the number.
        let us = of_phone("14155550100");
        assert_eq!(
            of_customer("Quiero un reembolso", std::iter::empty(), Some("es"), us).code,
            "es"
        );
        assert_eq!(of_phone("351912345678").map(|l| l.code), Some("pt"));
        assert_eq!(of_phone("4121234567"), None);
    }

    #[test]
    fn notices_name_the_channel_in_the_customers_language() {
        let es = by_code("es").expect("spanish");
        let text = phrases(es).on(phrases(es).handoff, es, Channel::Api);
        assert!(text.ends_with("por este canal."), "{text}");
        assert!(!text.contains("channel"), "{text}");
    }
}
