//! "Did you mean …?" suggestions for misspelt names (actions, components,
//! config keys, step ids).
//!
//! Distance is optimal-string-alignment (Levenshtein plus swapping two
//! neighbouring characters), compared case-insensitively. A candidate is
//! suggested only when it is close: at most one edit for words of up to five
//! characters, otherwise at most a third of the word's length (capped at 3).
//! The closest candidate wins; ties go to the one listed first.

/// Optimal-string-alignment distance between `a` and `b`, by characters.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rolling rows: i-2, i-1, i.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Largest distance at which `word` still gets a suggestion.
fn threshold(word: &str) -> usize {
    let len = word.chars().count();
    if len <= 5 { 1 } else { (len / 3).min(3) }
}

/// The candidate closest to `word`, if it is close enough (never `word`
/// itself).
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_lowercase();
    let max = threshold(word);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let d = distance(&lower, &candidate.to_lowercase());
        if d <= max && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `"; did you mean 'x'?"` when a close candidate exists, else, when there
/// are few candidates (up to 8), `"; known: 'a', 'b'"`, else `""`. Meant to be
/// appended to an error message.
pub fn hint<'a, I>(word: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: Clone,
{
    let candidates = candidates.into_iter();
    if let Some(best) = closest(word, candidates.clone()) {
        return format!("; did you mean '{best}'?");
    }
    let all: Vec<&str> = candidates.collect();
    if all.is_empty() || all.len() > 8 {
        return String::new();
    }
    let list = all
        .iter()
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("; known: {list}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("chek-inventory", "check-inventory"), 1);
        assert_eq!(distance("acme_api_kye", "acme_api_key"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        let actions = ["check-inventory", "create-webhook", "list-orders"];
        assert_eq!(
            closest("chek-inventory", actions.iter().copied()),
            Some("check-inventory")
        );
        assert_eq!(closest("delete-everything", actions.iter().copied()), None);
        assert_eq!(
            closest("Check-Inventory", actions.iter().copied()),
            Some("check-inventory")
        );
        assert_eq!(closest("ab", ["xy"].into_iter()), None);
        assert_eq!(
            closest("stps", ["steps", "trigger"].into_iter()),
            Some("steps")
        );
        assert_eq!(
            hint("zzz", actions.iter().copied()),
            "; known: 'check-inventory', 'create-webhook', 'list-orders'"
        );
        assert_eq!(
            hint("list-order", actions.iter().copied()),
            "; did you mean 'list-orders'?"
        );
        assert_eq!(hint("zzz", std::iter::empty()), "");
    }
}
