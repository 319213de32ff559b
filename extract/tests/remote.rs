//! A remote call across a real HTTP hop: contract versions (a caller built against an older
//! minor version keeps working when the callee adds an optional field; a different major
//! version is refused with a clear error instead of being misdecoded) and the trace context.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer};
use cleave::testing::Harness;
use cleave::{CallError, Contract, Request, Version};
use cleave_extract::identity::new_credential;
use cleave_extract::{
    Credentials, InternalEndpoints, RemoteModule, RemoteSettings, configure_internal,
};
use serde::{Deserialize, Serialize};

/// What the callee (greeter 1.1) understands: 1.1 added the optional `title`.
mod v1_1 {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    pub(crate) struct Greet {
        pub(crate) name: String,
        #[serde(default)]
        pub(crate) title: Option<String>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub(crate) struct Greeting {
        pub(crate) text: String,
        #[serde(default)]
        pub(crate) formal: Option<bool>,
    }

    impl Request for Greet {
        const NAME: &'static str = "greeter.greet";
        type Response = Greeting;
        type Error = String;
    }

    pub(crate) static CONTRACT: Contract =
        Contract::new("greeter", Version::new(1, 1), &["greeter.greet"], &[], &[]);
}

/// What an older caller was built against (greeter 1.0).
mod v1_0 {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    pub(crate) struct Greet {
        pub(crate) name: String,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub(crate) struct Greeting {
        pub(crate) text: String,
    }

    impl Request for Greet {
        const NAME: &'static str = "greeter.greet";
        type Response = Greeting;
        type Error = String;
    }

    pub(crate) static CONTRACT: Contract =
        Contract::new("greeter", Version::new(1, 0), &["greeter.greet"], &[], &[]);

    /// A caller from the future: same messages, incompatible major version.
    pub(crate) static CONTRACT_2_0: Contract =
        Contract::new("greeter", Version::new(2, 0), &["greeter.greet"], &[], &[]);
}

const TOKEN: &str = "versions-test";

/// Serves greeter 1.1 on a loopback port; returns its base URL and keeps its runtime alive.
async fn serve_greeter() -> (String, cleave::testing::TestApp) {
    serve_greeter_to(Credentials::shared(Some(TOKEN.to_string()))).await
}

/// Serves greeter 1.1 to the senders `credentials` prove; module `client` declares it sends
/// `greeter.greet`.
async fn serve_greeter_to(credentials: Credentials) -> (String, cleave::testing::TestApp) {
    let app = Harness::new()
        .stub::<v1_1::Greet, _, _>(|g: v1_1::Greet| async move {
            // The trace the handler runs in, for the propagation test.
            if g.name == "tracer" {
                let trace = cleave::trace::current().map(|c| c.trace_id);
                return Ok(v1_1::Greeting {
                    text: trace.unwrap_or_default(),
                    formal: None,
                });
            }
            let text = match g.title {
                Some(title) => format!("Good day, {title} {}", g.name),
                None => format!("Hello, {}", g.name),
            };
            Ok(v1_1::Greeting {
                text,
                formal: Some(false),
            })
        })
        .start()
        .await;
    let endpoints = Arc::new(
        InternalEndpoints::new(
            app.bus().clone(),
            app.events().clone(),
            credentials,
            vec![&v1_1::CONTRACT],
            vec![&v1_1::CONTRACT],
            64 * 1024,
        )
        .with_sends("client", &["greeter.greet"]),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let endpoints = endpoints.clone();
        App::new().configure(|cfg| configure_internal(cfg, endpoints))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (base, app)
}

/// A caller process whose bus reaches greeter remotely, built against `contract`.
async fn caller(base: &str, contract: &'static Contract) -> cleave::testing::TestApp {
    caller_with(base, contract, Credentials::shared(Some(TOKEN.to_string()))).await
}

/// A caller process presenting `credentials`.
async fn caller_with(
    base: &str,
    contract: &'static Contract,
    credentials: Credentials,
) -> cleave::testing::TestApp {
    let settings = RemoteSettings {
        timeout: Duration::from_secs(2),
        retries: 0,
        breaker_failures: 5,
        breaker_open: Duration::from_secs(1),
        credentials,
    };
    let remote = RemoteModule::new(contract, &[base.to_string()], settings, &[contract]).unwrap();
    Harness::new()
        .routing(|routing| routing.remote_module("greeter", remote))
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_optional_field_keeps_old_callers_working() {
    let (base, _server) = serve_greeter().await;

    let old = caller(&base, &v1_0::CONTRACT).await;
    let greeting = old
        .bus()
        .call(v1_0::Greet { name: "Ada".into() })
        .await
        .expect("a 1.0 caller talks to a 1.1 callee");
    assert_eq!(
        greeting.text, "Hello, Ada",
        "the unknown `formal` is ignored"
    );

    let new = caller(&base, &v1_1::CONTRACT).await;
    let greeting = new
        .bus()
        .call(v1_1::Greet {
            name: "Lovelace".into(),
            title: Some("Countess".into()),
        })
        .await
        .unwrap();
    assert_eq!(greeting.text, "Good day, Countess Lovelace");
    assert_eq!(greeting.formal, Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_major_version_is_refused_not_misdecoded() {
    let (base, _server) = serve_greeter().await;
    let future = caller(&base, &v1_0::CONTRACT_2_0).await;
    match future.bus().call(v1_0::Greet { name: "Ada".into() }).await {
        Err(CallError::Incompatible { module, message }) => {
            assert_eq!(module, "greeter");
            assert!(
                message.contains("greeter 2.0") && message.contains("greeter 1.1"),
                "{message}"
            );
        }
        other => panic!("expected an incompatible-contract error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_context_crosses_the_hop() {
    let (base, _server) = serve_greeter().await;
    let caller = caller(&base, &v1_1::CONTRACT).await;
    let trace = cleave::trace::TraceContext::new_root();
    let seen = cleave::trace::in_trace(
        trace.clone(),
        caller.bus().call(v1_1::Greet {
            name: "tracer".into(),
            title: None,
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        seen.text, trace.trace_id,
        "the callee ran in the caller's trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_module_proves_itself_and_a_credential_rotates_without_downtime() {
    let (old, old_digest) = new_credential();
    let (new, new_digest) = new_credential();
    // While rotating, the receiver accepts both of `client`'s credentials; the shared token
    // still serves modules without credentials of their own.
    let (base, _server) = serve_greeter_to(
        Credentials::shared(Some(TOKEN.to_string()))
            .accepting("client", vec![old_digest.clone(), new_digest.clone()]),
    )
    .await;
    let greet = || v1_1::Greet {
        name: "Ada".into(),
        title: None,
    };
    for token in [&old, &new] {
        let client = caller_with(
            &base,
            &v1_1::CONTRACT,
            Credentials::default().with_token("client", token.clone()),
        )
        .await;
        let greeting = client.bus().call_as("client", greet()).await;
        assert_eq!(greeting.unwrap().text, "Hello, Ada");
    }

    // The shared token does not prove `client` once it has a credential of its own.
    let shared = caller(&base, &v1_1::CONTRACT).await;
    match shared.bus().call_as("client", greet()).await {
        Err(CallError::Unavailable { reason, .. }) => {
            assert!(reason.contains("refused our credentials"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // A module proven by the shared token but not declaring the request is forbidden.
    match shared.bus().call_as("stranger", greet()).await {
        Err(CallError::Unavailable { reason, .. }) => assert!(
            reason.contains("`stranger` does not declare that it sends `greeter.greet`"),
            "{reason}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // After the rotation the receiver keeps the new digest only: the old token stops working.
    let (base, _server) =
        serve_greeter_to(Credentials::default().accepting("client", vec![new_digest])).await;
    let old_client = caller_with(
        &base,
        &v1_1::CONTRACT,
        Credentials::default().with_token("client", old),
    )
    .await;
    assert!(old_client.bus().call_as("client", greet()).await.is_err());
    let new_client = caller_with(
        &base,
        &v1_1::CONTRACT,
        Credentials::default().with_token("client", new),
    )
    .await;
    assert!(new_client.bus().call_as("client", greet()).await.is_ok());
}
