//! The Agora market domain: validated names, accounts, hubs, devices, products, purchases, access keys, credentials and market events. No SQL, no HTTP.
