//! The help list and the "Unknown command" answer, as HAProxy 2.6's
//! `cli_gen_usage_msg` builds them: commands matching the words typed,
//! or the closest ones by word fingerprint, or all of them.

use super::command::{Keyword, arg};

/// Most commands HAProxy proposes as close matches (`CLI_MAX_MATCHES`).
const MAX_MATCHES: usize = 5;
/// Most leading words a keyword has (`CLI_PREFIX_KW_NB`).
const MAX_KW_WORDS: usize = 5;

/// The lines every help list ends with.
const ALWAYS: &str = "  help [<command>]                        : list matching or all commands\n  \
                      prompt                                  : toggle interactive mode with prompt\n  \
                      quit                                    : disconnect\n";

/// The answer to `help <words>` (`help` true, `words` after `help`) or to
/// an unknown command (`help` false, `words` all of the request's), over
/// the commands of `keywords`.
pub(crate) fn message(keywords: &[Keyword], words: &[Vec<u8>], help: bool) -> Vec<u8> {
    let a = |i| arg(words, i);
    // How many leading words some keyword matches exactly.
    let mut length = 0;
    for k in keywords {
        length = length.max(leading_matches(k, words, MAX_KW_WORDS));
    }
    let mut out: Vec<u8> = Vec::new();
    out.extend_from_slice(if help {
        b"The following commands are valid at this level:\n"
    } else if length == 0 && a(0).is_empty() {
        b"Unknown command. Please enter one of the following commands only:\n"
    } else {
        b"Unknown command, but maybe one of the following ones is a better match:\n"
    });

    let mut matches: [(Option<&Keyword>, i64); MAX_MATCHES] = [(None, i64::MAX); MAX_MATCHES];
    if !a(length).is_empty() {
        for k in keywords {
            if k.usage.is_none() || leading_matches(k, words, length) != length {
                continue;
            }
            let mut typed = Fingerprint::new();
            let mut listed = Fingerprint::new();
            let mut total = 0i64;
            for word in (length..MAX_KW_WORDS).map(a).take_while(|w| !w.is_empty()) {
                typed.add(word);
                total += word.len() as i64;
            }
            for word in k.words.iter().skip(length).take(MAX_KW_WORDS - length) {
                listed.add(word.as_bytes());
                total += word.len() as i64;
            }
            let dist = typed.distance(&listed);
            if dist < 5 * total / 2 && dist < matches[MAX_MATCHES - 1].1 {
                matches[MAX_MATCHES - 1] = (Some(k), dist);
                let mut i = MAX_MATCHES - 1;
                while i > 0 && matches[i].1 < matches[i - 1].1 {
                    matches.swap(i, i - 1);
                    i -= 1;
                }
            }
        }
    }

    let mut entries: Vec<&str> = Vec::new();
    if let (Some(_), best) = matches[0] {
        for (k, dist) in matches {
            let Some(k) = k else { break };
            if dist > 5 * best / 2 {
                break;
            }
            entries.extend(k.usage);
        }
    } else {
        for k in keywords {
            if leading_matches(k, words, length) == length {
                entries.extend(k.usage);
            }
        }
    }
    entries.sort_unstable();
    for usage in entries {
        out.extend_from_slice(b"  ");
        out.extend_from_slice(usage.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(ALWAYS.as_bytes());
    out
}

/// How many of the first `limit` words of `k` equal the typed words,
/// stopping at the first difference or at the end of either.
fn leading_matches(k: &Keyword, words: &[Vec<u8>], limit: usize) -> usize {
    k.words
        .iter()
        .take(limit)
        .enumerate()
        .take_while(|&(i, w)| {
            let typed = arg(words, i);
            !typed.is_empty() && typed == w.as_bytes()
        })
        .count()
}

/// HAProxy's word fingerprint (`update_word_fingerprint`): which letter
/// classes occur, and how often each class follows each other one.
struct Fingerprint([u8; 1024]);

impl Fingerprint {
    fn new() -> Self {
        Fingerprint([0; 1024])
    }

    fn add(&mut self, word: &[u8]) {
        let class = |b: u8| match b {
            b'a'..=b'z' => usize::from(b - b'a') + 1,
            b'A'..=b'Z' => usize::from(b - b'A') + 1,
            b'0'..=b'9' => 27,
            _ => 28,
        };
        let mut from = 28;
        for &b in word {
            let to = class(b);
            self.0[to] = 1;
            self.0[32 * from + to] = self.0[32 * from + to].wrapping_add(1);
            from = to;
        }
        self.0[32 * from + 28] = self.0[32 * from + 28].wrapping_add(1);
    }

    fn distance(&self, other: &Fingerprint) -> i64 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(&a, &b)| i64::from(a.abs_diff(b)))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::command::{KEYWORDS, Kind};
    use super::*;

    /// HAProxy 2.6.12's whole command list (`help` on an admin socket) in
    /// HAProxy's registration order (ties between equally close commands
    /// go to the first registered), and its answers to a few requests: the
    /// same algorithm over the same list must give the same bytes.
    const HAPROXY_KEYWORDS: &str = include_str!("golden/haproxy-2.6-keywords.txt");
    const HAPROXY_ANSWERS: &str = include_str!("golden/haproxy-2.6-usage-answers.txt");

    /// HAProxy's keywords, rebuilt from its help list: the leading words
    /// of each usage line, plus the commands it registers without one.
    fn haproxy_keywords() -> Vec<Keyword> {
        let mut keywords: Vec<Keyword> = HAPROXY_KEYWORDS
            .lines()
            .skip(1)
            .map(|l| {
                let usage: &'static str = Box::leak(l[2..].to_owned().into_boxed_str());
                let words: Vec<&'static str> = usage
                    .split(' ')
                    .take_while(|w| !w.is_empty() && !w.starts_with(['<', '[', '{', '(', ':', '@']))
                    .map(|w| w.trim_end_matches(':'))
                    .collect();
                Keyword {
                    words: Box::leak(words.into_boxed_slice()),
                    usage: Some(usage),
                    kind: Kind::ShowBackend,
                }
            })
            .collect();
        for hidden in [
            "help",
            "prompt",
            "quit",
            "_getsocks",
            "expert-mode",
            "experimental-mode",
        ] {
            keywords.push(Keyword {
                words: Box::leak(vec![hidden].into_boxed_slice()),
                usage: None,
                kind: Kind::Help,
            });
        }
        keywords
    }

    #[test]
    fn the_algorithm_gives_haproxys_answers_over_haproxys_list() {
        let keywords = haproxy_keywords();
        let mut checked = 0;
        for case in HAPROXY_ANSWERS.split("=== ").filter(|c| !c.is_empty()) {
            let (request, answer) = case.split_once('\n').expect("request line");
            let words = super::super::words::split(request.as_bytes());
            let help = words.first().is_some_and(|w| w == b"help");
            let words = if help { &words[1..] } else { &words[..] };
            let ours = message(&keywords, words, help);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                answer,
                "request {request:?}"
            );
            checked += 1;
        }
        assert!(checked >= 6);
    }

    #[test]
    fn weirs_help_lists_its_commands_sorted() {
        let help = String::from_utf8(message(KEYWORDS, &[], true)).unwrap();
        let lines: Vec<&str> = help.lines().collect();
        assert_eq!(lines[0], "The following commands are valid at this level:");
        assert_eq!(
            lines[1],
            "  clear counters [all]                    : clear max statistics counters (or all counters)"
        );
        let listed = &lines[1..lines.len() - 3];
        assert!(listed.is_sorted());
        assert_eq!(
            listed.len(),
            KEYWORDS.iter().filter(|k| k.usage.is_some()).count()
        );
        assert!(help.ends_with(ALWAYS));
    }

    #[test]
    fn a_typo_gets_the_closest_commands() {
        let words = super::super::words::split(b"shwo stat");
        let answer = String::from_utf8(message(KEYWORDS, &words, false)).unwrap();
        assert!(answer.starts_with("Unknown command, but maybe"));
        assert!(answer.contains("\n  show stat [desc"));
        assert!(!answer.contains("clear counters"));
    }
}
