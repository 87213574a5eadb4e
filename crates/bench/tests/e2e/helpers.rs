//! Scaffolding: Agora's broker in process on 127.0.0.1:0 with an authoriser
//! that allows everything but user `nobody`, and a way to run the real
//! `agora-bench` binary against it and read its `--json` report.

use std::net::SocketAddr;
use std::sync::Arc;

use agora_broker::auth::{AuthFuture, ConnectRequest, Refusal};
use agora_broker::{Authorizer, Broker, BrokerConfig, DeliveryKind, Identity};
use agora_mqtt::{QoS, ReasonCode};

/// Lets everyone in except user `nobody`.
struct AllowAll;

impl Authorizer for AllowAll {
    fn authenticate(&self, req: ConnectRequest) -> AuthFuture<'_> {
        Box::pin(async move {
            let user = req.username.as_deref().unwrap_or("anonymous").to_owned();
            if user == "nobody" {
                return Err(Refusal::new(ReasonCode::BadUserNameOrPassword, "no"));
            }
            Ok(Identity::new(&*user))
        })
    }

    fn authorize_subscribe(&self, _: &Identity, _: &str) -> Result<(), ReasonCode> {
        Ok(())
    }

    fn authorize_publish(&self, _: &Identity, _: &str, _: QoS, _: bool) -> Result<(), ReasonCode> {
        Ok(())
    }

    fn authorize_delivery(&self, _: &Identity, _: &str, _: usize, _: DeliveryKind) -> bool {
        true
    }
}

/// A broker serving on its own runtime; dropped, the runtime stops it.
pub(crate) struct TestBroker {
    pub(crate) addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

impl TestBroker {
    pub(crate) fn start() -> TestBroker {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let addr = rt.block_on(async {
            let config = BrokerConfig {
                sys_interval: None,
                ..BrokerConfig::default()
            };
            let broker = Broker::new(config, Arc::new(AllowAll) as Arc<dyn Authorizer>);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            let addr = listener.local_addr().expect("local addr");
            tokio::spawn(async move { broker.serve_tcp(listener).await });
            addr
        });
        TestBroker { addr, _rt: rt }
    }

    /// Runs `agora-bench <args> -p <port> --json` and returns its report,
    /// or its stderr if it failed.
    pub(crate) fn bench(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agora-bench"))
            .args(args)
            .args(["-p", &self.addr.port().to_string(), "--json"])
            .output()
            .expect("agora-bench runs");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON: {e}"))
    }
}
