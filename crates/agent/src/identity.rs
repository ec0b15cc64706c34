//! One customer across channels. An inbound message names an identity (a channel and the
//! channel's id for the sender); the resolver finds the contact it belongs to, using only keys
//! that something proved: WhatsApp's `wa_id` (a phone number Meta verified), the sender of an
//! e-mail the e-mail channel accepted, or a web-chat identity the business's site signed with the
//! workspace's identity secret. Names, unsigned claims and text inside messages never merge.

use hmac::{Hmac, Mac};
use rapport_core::domain::Channel;
use rapport_core::ids::{ContactId, WorkspaceId};
use rapport_store::Store;
use rapport_store::contacts::{KeyKind, NewContact};
use sha2::Sha256;

use crate::{Error, Result};

/// Who sent an inbound message, as the channel adapter saw it.
#[derive(Debug, Clone, Default)]
pub struct IdentityClaim {
    pub channel: Option<Channel>,
    /// The channel's own id of the sender: `wa_id`, Instagram-scoped id, e-mail address,
    /// web-chat visitor or signed user id, API caller's id.
    pub external_id: String,
    pub name: Option<String>,
    /// A phone number the channel proves (WhatsApp `wa_id`, a signed web identity).
    pub verified_phone: Option<String>,
    /// An e-mail address the channel proves (the e-mail sender, a signed web identity).
    pub verified_email: Option<String>,
    /// What the customer typed about themselves (a pre-chat form): kept on the profile for
    /// agents, never used to merge.
    pub phone_hint: Option<String>,
    pub email_hint: Option<String>,
}

/// A web-chat identity as the business's site passes it to the widget.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct SignedIdentity {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Hex HMAC-SHA256, keyed with the workspace's identity secret, of
    /// `user_id + "\n" + email + "\n" + phone` (absent fields as empty strings).
    pub signature: String,
}

impl SignedIdentity {
    fn message(user_id: Option<&str>, email: Option<&str>, phone: Option<&str>) -> String {
        format!(
            "{}\n{}\n{}",
            user_id.unwrap_or_default(),
            email.unwrap_or_default(),
            phone.unwrap_or_default()
        )
    }

    /// Signs an identity as the business's back end would (for tests, `rapport ask --signed`
    /// and the documentation's example).
    pub fn sign(
        secret: &str,
        user_id: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> SignedIdentity {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(Self::message(user_id, email, phone).as_bytes());
        SignedIdentity {
            user_id: user_id.map(str::to_owned),
            email: email.map(str::to_owned),
            phone: phone.map(str::to_owned),
            signature: hex::encode(mac.finalize().into_bytes()),
        }
    }

    /// Checks the signature in constant time.
    pub fn verify(&self, secret: &str) -> Result<()> {
        if secret.is_empty() {
            return Err(Error::BadSignature);
        }
        let expected = hex::decode(self.signature.trim()).map_err(|_| Error::BadSignature)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(
            Self::message(
                self.user_id.as_deref(),
                self.email.as_deref(),
                self.phone.as_deref(),
            )
            .as_bytes(),
        );
        mac.verify_slice(&expected).map_err(|_| Error::BadSignature)
    }
}

/// A phone number in E.164 (`+14155550142`), or `None` when it is not a valid number.
/// `default_region` (ISO 3166 alpha-2) reads national forms such as "(415) 555-0142"; a long
/// run of digits without `+` (WhatsApp's `wa_id`) is read as international first.
pub fn normalize_phone(raw: &str, default_region: &str) -> Option<String> {
    let trimmed = raw.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 || digits.len() > 15 {
        return None;
    }
    let region = default_region.parse::<phonenumber::country::Id>().ok();
    let mut attempts: Vec<(Option<phonenumber::country::Id>, String)> = Vec::new();
    if trimmed.starts_with('+') || trimmed.starts_with("00") {
        attempts.push((None, format!("+{}", digits.trim_start_matches("00"))));
    } else {
        if digits.len() >= 11 {
            attempts.push((None, format!("+{digits}")));
        }
        attempts.push((region, trimmed.to_owned()));
    }
    let parsed: Vec<phonenumber::PhoneNumber> = attempts
        .into_iter()
        .filter_map(|(region, text)| phonenumber::parse(region, &text).ok())
        .collect();
    // A number valid for its country wins; a merely well-formed one (a reserved or fictional
    // range such as 07700 900xxx) is still the same number written the same way.
    parsed
        .iter()
        .find(|n| phonenumber::is_valid(n))
        .or_else(|| parsed.first())
        .map(|n| n.format().mode(phonenumber::Mode::E164).to_string())
}

/// Lower-cased address when it looks like one (`local@domain.tld`), else `None`.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw
        .trim()
        .trim_matches(|c| c == '<' || c == '>')
        .to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let valid = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && email.matches('@').count() == 1;
    valid.then_some(email)
}

/// What resolving an identity decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The customer (root contact) the message belongs to.
    pub contact: ContactId,
    /// The contact row the identity itself is linked to (the root or one merged into it).
    pub identity_contact: ContactId,
    pub created: bool,
    /// Another contact was merged into this one because a verified key proved both.
    pub merged: bool,
}

/// Maps channel identities to contacts and merges contacts that proved the same key.
#[derive(Clone)]
pub struct IdentityResolver {
    store: Store,
    default_region: String,
}

impl IdentityResolver {
    pub fn new(store: Store, default_region: impl Into<String>) -> Self {
        Self {
            store,
            default_region: default_region.into(),
        }
    }

    /// The verified merge keys of a claim, normalised. An unparsable verified phone is an
    /// error, not a silent skip: it would split one customer in two.
    fn keys(&self, claim: &IdentityClaim) -> Result<Vec<(KeyKind, String)>> {
        let mut keys = Vec::new();
        if let Some(phone) = claim
            .verified_phone
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            let e164 = normalize_phone(phone, &self.default_region)
                .ok_or_else(|| Error::Invalid(format!("{phone:?} is not a valid phone number")))?;
            keys.push((KeyKind::Phone, e164));
        }
        if let Some(email) = claim
            .verified_email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
        {
            let email = normalize_email(email).ok_or_else(|| {
                Error::Invalid(format!("{email:?} is not a valid e-mail address"))
            })?;
            keys.push((KeyKind::Email, email));
        }
        Ok(keys)
    }

    /// Finds or creates the contact of `claim`, links the identity, records its verified keys
    /// and merges any other customer that proved one of them.
    pub async fn resolve(&self, ws: WorkspaceId, claim: &IdentityClaim) -> Result<Resolved> {
        let channel = claim
            .channel
            .ok_or_else(|| Error::Invalid("the identity has no channel".into()))?;
        let external_id = claim.external_id.trim();
        if external_id.is_empty() {
            return Err(Error::Invalid("the identity has no sender id".into()));
        }
        let keys = self.keys(claim)?;
        let profile = NewContact {
            name: claim.name.clone().filter(|n| !n.trim().is_empty()),
            email: keys
                .iter()
                .find(|(k, _)| *k == KeyKind::Email)
                .map(|(_, v)| v.clone())
                .or_else(|| claim.email_hint.as_deref().and_then(normalize_email)),
            phone: keys
                .iter()
                .find(|(k, _)| *k == KeyKind::Phone)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    claim
                        .phone_hint
                        .as_deref()
                        .and_then(|p| normalize_phone(p, &self.default_region))
                }),
        };

        let mut created = false;
        let identity_contact = match self
            .store
            .contact_by_identity(ws, channel, external_id)
            .await?
        {
            Some(c) => c,
            None => {
                let mut owner = None;
                for (kind, value) in &keys {
                    if let Some(c) = self.store.contact_by_key(ws, *kind, value).await? {
                        owner = Some(c);
                        break;
                    }
                }
                let verified = !keys.is_empty();
                let linked = match owner {
                    Some(c) => self
                        .store
                        .add_identity(ws, c, channel, external_id, verified)
                        .await?
                        .map(|_| c),
                    None => {
                        let new = self
                            .store
                            .create_contact_with_identity(
                                ws,
                                &profile,
                                channel,
                                external_id,
                                verified,
                            )
                            .await?;
                        created = new.is_some();
                        new
                    }
                };
                if let Some(contact) = linked {
                    contact
                } else {
                    // Linked meanwhile by a concurrent message of the same sender.
                    self.store
                        .contact_by_identity(ws, channel, external_id)
                        .await?
                        .ok_or_else(|| Error::Invalid("identity vanished while linking".into()))?
                }
            }
        };

        let mut root = self.store.root_contact(ws, identity_contact).await?;
        let mut merged = false;
        for (kind, value) in &keys {
            if self
                .store
                .add_key(ws, identity_contact, *kind, value)
                .await?
            {
                continue;
            }
            let Some(owner) = self.store.contact_by_key(ws, *kind, value).await? else {
                continue;
            };
            let owner_root = self.store.root_contact(ws, owner).await?;
            if owner_root != root {
                // Both customers proved the same phone or address: one person. The older
                // contact survives, so their history stays where agents know it.
                let (survivor, other) = if owner_root < root {
                    (owner_root, root)
                } else {
                    (root, owner_root)
                };
                root = self.store.merge_contacts(ws, survivor, other).await?;
                merged = true;
                tracing::info!(workspace = %ws, survivor = %survivor, merged = %other, key = kind.as_str(), "contacts merged on a verified key");
            }
        }
        if !created {
            self.store
                .fill_contact_profile(ws, identity_contact, &profile)
                .await?;
        }
        Ok(Resolved {
            contact: root,
            identity_contact,
            created,
            merged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_us_number_in_three_spellings_normalises_to_one() {
        for raw in ["+1 415 555 0142", "(415) 555-0142", "14155550142"] {
            assert_eq!(
                normalize_phone(raw, "US").as_deref(),
                Some("+14155550142"),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_number_one_digit_off_is_a_different_number() {
        assert_ne!(
            normalize_phone("+1 415 555 0143", "US"),
            normalize_phone("+1 415 555 0142", "US")
        );
    }

    #[test]
    fn whatsapp_ids_of_other_countries_keep_their_country() {
        assert_eq!(
            normalize_phone("447911123456", "US").as_deref(),
            Some("+447911123456")
        );
        assert_eq!(
            normalize_phone("5511987654321", "US").as_deref(),
            Some("+5511987654321")
        );
    }

    #[test]
    fn numbers_in_fictional_ranges_still_normalise() {
        assert_eq!(
            normalize_phone("+44 7700 900123", "US").as_deref(),
            Some("+447700900123")
        );
        assert_eq!(
            normalize_phone("447700900123", "GB").as_deref(),
            Some("+447700900123")
        );
    }

    #[test]
    fn garbage_is_not_a_phone_number() {
        assert_eq!(normalize_phone("call me", "US"), None);
        assert_eq!(normalize_phone("12", "US"), None);
        assert_eq!(
            normalize_phone("+999 1234 5678", "US"),
            None,
            "no such country"
        );
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_email(" <Ana@Example.COM> ").as_deref(),
            Some("ana@example.com")
        );
        assert_eq!(normalize_email("ana@localhost"), None);
        assert_eq!(normalize_email("not an email"), None);
    }

    #[test]
    fn a_signature_verifies_only_with_the_same_secret_and_fields() {
        let signed = SignedIdentity::sign("s3cret", Some("u-1"), Some("ana@example.com"), None);
        assert!(signed.verify("s3cret").is_ok());
        assert!(signed.verify("other").is_err());
        let mut forged = signed.clone();
        forged.email = Some("bob@example.com".into());
        assert!(forged.verify("s3cret").is_err());
        let unsigned = SignedIdentity {
            signature: String::new(),
            ..signed
        };
        assert!(unsigned.verify("s3cret").is_err());
    }
}

/// A customer as a test describes them: the playground, `rapport ask` and the scenario
/// evaluations play customers on any channel with these.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct SimulatedCustomer {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub instagram_id: Option<String>,
    pub name: Option<String>,
}

/// The identity claim a channel would make for a simulated customer. WhatsApp proves the phone,
/// the e-mail channel the sender's address, a signed web identity what it signs (signed here
/// with `secret`, as the business's site would); an unsigned web visitor is known only by a
/// visitor id made of what describes them, stable across calls.
pub fn simulated_claim(
    channel: Channel,
    id: &SimulatedCustomer,
    signed: bool,
    secret: &str,
    region: &str,
) -> Result<IdentityClaim> {
    let invalid = |m: String| Error::Invalid(m);
    let mut claim = IdentityClaim {
        channel: Some(channel),
        name: id.name.clone(),
        ..IdentityClaim::default()
    };
    match channel {
        Channel::Whatsapp => {
            let phone = id
                .phone
                .as_deref()
                .ok_or_else(|| invalid("a WhatsApp customer needs a phone number".into()))?;
            let e164 = normalize_phone(phone, region)
                .ok_or_else(|| invalid(format!("{phone:?} is not a valid phone number")))?;
            claim.external_id = e164.trim_start_matches('+').to_owned();
            claim.verified_phone = Some(e164);
        }
        Channel::Email => {
            let email = id
                .email
                .as_deref()
                .ok_or_else(|| invalid("an e-mail customer needs an address".into()))?;
            let email = normalize_email(email)
                .ok_or_else(|| invalid(format!("{email:?} is not an e-mail address")))?;
            claim.external_id = email.clone();
            claim.verified_email = Some(email);
        }
        Channel::Instagram => {
            claim.external_id = id
                .instagram_id
                .clone()
                .ok_or_else(|| invalid("an Instagram customer needs an Instagram id".into()))?;
        }
        Channel::Web | Channel::Api => {
            let key = [&id.email, &id.phone, &id.instagram_id, &id.name]
                .into_iter()
                .flatten()
                .map(|s| s.trim().to_lowercase())
                .collect::<Vec<_>>()
                .join("|");
            if key.is_empty() {
                return Err(invalid(
                    "give the customer an identity: a phone, an e-mail or a name".into(),
                ));
            }
            if signed {
                let identity = SignedIdentity::sign(
                    secret,
                    Some(&key),
                    id.email.as_deref(),
                    id.phone.as_deref(),
                );
                identity.verify(secret)?;
                claim.external_id = format!("user:{key}");
                claim.verified_email = identity.email;
                claim.verified_phone = identity.phone;
            } else {
                claim.external_id = format!("visitor:{key}");
                claim.email_hint = id.email.clone();
                claim.phone_hint = id.phone.clone();
            }
        }
    }
    Ok(claim)
}
