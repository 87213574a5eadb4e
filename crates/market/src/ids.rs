//! Typed identifiers: a `PurchaseId` can never be passed where a `ProductId` is meant.
//!
//! All are UUID v7 (time-ordered), so sorting by id is sorting by creation time; the store
//! uses that for stable cursor pagination.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// An account.
    AccountId
);
id_type!(
    /// A personal API token.
    ApiTokenId
);
id_type!(
    /// A hub.
    HubId
);
id_type!(
    /// A device.
    DeviceId
);
id_type!(
    /// A product.
    ProductId
);
id_type!(
    /// A purchase.
    PurchaseId
);
id_type!(
    /// A buyer's MQTT access key.
    AccessKeyId
);
id_type!(
    /// An in-app notification.
    NotificationId
);
