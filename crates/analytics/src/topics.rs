//! Top unanswered topics: the questions the bot could not answer, grouped by meaning, biggest
//! group first — what to add to the knowledge next. Grouping is a single pass: a question
//! joins the group whose centre it is closest to, if close enough, else starts a new one.

use serde::Serialize;

/// One group of similar unanswered questions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    /// The question closest to the group's centre.
    pub label: String,
    pub count: usize,
    /// Up to five of its questions, as customers wrote them.
    pub examples: Vec<String>,
    /// The channels they came from, most frequent first.
    pub channels: Vec<String>,
}

struct Group {
    sum: Vec<f32>,
    members: Vec<usize>,
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Groups `(question, channel)` pairs by their `vectors` (one per question, same order);
/// questions at least `threshold` similar to a group's centre join it.
pub fn topics(questions: &[(String, String)], vectors: &[Vec<f32>], threshold: f32) -> Vec<Topic> {
    let mut groups: Vec<Group> = Vec::new();
    for (i, v) in vectors.iter().enumerate().take(questions.len()) {
        let best = groups
            .iter()
            .enumerate()
            .map(|(g, group)| (g, cosine(v, &group.sum)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((g, sim)) if sim >= threshold => {
                let group = &mut groups[g];
                for (s, x) in group.sum.iter_mut().zip(v) {
                    *s += x;
                }
                group.members.push(i);
            }
            _ => groups.push(Group {
                sum: v.clone(),
                members: vec![i],
            }),
        }
    }
    let mut out: Vec<Topic> = groups
        .into_iter()
        .map(|g| {
            let label = g
                .members
                .iter()
                .max_by(|a, b| {
                    cosine(&vectors[**a], &g.sum).total_cmp(&cosine(&vectors[**b], &g.sum))
                })
                .map(|i| questions[*i].0.clone())
                .unwrap_or_default();
            let mut channels: Vec<(String, usize)> = Vec::new();
            for i in &g.members {
                let ch = &questions[*i].1;
                match channels.iter_mut().find(|(c, _)| c == ch) {
                    Some((_, n)) => *n += 1,
                    None => channels.push((ch.clone(), 1)),
                }
            }
            channels.sort_by_key(|c| std::cmp::Reverse(c.1));
            Topic {
                label,
                count: g.members.len(),
                examples: g
                    .members
                    .iter()
                    .take(5)
                    .map(|i| questions[*i].0.clone())
                    .collect(),
                channels: channels.into_iter().map(|(c, _)| c).collect(),
            }
        })
        .collect();
    out.sort_by_key(|t| std::cmp::Reverse(t.count));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_questions_group_and_the_biggest_group_comes_first() {
        let q = |t: &str, ch: &str| (t.to_owned(), ch.to_owned());
        let questions = vec![
            q("can I pay with PayPal?", "web"),
            q("do you support Viber?", "whatsapp"),
            q("paypal accepted?", "whatsapp"),
            q("PayPal checkout possible?", "web"),
        ];
        let vectors = vec![
            vec![1.0, 0.1, 0.0],
            vec![0.0, 0.2, 1.0],
            vec![0.9, 0.2, 0.0],
            vec![1.0, 0.0, 0.1],
        ];
        let t = topics(&questions, &vectors, 0.8);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].count, 3);
        assert_eq!(t[0].channels, vec!["web", "whatsapp"]);
        assert!(t[0].label.to_lowercase().contains("paypal"));
        assert_eq!(t[1].examples, vec!["do you support Viber?"]);
        assert!(topics(&[], &[], 0.8).is_empty());
    }
}
