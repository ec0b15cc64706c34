//! Reading sitemaps, the site owner's own list of pages — often the only way to reach pages no
//! menu links to.
//!
//! Only `<loc>` matters, so this scans the text instead of building a DOM: it survives the
//! malformed XML real sites serve, skips comments, unwraps CDATA and decodes entities. Plain-text
//! sitemaps (one URL a line) are read too.

/// What a sitemap lists.
#[derive(Debug, Clone, PartialEq)]
pub enum Sitemap {
    /// `<sitemapindex>`: further sitemaps.
    Index(Vec<String>),
    /// `<urlset>` (or a text sitemap): pages.
    Pages(Vec<String>),
}

pub fn parse(text: &str) -> Sitemap {
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if !text.starts_with('<') {
        let urls = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
            .map(str::to_owned)
            .collect();
        return Sitemap::Pages(urls);
    }
    let mut is_index = false;
    let mut locs = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let name_end = rest[1..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .map_or(rest.len(), |i| i + 1);
        let name = &rest[1..name_end];
        let tag_end = rest.find('>').map_or(rest.len(), |i| i + 1);
        let local = name.rsplit(':').next().unwrap_or(name);
        if local.eq_ignore_ascii_case("sitemapindex") {
            is_index = true;
        }
        // Only unprefixed <loc>: `image:loc` and friends name media, not pages.
        if name.eq_ignore_ascii_case("loc") && !rest[..tag_end].ends_with("/>") {
            let body = &rest[tag_end.min(rest.len())..];
            let end = find_ci(body, "</loc").unwrap_or(body.len());
            let loc = decode(&body[..end]);
            if !loc.is_empty() {
                locs.push(loc);
            }
            rest = &body[end..];
            // Step past `</loc` so the scan continues after it.
            rest = rest.get(1..).unwrap_or("");
            continue;
        }
        rest = &rest[tag_end.min(rest.len()).max(1)..];
    }
    if is_index {
        Sitemap::Index(locs)
    } else {
        Sitemap::Pages(locs)
    }
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The text of an element: CDATA unwrapped, entities decoded, whitespace trimmed.
fn decode(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(inner) = raw
        .strip_prefix("<![CDATA[")
        .and_then(|r| r.strip_suffix("]]>"))
    {
        return inner.trim().to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlset_gives_pages() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
                    xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
              <url><loc>https://help.example/a?x=1&amp;y=2</loc><lastmod>2024-01-01</lastmod></url>
              <url>
                <loc>
                  https://help.example/b
                </loc>
                <image:image><image:loc>https://help.example/b.png</image:loc></image:image>
              </url>
              <!-- <url><loc>https://help.example/commented</loc></url> -->
              <url><LOC><![CDATA[https://help.example/c]]></LOC></url>
            </urlset>"#;
        assert_eq!(
            parse(xml),
            Sitemap::Pages(vec![
                "https://help.example/a?x=1&y=2".into(),
                "https://help.example/b".into(),
                "https://help.example/c".into(),
            ])
        );
    }

    #[test]
    fn index_gives_sitemaps() {
        let xml = r#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <sitemap><loc>https://help.example/s1.xml</loc></sitemap>
            <sitemap><loc>https://help.example/s2.xml</loc></sitemap></sitemapindex>"#;
        assert_eq!(
            parse(xml),
            Sitemap::Index(vec![
                "https://help.example/s1.xml".into(),
                "https://help.example/s2.xml".into()
            ])
        );
    }

    #[test]
    fn text_sitemaps_and_garbage() {
        assert_eq!(
            parse("https://help.example/a\n\nnot a url\nhttp://help.example/b\n"),
            Sitemap::Pages(vec![
                "https://help.example/a".into(),
                "http://help.example/b".into()
            ])
        );
        for junk in [
            "",
            "<",
            "<loc>",
            "<loc>unterminated",
            "<urlset><url><loc/></url>",
            "<!-- open",
            "&&&;<loc>&#xZZ;&#99999999;</loc>",
            "<<<>>>",
            "<loc>é&amp</loc>",
        ] {
            let _ = parse(junk);
        }
        assert_eq!(
            parse("<urlset><loc>a&#38;b&#x26;c</loc></urlset>"),
            Sitemap::Pages(vec!["a&b&c".into()])
        );
    }
}
