//! What changed in the market, for the broker's access layer and anyone else who keeps a view
//! in memory. The store emits each event after its transaction commits.
//!
//! Events name things by their MQTT identity (topics, usernames) and ids, so that an
//! in-memory index can apply them without a database round trip; the ones that grant access
//! say so, and a consumer that falls behind (a lagged broadcast receiver) reloads everything
//! with `Store::entitlements`.

use serde::Serialize;

use crate::{
    AccessKeyId, AccountId, AccountName, DeviceId, DeviceUsername, ProductId, ProductTopic,
    PurchaseId, PurchaseState,
};

/// A committed change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MarketEvent {
    /// A purchase now grants access (bought, approved, or extended).
    PurchaseActivated {
        /// The purchase.
        purchase_id: PurchaseId,
        /// The buyer.
        buyer: AccountName,
        /// The product.
        product_id: ProductId,
        /// Its topic.
        topic: ProductTopic,
    },
    /// A purchase stopped granting access.
    PurchaseEnded {
        /// The purchase.
        purchase_id: PurchaseId,
        /// The buyer.
        buyer: AccountName,
        /// The product.
        product_id: ProductId,
        /// Its topic.
        topic: ProductTopic,
        /// The final state.
        state: PurchaseState,
    },
    /// A pending request was declined (no access was ever granted).
    PurchaseDeclined {
        /// The purchase.
        purchase_id: PurchaseId,
        /// The buyer.
        buyer: AccountName,
    },
    /// An access key was created.
    AccessKeyCreated {
        /// The key.
        key_id: AccessKeyId,
        /// Its account.
        account: AccountName,
    },
    /// An access key was revoked: close the sessions that used it.
    AccessKeyRevoked {
        /// The key.
        key_id: AccessKeyId,
        /// Its account.
        account: AccountName,
    },
    /// A device was registered.
    DeviceRegistered {
        /// The device.
        device_id: DeviceId,
        /// Its MQTT username.
        username: DeviceUsername,
    },
    /// A device's credential was replaced: close sessions that used the old one.
    DeviceRotated {
        /// The device.
        device_id: DeviceId,
        /// Its MQTT username.
        username: DeviceUsername,
    },
    /// A device was deleted: close its sessions.
    DeviceDeleted {
        /// The device.
        device_id: DeviceId,
        /// Its MQTT username.
        username: DeviceUsername,
    },
    /// A product was created.
    ProductCreated {
        /// The product.
        product_id: ProductId,
        /// Its topic.
        topic: ProductTopic,
    },
    /// A product changed (kind, restricted…); its topic never changes.
    ProductUpdated {
        /// The product.
        product_id: ProductId,
        /// Its topic.
        topic: ProductTopic,
    },
    /// A product was deleted: its purchases ended (each with its own event).
    ProductDeleted {
        /// The product.
        product_id: ProductId,
        /// Its topic.
        topic: ProductTopic,
    },
    /// An account was suspended: close all its sessions and its devices' sessions.
    AccountSuspended {
        /// The account.
        account_id: AccountId,
        /// Its name.
        account: AccountName,
    },
    /// A suspension was lifted.
    AccountRestored {
        /// The account.
        account_id: AccountId,
        /// Its name.
        account: AccountName,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_a_type_tag_and_mqtt_names() {
        let e = MarketEvent::DeviceDeleted {
            device_id: DeviceId::new(),
            username: DeviceUsername::parse("alice$home$pi").expect("username"),
        };
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(json["type"], "device_deleted");
        assert_eq!(json["username"], "alice$home$pi");
    }
}
