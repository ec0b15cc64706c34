//! What the agent says around an action — asking for a code, confirming a write, owning up
//! to a failure — in the languages the bot answers in. The action's own reply and questions
//! are the admin's templates; these are the parts every action shares.

use crate::language::Language;

pub struct ActionPhrases {
    /// The message that carries a code: `{code}`.
    pub code_message: &'static str,
    /// A code went out: `{to}` is the masked address.
    pub code_sent: &'static str,
    pub wrong_code: &'static str,
    /// Too many wrong codes, or too many codes asked for.
    pub code_locked: &'static str,
    /// Nowhere on file to send a code to.
    pub cannot_verify: &'static str,
    /// The code was right; the action's answer follows.
    pub verified: &'static str,
    /// A write without the admin's own question: `{action}`.
    pub confirm: &'static str,
    pub declined: &'static str,
    pub failed: &'static str,
    /// Asked about another customer's account.
    pub someone_else: &'static str,
    pub rate_limited: &'static str,
}

const EN: ActionPhrases = ActionPhrases {
    code_message: "Your verification code is {code}. It expires in 10 minutes. If you did not ask for it, ignore this message.",
    code_sent: "To keep your account safe, I've sent a 6-digit code to {to}. Please type it here.",
    wrong_code: "That code isn't right. Please check it and type it again.",
    code_locked: "For your security I can't check more codes right now. A person from our team will help you from here.",
    cannot_verify: "I can't confirm it's you from here, so I've passed this to our team, who will help you.",
    verified: "Thanks, that's confirmed.",
    confirm: "Shall I go ahead: {action}? Reply yes to confirm or no to leave it.",
    declined: "OK, I haven't changed anything.",
    failed: "I couldn't get that done just now, so I've passed it to our team, who will follow up.",
    someone_else: "I can only help with your own account, so I can't share anything about another customer.",
    rate_limited: "I've done that several times in the last hour, so a person from our team will take it from here.",
};

const ES: ActionPhrases = ActionPhrases {
    code_message: "Tu código de verificación es {code}. Caduca en 10 minutos. Si no lo has pedido, ignora este mensaje.",
    code_sent: "Para proteger tu cuenta, te he enviado un código de 6 dígitos a {to}. Escríbelo aquí, por favor.",
    wrong_code: "Ese código no es correcto. Compruébalo y escríbelo de nuevo.",
    code_locked: "Por tu seguridad no puedo comprobar más códigos ahora. Una persona de nuestro equipo te ayudará.",
    cannot_verify: "No puedo confirmar tu identidad desde aquí, así que he pasado esto a nuestro equipo.",
    verified: "Gracias, confirmado.",
    confirm: "¿Sigo adelante: {action}? Responde sí para confirmar o no para dejarlo.",
    declined: "De acuerdo, no he cambiado nada.",
    failed: "No he podido hacerlo ahora mismo, así que lo he pasado a nuestro equipo, que te responderá.",
    someone_else: "Solo puedo ayudarte con tu propia cuenta, así que no puedo compartir nada de otro cliente.",
    rate_limited: "Ya lo he hecho varias veces en la última hora; una persona de nuestro equipo seguirá desde aquí.",
};

const FR: ActionPhrases = ActionPhrases {
    code_message: "Votre code de vérification est {code}. Il expire dans 10 minutes. Si vous ne l'avez pas demandé, ignorez ce message.",
    code_sent: "Pour protéger votre compte, je vous ai envoyé un code à 6 chiffres à {to}. Saisissez-le ici, s'il vous plaît.",
    wrong_code: "Ce code n'est pas le bon. Vérifiez-le et saisissez-le à nouveau.",
    code_locked: "Pour votre sécurité, je ne peux plus vérifier de code pour le moment. Une personne de notre équipe va vous aider.",
    cannot_verify: "Je ne peux pas confirmer votre identité d'ici ; j'ai transmis votre demande à notre équipe.",
    verified: "Merci, c'est confirmé.",
    confirm: "Je continue : {action} ? Répondez oui pour confirmer ou non pour annuler.",
    declined: "D'accord, je n'ai rien modifié.",
    failed: "Je n'ai pas pu le faire pour l'instant ; j'ai transmis votre demande à notre équipe, qui reviendra vers vous.",
    someone_else: "Je ne peux vous aider que pour votre propre compte : je ne peux rien partager sur un autre client.",
    rate_limited: "Je l'ai déjà fait plusieurs fois cette dernière heure ; une personne de notre équipe prend le relais.",
};

const DE: ActionPhrases = ActionPhrases {
    code_message: "Ihr Bestätigungscode lautet {code}. Er läuft in 10 Minuten ab. Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht.",
    code_sent: "Zum Schutz Ihres Kontos habe ich einen 6-stelligen Code an {to} gesendet. Bitte geben Sie ihn hier ein.",
    wrong_code: "Dieser Code stimmt nicht. Bitte prüfen Sie ihn und geben Sie ihn erneut ein.",
    code_locked: "Zu Ihrer Sicherheit kann ich gerade keine weiteren Codes prüfen. Jemand aus unserem Team hilft Ihnen weiter.",
    cannot_verify: "Ich kann Ihre Identität hier nicht bestätigen und habe Ihr Anliegen an unser Team weitergegeben.",
    verified: "Danke, das ist bestätigt.",
    confirm: "Soll ich fortfahren: {action}? Antworten Sie mit ja zum Bestätigen oder nein zum Abbrechen.",
    declined: "In Ordnung, ich habe nichts geändert.",
    failed: "Das hat gerade nicht geklappt; ich habe es an unser Team weitergegeben, das sich meldet.",
    someone_else: "Ich kann nur bei Ihrem eigenen Konto helfen und nichts über andere Kunden mitteilen.",
    rate_limited: "Das habe ich in der letzten Stunde schon mehrmals gemacht; jemand aus unserem Team übernimmt.",
};

const PT: ActionPhrases = ActionPhrases {
    code_message: "O seu código de verificação é {code}. Expira em 10 minutos. Se não o pediu, ignore esta mensagem.",
    code_sent: "Para proteger a sua conta, enviei um código de 6 dígitos para {to}. Escreva-o aqui, por favor.",
    wrong_code: "Esse código não está certo. Verifique-o e escreva-o novamente.",
    code_locked: "Por segurança não posso verificar mais códigos agora. Uma pessoa da nossa equipa vai ajudar.",
    cannot_verify: "Não consigo confirmar a sua identidade aqui, por isso passei o pedido à nossa equipa.",
    verified: "Obrigado, está confirmado.",
    confirm: "Posso avançar: {action}? Responda sim para confirmar ou não para deixar.",
    declined: "Está bem, não alterei nada.",
    failed: "Não consegui fazer isso agora, por isso passei à nossa equipa, que vai responder.",
    someone_else: "Só posso ajudar com a sua própria conta, por isso não posso partilhar nada de outro cliente.",
    rate_limited: "Já o fiz várias vezes na última hora; uma pessoa da nossa equipa continua a partir daqui.",
};

const IT: ActionPhrases = ActionPhrases {
    code_message: "Il tuo codice di verifica è {code}. Scade tra 10 minuti. Se non l'hai richiesto, ignora questo messaggio.",
    code_sent: "Per proteggere il tuo account ti ho inviato un codice di 6 cifre a {to}. Scrivilo qui, per favore.",
    wrong_code: "Quel codice non è corretto. Controllalo e scrivilo di nuovo.",
    code_locked: "Per sicurezza non posso verificare altri codici ora. Una persona del nostro team ti aiuterà.",
    cannot_verify: "Non posso confermare la tua identità da qui, quindi ho passato la richiesta al nostro team.",
    verified: "Grazie, confermato.",
    confirm: "Procedo: {action}? Rispondi sì per confermare o no per lasciar stare.",
    declined: "Va bene, non ho cambiato nulla.",
    failed: "Non sono riuscito a farlo ora, quindi l'ho passato al nostro team, che ti risponderà.",
    someone_else: "Posso aiutarti solo con il tuo account, quindi non posso condividere nulla di un altro cliente.",
    rate_limited: "L'ho già fatto più volte nell'ultima ora; una persona del nostro team continuerà da qui.",
};

const NL: ActionPhrases = ActionPhrases {
    code_message: "Je verificatiecode is {code}. Hij verloopt over 10 minuten. Heb je hem niet aangevraagd, negeer dan dit bericht.",
    code_sent: "Om je account te beschermen heb ik een code van 6 cijfers naar {to} gestuurd. Typ die hier.",
    wrong_code: "Die code klopt niet. Controleer hem en typ hem opnieuw.",
    code_locked: "Voor je veiligheid kan ik nu geen codes meer controleren. Iemand van ons team helpt je verder.",
    cannot_verify: "Ik kan hier niet bevestigen dat jij het bent, dus ik heb dit aan ons team doorgegeven.",
    verified: "Bedankt, dat is bevestigd.",
    confirm: "Zal ik doorgaan: {action}? Antwoord ja om te bevestigen of nee om het te laten.",
    declined: "Oké, ik heb niets veranderd.",
    failed: "Dat lukte nu niet, dus ik heb het aan ons team doorgegeven, dat contact opneemt.",
    someone_else: "Ik kan alleen helpen met je eigen account en kan niets over een andere klant delen.",
    rate_limited: "Dat heb ik het afgelopen uur al een paar keer gedaan; iemand van ons team neemt het over.",
};

pub fn phrases(lang: Language) -> &'static ActionPhrases {
    match lang.code {
        "es" => &ES,
        "fr" => &FR,
        "de" => &DE,
        "pt" => &PT,
        "it" => &IT,
        "nl" => &NL,
        _ => &EN,
    }
}
