//! Topic names and topic filters: validation, matching and containment.
//!
//! A *topic name* is what a PUBLISH carries (no wildcards); a *topic filter*
//! is what a SUBSCRIBE carries (`+` for one level, `#` for the rest, and the
//! MQTT 5 shared form `$share/{group}/{filter}`). The broker validates every
//! name and filter it receives with [`validate_topic_name`] /
//! [`validate_topic_filter`], routes with [`matches`], and authorises a
//! subscription with [`filter_contains`]: a filter is granted only if every
//! topic it can ever match lies inside a tree the client may read.
//!
//! Matching works level by level on `/`-separated levels, without allocating.
//! Topics whose first character is `$` (e.g. `$SYS/...`) are never matched by a
//! filter starting with a wildcard ([MQTT-4.7.2-1]), so `#` does not leak
//! broker internals to ordinary subscribers.

use thiserror::Error;

/// The longest topic name or filter an MQTT UTF-8 string can carry, in bytes.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// The prefix of an MQTT 5 shared subscription filter (§4.8.2 of the 5.0 specification).
pub const SHARED_PREFIX: &str = "$share/";

/// Why a topic name or topic filter is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum TopicError {
    /// The name or filter is the empty string.
    #[error("[MQTT-4.7.3-1] topic names and filters must be at least one character long")]
    Empty,
    /// Longer than 65,535 bytes.
    #[error("[MQTT-4.7.3-3] topic names and filters must not encode to more than 65,535 bytes")]
    TooLong,
    /// Contains U+0000.
    #[error("[MQTT-4.7.3-2] topic names and filters must not include the null character U+0000")]
    NulChar,
    /// A topic name (PUBLISH) contains `+` or `#`.
    #[error("[MQTT-3.3.2-2] the topic name in a PUBLISH must not contain wildcard characters")]
    WildcardInName,
    /// `#` that is not alone and last in the filter, or `+` that is not alone in its level.
    #[error(
        "[MQTT-4.7.1-2] '#' must be alone in the last level, [MQTT-4.7.1-3] '+' must occupy an entire level"
    )]
    InvalidWildcard,
    /// A `$share/...` filter without a valid share name or without a filter after it.
    #[error(
        "[MQTT-4.8.2-1] a shared subscription needs a share name of at least one character \
         [MQTT-4.8.2-2] without '/', '+' or '#', followed by '/' and a topic filter"
    )]
    InvalidSharedSubscription,
}

/// Checks the rules common to names and filters: non-empty, short enough, no U+0000.
fn validate_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if s.as_bytes().contains(&0) {
        return Err(TopicError::NulChar);
    }
    Ok(())
}

/// Validates a topic name as carried by PUBLISH (or a will): non-empty, at most
/// 65,535 bytes, no U+0000, no `+` or `#`.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    validate_common(topic)?;
    if topic.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Validates a topic filter as carried by SUBSCRIBE or UNSUBSCRIBE, including
/// the shared form `$share/{group}/{filter}` (group non-empty, without `+ # /`).
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    validate_common(filter)?;
    if let Some(rest) = filter.strip_prefix(SHARED_PREFIX) {
        let Some((group, inner)) = rest.split_once('/') else {
            return Err(TopicError::InvalidSharedSubscription);
        };
        if group.is_empty() || group.bytes().any(|b| b == b'+' || b == b'#') || inner.is_empty() {
            return Err(TopicError::InvalidSharedSubscription);
        }
        return validate_filter_levels(inner);
    }
    // "$share" alone or "$share/" without a group is not a filter one could mean
    // literally: the prefix is reserved for shared subscriptions.
    if filter == "$share" {
        return Err(TopicError::InvalidSharedSubscription);
    }
    validate_filter_levels(filter)
}

/// Checks wildcard placement level by level.
fn validate_filter_levels(filter: &str) -> Result<(), TopicError> {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        match level {
            "+" => {}
            "#" if levels.peek().is_none() => {}
            _ if level.bytes().any(|b| b == b'+' || b == b'#') => {
                return Err(TopicError::InvalidWildcard);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Splits a shared subscription filter into its share name and inner filter:
/// `"$share/g/a/b"` gives `Some(("g", "a/b"))`. `None` for non-shared filters
/// and for a `$share/` prefix without a non-empty group followed by `/`.
/// It does not validate the inner filter; use [`validate_topic_filter`] for that.
pub fn split_shared(filter: &str) -> Option<(&str, &str)> {
    let rest = filter.strip_prefix(SHARED_PREFIX)?;
    let (group, inner) = rest.split_once('/')?;
    if group.is_empty() {
        return None;
    }
    Some((group, inner))
}

/// The filter that decides which topics a (possibly shared) filter matches.
fn effective_filter(filter: &str) -> &str {
    split_shared(filter).map_or(filter, |(_, inner)| inner)
}

/// True when the first level of `filter` is a wildcard, which by [MQTT-4.7.2-1]
/// never matches a topic starting with `$`.
fn starts_with_wildcard(filter: &str) -> bool {
    matches!(filter.as_bytes().first(), Some(b'+' | b'#'))
}

/// Whether `topic` (a valid topic name) is matched by `filter` (a valid topic filter).
///
/// A shared filter `$share/g/f` matches what `f` matches. `#` also matches the
/// parent level (`a/#` matches `a`) ([MQTT-4.7.1-2]). A filter whose first
/// level is a wildcard never matches a topic starting with `$` ([MQTT-4.7.2-1]).
/// Invalid inputs give an unspecified answer but never panic.
pub fn matches(filter: &str, topic: &str) -> bool {
    let filter = effective_filter(filter);
    if topic.starts_with('$') && starts_with_wildcard(filter) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every topic matched by `inner` is also matched by `outer` (both valid filters).
///
/// This is the authorisation question "does this SUBSCRIBE lie inside a tree the
/// client may read": `a/#` contains `a/+/c` and `a`, `+/b` does not contain `#`,
/// and a filter starting with a wildcard never contains one that reaches `$` topics.
/// Shared prefixes are stripped from both sides first.
pub fn filter_contains(outer: &str, inner: &str) -> bool {
    let outer = effective_filter(outer);
    let inner = effective_filter(inner);
    // `inner` reaches `$` topics only through a literal first level starting with
    // '$', and those are exactly the topics a wildcard-first `outer` cannot reach.
    if inner.starts_with('$') && starts_with_wildcard(outer) {
        return false;
    }
    // A lone '#' matches every topic with at least one level, and so does "+/#"
    // (its '#' also matches the parent level); the level walk below cannot see that.
    if inner == "#" {
        return outer == "#" || outer == "+/#";
    }
    let mut o = outer.split('/');
    let mut i = inner.split('/');
    loop {
        match (o.next(), i.next()) {
            // '#' covers any remainder, including the parent level itself.
            (Some("#"), _) => return true,
            // An inner '#' reaches every depth below; only an outer '#' covers that.
            (_, Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(_), Some("+")) => return false,
            (Some(ol), Some(il)) if ol == il => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn topic_names_accept_plain_levels_including_empty_ones() {
        for ok in [
            "a",
            "a/b",
            "/",
            "a//b",
            "/a",
            "$SYS/x",
            "sport/tennis/player1",
            " ",
        ] {
            assert_eq!(validate_topic_name(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn topic_names_reject_empty_nul_wildcards_and_overlong() {
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_name("a\0b"), Err(TopicError::NulChar));
        assert_eq!(validate_topic_name("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a+b"), Err(TopicError::WildcardInName));
        let long = "a".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(validate_topic_name(&long), Err(TopicError::TooLong));
        assert_eq!(validate_topic_name(&long[..MAX_TOPIC_LEN]), Ok(()));
    }

    #[test]
    fn topic_filters_accept_well_placed_wildcards() {
        for ok in [
            "#", "+", "a/#", "a/+", "+/+", "+/b/#", "/", "a//+", "$SYS/#", "+/", "/#",
        ] {
            assert_eq!(validate_topic_filter(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn topic_filters_reject_misplaced_wildcards() {
        for bad in [
            "a#", "a/#/b", "#/", "a+", "a/b+/c", "++", "##", "a/+b", "#/#",
        ] {
            assert_eq!(
                validate_topic_filter(bad),
                Err(TopicError::InvalidWildcard),
                "{bad:?}"
            );
        }
        assert_eq!(validate_topic_filter(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_filter("a/\0"), Err(TopicError::NulChar));
        let long = "a".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(validate_topic_filter(&long), Err(TopicError::TooLong));
    }

    #[test]
    fn shared_filters_need_a_group_without_wildcards_and_a_filter() {
        for ok in [
            "$share/g/a",
            "$share/g/#",
            "$share/group-1/+/b",
            "$share/g//",
        ] {
            assert_eq!(validate_topic_filter(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "$share",
            "$share/",
            "$share/g",
            "$share/g/",
            "$share//a",
            "$share/+/a",
            "$share/#/a",
            "$share/g+/a",
            "$share/#",
        ] {
            assert_eq!(
                validate_topic_filter(bad),
                Err(TopicError::InvalidSharedSubscription),
                "{bad:?}"
            );
        }
        assert_eq!(
            validate_topic_filter("$share/g/a/#/b"),
            Err(TopicError::InvalidWildcard)
        );
        // Only the exact "$share/" prefix is special.
        assert_eq!(validate_topic_filter("$shared/a"), Ok(()));
    }

    #[test]
    fn split_shared_separates_group_and_filter() {
        assert_eq!(split_shared("$share/g/a/b"), Some(("g", "a/b")));
        assert_eq!(split_shared("$share/g/#"), Some(("g", "#")));
        assert_eq!(split_shared("$share/g/"), Some(("g", "")));
        assert_eq!(split_shared("$share/g"), None);
        assert_eq!(split_shared("$share//a"), None);
        assert_eq!(split_shared("a/b"), None);
        assert_eq!(split_shared("$SYS/x"), None);
    }

    #[test]
    fn matching_follows_the_specification_examples() {
        // §4.7.1.2 of the 5.0 specification.
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon"
        ));
        assert!(matches("sport/#", "sport"));
        // §4.7.1.3.
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(matches("sport/tennis/+", "sport/tennis/player2"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(!matches("a/b", "a"));
        assert!(!matches("a", "a/b"));
        assert!(matches("#", "a/b/c"));
    }

    #[test]
    fn wildcard_first_filters_never_match_dollar_topics() {
        assert!(!matches("#", "$SYS/monitor/Clients"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
        assert!(!matches("$share/g/#", "$SYS/x"));
        // '$' only matters at the start of the topic.
        assert!(matches("#", "a/$b"));
        assert!(matches("+/+", "a/$b"));
    }

    #[test]
    fn shared_filters_match_like_their_inner_filter() {
        assert!(matches("$share/g/a/+", "a/b"));
        assert!(!matches("$share/g/a/+", "a/b/c"));
        assert!(matches("$share/g/#", "x"));
    }

    #[test]
    fn containment_examples() {
        assert!(filter_contains("#", "a/b"));
        assert!(filter_contains("#", "#"));
        assert!(filter_contains("a/#", "a"));
        assert!(filter_contains("a/#", "a/#"));
        assert!(filter_contains("a/#", "a/+/c"));
        assert!(filter_contains("a/+", "a/+"));
        assert!(filter_contains("a/+", "a/b"));
        assert!(filter_contains("+/b", "a/b"));
        assert!(!filter_contains("a/+", "a/#"));
        assert!(!filter_contains("a/+", "a"));
        assert!(!filter_contains("a/b", "a/+"));
        assert!(!filter_contains("+/b", "#"));
        assert!(!filter_contains("a/#", "b"));
        assert!(!filter_contains("a/#", "+/x"));
        assert!(!filter_contains("#", "$SYS/x"));
        assert!(!filter_contains("+/x", "$SYS/x"));
        assert!(filter_contains("$SYS/#", "$SYS/+"));
        assert!(filter_contains("a/#", "$share/g/a/b"));
        assert!(!filter_contains("a/#", "$share/g/b"));
    }

    /// Levels from a tiny alphabet so that random filters and topics collide often.
    fn topic_level() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("a"), Just("b"), Just(""), Just("$s")]
    }

    fn topic_name() -> impl Strategy<Value = String> {
        prop::collection::vec(topic_level(), 1..5)
            .prop_map(|levels| levels.join("/"))
            .prop_filter("topic names are non-empty", |t| !t.is_empty())
    }

    fn topic_filter() -> impl Strategy<Value = String> {
        let level = prop_oneof![
            3 => topic_level(),
            2 => Just("+"),
        ];
        (prop::collection::vec(level, 1..5), any::<bool>())
            .prop_map(|(levels, hash)| {
                let mut f = levels.join("/");
                if hash {
                    f.push_str("/#");
                }
                f
            })
            .prop_filter("topic filters are non-empty", |f| !f.is_empty())
    }

    proptest! {
        #[test]
        fn generated_names_and_filters_are_valid(t in topic_name(), f in topic_filter()) {
            prop_assert_eq!(validate_topic_name(&t), Ok(()));
            prop_assert_eq!(validate_topic_filter(&f), Ok(()));
        }

        #[test]
        fn a_topic_matches_itself_as_a_filter(t in topic_name()) {
            prop_assert!(matches(&t, &t));
            prop_assert!(filter_contains(&t, &t));
        }

        #[test]
        fn hash_matches_every_topic_not_starting_with_dollar(t in topic_name()) {
            prop_assert_eq!(matches("#", &t), !t.starts_with('$'));
        }

        #[test]
        fn containment_is_sound(a in topic_filter(), b in topic_filter(), t in topic_name()) {
            if filter_contains(&a, &b) && matches(&b, &t) {
                prop_assert!(matches(&a, &t), "{a} contains {b} which matches {t}");
            }
        }

        #[test]
        fn a_filter_contains_itself(f in topic_filter()) {
            prop_assert!(filter_contains(&f, &f));
            prop_assert_eq!(filter_contains("#", &f), !f.starts_with('$'));
        }

        #[test]
        fn shared_form_matches_like_the_inner_filter(f in topic_filter(), t in topic_name()) {
            let shared = format!("$share/g/{f}");
            prop_assert_eq!(validate_topic_filter(&shared), Ok(()));
            prop_assert_eq!(matches(&shared, &t), matches(&f, &t));
        }

        #[test]
        fn arbitrary_strings_never_panic(f in ".{0,40}", t in ".{0,40}") {
            let _ = validate_topic_name(&t);
            let _ = validate_topic_filter(&f);
            let _ = matches(&f, &t);
            let _ = filter_contains(&f, &t);
            let _ = split_shared(&f);
        }
    }

    /// All filters up to three levels over `{a, $s, +}` (plus a trailing `#`).
    fn small_filters() -> Vec<String> {
        let levels = ["a", "$s", "+"];
        let mut out = Vec::new();
        let mut frontier: Vec<String> = vec![String::new()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for l in levels {
                    let f = if prefix.is_empty() {
                        l.to_string()
                    } else {
                        format!("{prefix}/{l}")
                    };
                    next.push(f);
                }
            }
            out.extend(next.iter().cloned());
            frontier = next;
        }
        let with_hash: Vec<String> = out.iter().map(|f| format!("{f}/#")).collect();
        out.extend(with_hash);
        out.push("#".to_string());
        out
    }

    /// All topics up to four levels; `z` and `$z` stand for "any other level".
    fn small_topics() -> Vec<String> {
        let levels = ["a", "$s", "z", "$z"];
        let mut out = Vec::new();
        let mut frontier: Vec<String> = vec![String::new()];
        for depth in 0..4 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for l in levels {
                    next.push(if depth == 0 {
                        l.to_string()
                    } else {
                        format!("{prefix}/{l}")
                    });
                }
            }
            out.extend(next.iter().cloned());
            frontier = next;
        }
        out
    }

    /// Over this universe (every filter level plus fresh levels, one level deeper
    /// than any filter) brute-force containment equals true containment, so this
    /// checks `filter_contains` is complete as well as sound.
    #[test]
    fn containment_agrees_with_brute_force_over_a_small_universe() {
        let filters = small_filters();
        let topics = small_topics();
        for outer in &filters {
            for inner in &filters {
                let brute = topics
                    .iter()
                    .all(|t| !matches(inner, t) || matches(outer, t));
                assert_eq!(
                    filter_contains(outer, inner),
                    brute,
                    "outer {outer:?} inner {inner:?}"
                );
            }
        }
    }
}
