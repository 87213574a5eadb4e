//! How market values read on a page: plans and prices, times, rates, what is left of a
//! purchase. Plain strings, so that templates stay simple and every page says it the same
//! way.

use agora_market::{Plan, Purchase, PurchaseState};
use time::OffsetDateTime;

/// "Free", "12.50 per 30 days", "1.00 per 1,000 messages".
pub fn plan(p: &Plan) -> String {
    match p {
        Plan::Free => "Free".into(),
        Plan::Period { days, price } => {
            format!("{price} per {}", plural(u64::from(*days), "day", "days"))
        }
        Plan::Messages { count, price } => {
            format!("{price} per {}", plural(*count, "message", "messages"))
        }
    }
}

/// A money amount in cents: "12.50".
pub fn cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let c = c.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// "1 day", "3 days", "1,000 messages".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// "2026-12-03 07:05 UTC".
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// "just now", "12 s ago", "5 min ago", "3 h ago", "2 days ago".
pub fn ago(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let s = (now - t).whole_seconds();
    match s {
        i64::MIN..=1 => "just now".into(),
        2..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A duration in seconds for a person: "45 s", "12 min", "5 h", "3 days".
pub fn span(secs: i64) -> String {
    match secs {
        i64::MIN..=119 => format!("{} s", secs.max(0)),
        120..=7199 => format!("{} min", secs / 60),
        7200..=172_799 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

/// A message interval: "every 5 s", "every 2.5 s", "every 10 min".
pub fn rate(secs: f64) -> String {
    if !secs.is_finite() || secs <= 0.0 {
        return "—".into();
    }
    if secs < 10.0 {
        let r = (secs * 10.0).round() / 10.0;
        if (r - r.round()).abs() < f64::EPSILON {
            format!("every {r:.0} s")
        } else {
            format!("every {r:.1} s")
        }
    } else {
        // Rounded to whole seconds; the cast is of a finite positive value below 2^63.
        format!("every {}", span(secs.round() as i64))
    }
}

/// What is left of a purchase: "12 days left", "340 of 1,000 messages left", "ended".
pub fn left(p: &Purchase, now: OffsetDateTime) -> String {
    match p.state {
        PurchaseState::Pending => return "waiting for the seller".into(),
        PurchaseState::Active => {}
        _ => return "—".into(),
    }
    let mut parts = Vec::new();
    if let Some(end) = p.ends_at {
        parts.push(format!("{} left", span((end - now).whole_seconds())));
    }
    if let (Some(quota), Some(rest)) = (p.quota_messages, p.remaining_messages()) {
        parts.push(format!(
            "{} of {} left",
            thousands(rest),
            plural(quota, "message", "messages")
        ));
    }
    if parts.is_empty() {
        "no end".into()
    } else {
        parts.join(", ")
    }
}

/// Stars as text for a rating average: "★★★★☆ 4.2 (5)".
pub fn stars(avg: Option<f64>, count: u32) -> Option<String> {
    let avg = avg?;
    if count == 0 {
        return None;
    }
    // Clamped to 0..=5 first, so the cast cannot wrap.
    let full = avg.round().clamp(0.0, 5.0) as usize;
    Some(format!(
        "{}{} {avg:.1} ({count})",
        "★".repeat(full),
        "☆".repeat(5 - full)
    ))
}

/// Bytes for a person: "512 B", "3.4 KB", "12.0 MB".
pub fn bytes(n: u64) -> String {
    const K: f64 = 1000.0;
    // Precision loss above 2^53 bytes does not matter for a display.
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    if f < K {
        format!("{n} B")
    } else if f < K * K {
        format!("{:.1} KB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MB", f / K / K)
    } else {
        format!("{:.1} GB", f / K / K / K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_market::Price;

    #[test]
    fn plans_read_as_sentences() {
        assert_eq!(plan(&Plan::Free), "Free");
        let p = Price::from_cents(1250).unwrap_or_else(|_| unreachable!());
        assert_eq!(
            plan(&Plan::Period { days: 30, price: p }),
            "12.50 per 30 days"
        );
        assert_eq!(
            plan(&Plan::Messages {
                count: 1000,
                price: p
            }),
            "12.50 per 1,000 messages"
        );
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn rates_and_spans_round_for_people() {
        assert_eq!(rate(5.0), "every 5 s");
        assert_eq!(rate(2.46), "every 2.5 s");
        assert_eq!(rate(600.0), "every 10 min");
        assert_eq!(span(3 * 86_400), "3 days");
        assert_eq!(cents(-5), "-0.05");
    }
}
