//! SPEC §4 as pure functions over the [`Index`]: what each principal may
//! publish, subscribe to and receive. Deny by default: every function says
//! yes only on a path that names the right explicitly.
//!
//! With product topic `T` (owned by hub `H`):
//!
//! | principal | publish | receive |
//! |---|---|---|
//! | device of `H` | `T`, `T/…` but not `T/cmd/…` | `T/cmd`, `T/cmd/…` |
//! | buyer with a live purchase of `T` | `T/cmd…` if the product takes commands | `T`, `T/…` but not `T/cmd…` |
//! | the seller (account key) | `T/cmd…` | all of `T`'s tree |
//! | admin | everything | everything, `$SYS/#` |
//!
//! Products own exactly the first three topic levels (`owner/hub/name`, no
//! name may contain `/`), so finding the product of a topic or filter is one
//! split and one hash lookup, with no allocation.

use std::time::SystemTime;

use crate::index::{Index, ProductEntry};
use crate::principal::Principal;

/// Splits `topic` into its product part (`owner/hub/name`) and the rest
/// (`""` or `"/…"`). `None` when it has fewer than three levels.
pub fn split_product(topic: &str) -> Option<(&str, &str)> {
    let mut slashes = topic.match_indices('/').map(|(i, _)| i);
    let _first = slashes.next()?;
    let _second = slashes.next()?;
    match slashes.next() {
        Some(third) => Some((&topic[..third], &topic[third..])),
        None => Some((topic, "")),
    }
}

/// Whether the rest of a topic (after `T`) is in the command channel `T/cmd`, `T/cmd/…`.
pub fn is_command(rest: &str) -> bool {
    rest == "/cmd" || rest.starts_with("/cmd/")
}

fn has_wildcard(level_text: &str) -> bool {
    level_text.contains(['+', '#'])
}

/// The product a topic or filter lies in, if its first three levels name one literally.
fn product_of<'i, 't>(index: &'i Index, topic: &'t str) -> Option<(&'i ProductEntry, &'t str)> {
    let (t, rest) = split_product(topic)?;
    if has_wildcard(t) {
        return None;
    }
    Some((index.product(t)?, rest))
}

/// The product whose data a publication to `topic` is (not its command
/// channel), if any: what a device's allowed publication counts towards.
pub fn data_product<'i>(index: &'i Index, topic: &str) -> Option<&'i ProductEntry> {
    product_of(index, topic)
        .filter(|(_, rest)| !is_command(rest))
        .map(|(p, _)| p)
}

/// Whether `who` may publish to `topic` (a valid topic name).
pub fn may_publish(index: &Index, who: &Principal, topic: &str, now: SystemTime) -> bool {
    match who {
        Principal::Account { admin: true, .. } => true,
        Principal::Device {
            hub_id, owner_id, ..
        } => product_of(index, topic).is_some_and(|(p, rest)| {
            p.hub_id == *hub_id && !is_command(rest) && !index.is_suspended(*owner_id)
        }),
        Principal::Account {
            id, key_products, ..
        } => {
            let Some((p, rest)) = product_of(index, topic) else {
                return false;
            };
            if !is_command(rest) || index.is_suspended(*id) {
                return false;
            }
            if p.owner_id == *id {
                return true;
            }
            p.kind.takes_commands()
                && Principal::key_covers(key_products, p.id)
                && index.purchase(*id, p.id).is_some_and(|u| u.live_at(now))
        }
    }
}

/// Whether `who` may subscribe to `filter` (a valid filter, `$share/…` already stripped):
/// it must lie inside one tree `who` may read.
pub fn may_subscribe(index: &Index, who: &Principal, filter: &str, now: SystemTime) -> bool {
    match who {
        Principal::Account { admin: true, .. } => true,
        Principal::Device {
            hub_id, owner_id, ..
        } => {
            let Some((p, rest)) = product_of(index, filter) else {
                return false;
            };
            p.hub_id == *hub_id && is_command(rest) && !index.is_suspended(*owner_id)
        }
        Principal::Account {
            id, key_products, ..
        } => {
            let Some((p, rest)) = product_of(index, filter) else {
                return false;
            };
            if index.is_suspended(*id) {
                return false;
            }
            if p.owner_id == *id {
                return true;
            }
            // `T/#` and `T/+` are fine: deliveries of `T/cmd…` are filtered
            // one by one; a filter wholly inside the command channel is not.
            !is_command(rest)
                && Principal::key_covers(key_products, p.id)
                && index.purchase(*id, p.id).is_some_and(|u| u.live_at(now))
        }
    }
}

/// What a delivery check decided.
#[derive(Debug, Clone, Copy)]
pub enum Delivery<'a> {
    /// Send it; nothing to count.
    Free,
    /// Send it if the purchase's meter allows (a buyer's delivery).
    Metered(&'a crate::index::PurchaseEntry),
    /// Do not send it.
    Denied,
}

/// Whether `topic` may be delivered to `who`.
pub fn may_receive<'a>(
    index: &'a Index,
    who: &Principal,
    topic: &str,
    now: SystemTime,
) -> Delivery<'a> {
    match who {
        Principal::Account { admin: true, .. } => Delivery::Free,
        Principal::Device {
            hub_id, owner_id, ..
        } => match product_of(index, topic) {
            Some((p, rest))
                if p.hub_id == *hub_id && is_command(rest) && !index.is_suspended(*owner_id) =>
            {
                Delivery::Free
            }
            _ => Delivery::Denied,
        },
        Principal::Account {
            id, key_products, ..
        } => {
            let Some((p, rest)) = product_of(index, topic) else {
                return Delivery::Denied;
            };
            if index.is_suspended(*id) {
                return Delivery::Denied;
            }
            if p.owner_id == *id {
                return Delivery::Free;
            }
            if is_command(rest) || !Principal::key_covers(key_products, p.id) {
                return Delivery::Denied;
            }
            match index.purchase(*id, p.id) {
                Some(u) if u.live_at(now) => Delivery::Metered(u),
                _ => Delivery::Denied,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;
    use std::time::Duration;

    use agora_market::{
        AccessKeyId, AccountId, AccountName, HubId, ProductId, ProductKind, ProductTopic,
        PurchaseId, Role,
    };
    use agora_store::entitlements::{
        AccountEntitlement, Entitlements, ProductEntitlement, PurchaseEntitlement,
    };

    use crate::meter::Meters;

    fn market(ends_at: Option<time::OffsetDateTime>, quota: Option<u64>) -> (Index, Principal) {
        let (seller, buyer, product) = (AccountId::new(), AccountId::new(), ProductId::new());
        let topic = ProductTopic::parse("alice/home/temp").expect("topic");
        let snapshot = Entitlements {
            accounts: vec![
                AccountEntitlement {
                    id: seller,
                    name: AccountName::parse("alice").expect("name"),
                    role: Role::User,
                    suspended: false,
                },
                AccountEntitlement {
                    id: buyer,
                    name: AccountName::parse("bob").expect("name"),
                    role: Role::User,
                    suspended: false,
                },
            ],
            products: vec![ProductEntitlement {
                id: product,
                topic: topic.clone(),
                kind: ProductKind::Sensor,
                hub_id: HubId::new(),
                owner_id: seller,
            }],
            purchases: vec![PurchaseEntitlement {
                id: PurchaseId::new(),
                buyer_id: buyer,
                product_id: product,
                topic,
                ends_at,
                quota_messages: quota,
                used_messages: 0,
            }],
            ..Entitlements::default()
        };
        let (index, skipped) = Index::build(&snapshot, &mut Meters::default());
        assert!(skipped.is_empty());
        let bob = Principal::Account {
            id: buyer,
            admin: false,
            key_id: AccessKeyId::new(),
            key_products: Arc::from(Vec::new()),
        };
        (index, bob)
    }

    #[test]
    fn a_period_purchase_stops_delivering_at_its_end_without_any_call() {
        let end = time::OffsetDateTime::now_utc() + time::Duration::seconds(60);
        let (index, bob) = market(Some(end), None);
        let before = SystemTime::now();
        let after = before + Duration::from_secs(61);
        assert!(matches!(
            may_receive(&index, &bob, "alice/home/temp", before),
            Delivery::Metered(_)
        ));
        assert!(matches!(
            may_receive(&index, &bob, "alice/home/temp", after),
            Delivery::Denied
        ));
        assert!(may_subscribe(&index, &bob, "alice/home/temp/#", before));
        assert!(!may_subscribe(&index, &bob, "alice/home/temp/#", after));
    }

    #[test]
    fn a_buyer_never_receives_commands_nor_other_products() {
        let (index, bob) = market(None, None);
        let now = SystemTime::now();
        assert!(matches!(
            may_receive(&index, &bob, "alice/home/temp/cmd", now),
            Delivery::Denied
        ));
        assert!(matches!(
            may_receive(&index, &bob, "alice/home/temp/cmd/set", now),
            Delivery::Denied
        ));
        assert!(matches!(
            may_receive(&index, &bob, "alice/home/other", now),
            Delivery::Denied
        ));
        assert!(matches!(
            may_receive(&index, &bob, "$SYS/broker/uptime", now),
            Delivery::Denied
        ));
        assert!(matches!(
            may_receive(&index, &bob, "alice/home/temp/deep/level", now),
            Delivery::Metered(_)
        ));
        for filter in [
            "alice/home/+",
            "alice/#",
            "#",
            "+/+/+",
            "alice/home/temp/cmd/#",
            "alice/+/temp",
        ] {
            assert!(!may_subscribe(&index, &bob, filter, now), "{filter}");
        }
        assert!(!may_publish(&index, &bob, "alice/home/temp", now));
        assert!(
            !may_publish(&index, &bob, "alice/home/temp/cmd/x", now),
            "a sensor takes no commands"
        );
    }

    #[test]
    fn only_data_topics_count_towards_a_product() {
        let (index, _) = market(None, None);
        assert!(data_product(&index, "alice/home/temp").is_some());
        assert!(data_product(&index, "alice/home/temp/deep/level").is_some());
        assert!(data_product(&index, "alice/home/temp/cmd").is_none());
        assert!(data_product(&index, "alice/home/temp/cmd/set").is_none());
        assert!(data_product(&index, "alice/home/other").is_none());
    }

    #[test]
    fn topics_split_after_three_levels() {
        assert_eq!(split_product("a/b/c"), Some(("a/b/c", "")));
        assert_eq!(split_product("a/b/c/d/e"), Some(("a/b/c", "/d/e")));
        assert_eq!(split_product("a/b/c/"), Some(("a/b/c", "/")));
        assert_eq!(split_product("a/b"), None);
        assert_eq!(
            split_product("$SYS/broker/uptime"),
            Some(("$SYS/broker/uptime", ""))
        );
    }

    #[test]
    fn the_command_channel_is_cmd_and_below() {
        assert!(is_command("/cmd"));
        assert!(is_command("/cmd/set"));
        assert!(!is_command(""));
        assert!(!is_command("/cmdx"));
        assert!(!is_command("/x/cmd"));
    }
}
