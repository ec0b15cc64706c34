//! robots.txt (RFC 9309), so the crawler goes only where the site owner lets crawlers go.
//!
//! The file is small and the format forgiving, so this is a tolerant line parser rather than a
//! dependency: unknown lines are ignored, the group for our own product token wins over `*`,
//! rules match by longest pattern with `*` and `$` wildcards, and an `Allow` beats a `Disallow`
//! of the same length.

use std::time::Duration;

use url::Url;

use super::glob_match;

/// The rules of robots.txt that apply to one crawler.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Robots {
    rules: Vec<Rule>,
    crawl_delay: Option<Duration>,
    sitemaps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    allow: bool,
    /// The pattern as written, whose length ranks the rule.
    len: usize,
    /// The pattern as a whole-path glob: `$` removed, or a trailing `*` added when the pattern
    /// is a prefix.
    glob: Vec<u8>,
}

#[derive(Default)]
struct Group {
    agents: Vec<String>,
    rules: Vec<Rule>,
    delay: Option<f64>,
}

impl Robots {
    /// No robots.txt (or a 4xx for it): everything is allowed.
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// The rules of `text` for the crawler whose product token is `agent` (lowercase, e.g.
    /// `rapportbot`): its own groups if any name it, else the `*` groups.
    pub fn parse(text: &str, agent: &str) -> Self {
        let mut groups: Vec<Group> = Vec::new();
        let mut sitemaps = Vec::new();
        // A run of user-agent lines opens one group; the first rule line closes the run.
        let mut in_agent_run = false;
        for line in text.trim_start_matches('\u{feff}').lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "user-agent" => {
                    if !in_agent_run || groups.is_empty() {
                        groups.push(Group::default());
                    }
                    if let Some(group) = groups.last_mut() {
                        // "RapportBot/0.1" names the product token "rapportbot".
                        let token = value.split('/').next().unwrap_or("").trim();
                        group.agents.push(token.to_ascii_lowercase());
                    }
                    in_agent_run = true;
                }
                key @ ("allow" | "disallow") => {
                    in_agent_run = false;
                    // An empty Disallow allows everything: no rule.
                    if let (Some(group), false) = (groups.last_mut(), value.is_empty()) {
                        group.rules.push(Rule::new(key == "allow", value));
                    }
                }
                "crawl-delay" => {
                    in_agent_run = false;
                    if let Some(group) = groups.last_mut() {
                        group.delay = value
                            .parse::<f64>()
                            .ok()
                            .filter(|d| d.is_finite() && *d >= 0.0);
                    }
                }
                "sitemap" if !value.is_empty() => sitemaps.push(value.to_owned()),
                _ => {}
            }
        }
        let ours = |g: &&Group| g.agents.iter().any(|a| a == agent);
        let any = |g: &&Group| g.agents.iter().any(|a| a == "*");
        let chosen: Vec<&Group> = if groups.iter().any(|g| ours(&g)) {
            groups.iter().filter(ours).collect()
        } else {
            groups.iter().filter(any).collect()
        };
        Self {
            rules: chosen.iter().flat_map(|g| g.rules.clone()).collect(),
            crawl_delay: chosen
                .iter()
                .filter_map(|g| g.delay)
                .reduce(f64::max)
                .and_then(|d| Duration::try_from_secs_f64(d).ok()),
            sitemaps,
        }
    }

    /// Whether the crawler may fetch `url`.
    pub fn allowed(&self, url: &Url) -> bool {
        let mut target = url.path().to_owned();
        if target == "/robots.txt" {
            return true;
        }
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let mut best: Option<&Rule> = None;
        for rule in &self.rules {
            if !glob_match(&rule.glob, target.as_bytes()) {
                continue;
            }
            best = match best {
                Some(b) if b.len > rule.len || (b.len == rule.len && b.allow) => Some(b),
                _ => Some(rule),
            };
        }
        best.is_none_or(|r| r.allow)
    }

    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay
    }

    /// `Sitemap:` lines, as written (they apply to every crawler).
    pub fn sitemaps(&self) -> &[String] {
        &self.sitemaps
    }
}

impl Rule {
    fn new(allow: bool, pattern: &str) -> Self {
        // URL paths arrive percent-encoded; patterns are often written with raw UTF-8.
        let mut encoded = String::with_capacity(pattern.len());
        for byte in pattern.bytes() {
            if byte.is_ascii() {
                encoded.push(char::from(byte));
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        let mut glob = encoded.into_bytes();
        match glob.last() {
            Some(b'$') => {
                glob.pop();
            }
            _ => glob.push(b'*'),
        }
        Self {
            allow,
            len: pattern.len(),
            glob,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(robots: &Robots, path: &str) -> bool {
        robots.allowed(&Url::parse(&format!("https://help.example{path}")).unwrap())
    }

    #[test]
    fn star_group_applies_when_ours_is_absent() {
        let r = Robots::parse(
            "User-agent: *\nDisallow: /private/\n\nUser-agent: OtherBot\nDisallow: /\n",
            "rapportbot",
        );
        assert!(!allowed(&r, "/private/x"));
        assert!(allowed(&r, "/private"));
        assert!(allowed(&r, "/public"));
    }

    #[test]
    fn our_group_wins_over_star_and_groups_merge() {
        let text = "User-agent: *\nDisallow: /\n\n\
                    User-agent: GoogleBot\nUser-agent: RapportBot/0.1\nDisallow: /drafts/\n\n\
                    User-agent: rapportbot\nDisallow: /tmp\nCrawl-delay: 2.5\n";
        let r = Robots::parse(text, "rapportbot");
        assert!(allowed(&r, "/docs"));
        assert!(!allowed(&r, "/drafts/a"));
        assert!(!allowed(&r, "/tmp/a"));
        assert_eq!(r.crawl_delay(), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn longest_match_wins_and_allow_wins_ties() {
        let r = Robots::parse(
            "User-agent: *\nDisallow: /docs/\nAllow: /docs/public/\nAllow: /page\nDisallow: /page\n",
            "rapportbot",
        );
        assert!(!allowed(&r, "/docs/secret"));
        assert!(allowed(&r, "/docs/public/a"));
        assert!(allowed(&r, "/page"));
    }

    #[test]
    fn wildcards_and_end_anchors() {
        let r = Robots::parse(
            "User-agent: *\nDisallow: /*.pdf$\nDisallow: /*?session=\nDisallow: /exact$\n",
            "rapportbot",
        );
        assert!(!allowed(&r, "/files/a.pdf"));
        assert!(allowed(&r, "/files/a.pdf?x=1"));
        assert!(!allowed(&r, "/search?session=1"));
        assert!(allowed(&r, "/search?q=1"));
        assert!(!allowed(&r, "/exact"));
        assert!(allowed(&r, "/exact/more"));
    }

    #[test]
    fn empty_disallow_comments_sitemaps_and_junk() {
        let text = "\u{feff}# hello\nUser-agent: * # everyone\nDisallow:\nnonsense line\n\
                    Sitemap: https://help.example/sitemap.xml\nCrawl-delay: soon\n";
        let r = Robots::parse(text, "rapportbot");
        assert!(allowed(&r, "/anything"));
        assert_eq!(r.sitemaps(), ["https://help.example/sitemap.xml"]);
        assert_eq!(r.crawl_delay(), None);
        assert!(allowed(&Robots::parse("", "rapportbot"), "/x"));
    }

    #[test]
    fn robots_txt_itself_is_always_allowed_and_utf8_patterns_match() {
        let r = Robots::parse(
            "User-agent: *\nDisallow: /\nDisallow: /café\n",
            "rapportbot",
        );
        assert!(allowed(&r, "/robots.txt"));
        let r = Robots::parse("User-agent: *\nDisallow: /café\n", "rapportbot");
        assert!(!allowed(&r, "/café/menu"));
        assert!(allowed(&r, "/cafe"));
    }

    #[test]
    fn rules_before_any_user_agent_are_ignored() {
        let r = Robots::parse("Disallow: /\nUser-agent: *\nDisallow: /x\n", "rapportbot");
        assert!(allowed(&r, "/y"));
        assert!(!allowed(&r, "/x"));
    }
}
