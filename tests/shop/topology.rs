//! Several shop processes in one test: each hosts some modules on its own database and
//! reaches the others over loopback through the internal endpoints, exactly as separate
//! `shop serve --modules … --remote …` processes would.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};

use cleave::{Config, ExtractConfig};
use cleave_app::{Listeners, StopHandle};
use tokio::task::JoinHandle;

use crate::support::{Mode, TestShop, quick_outbox, sqlite_in};

/// Every module linked into the shop, from the registry.
pub(crate) fn modules() -> Vec<&'static str> {
    cleave::modules().iter().map(|m| m.name()).collect()
}
/// Every linked module but `module`, comma-separated (the `SHOP_MODULES` of the process that
/// hosts the rest when `module` is extracted).
pub(crate) fn all_but(module: &str) -> String {
    modules()
        .into_iter()
        .filter(|m| *m != module)
        .collect::<Vec<_>>()
        .join(",")
}

/// The shared internal token of test topologies.
pub(crate) const TOKEN: &str = "test-internal-token";

/// One process of a topology.
struct Process {
    config: Config,
    public: SocketAddr,
    internal: SocketAddr,
    running: Option<(StopHandle, JoinHandle<anyhow::Result<()>>)>,
}

/// Processes hosting the modules between them, and a router to their public APIs.
pub(crate) struct Topology {
    processes: Vec<Process>,
    _dirs: Vec<tempfile::TempDir>,
}

fn bind_free() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("a free loopback port")
}

impl Topology {
    /// Starts one process per group of module names; together they must host every module.
    pub(crate) async fn start(groups: &[&[&str]], mode: Mode) -> Topology {
        let listeners: Vec<(TcpListener, TcpListener)> =
            groups.iter().map(|_| (bind_free(), bind_free())).collect();
        let internal_url =
            |group: usize| format!("http://{}", listeners[group].1.local_addr().unwrap());
        let mut processes = Vec::new();
        let mut dirs = Vec::new();
        for (index, group) in groups.iter().enumerate() {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut remote = BTreeMap::new();
            for module in modules() {
                if !group.contains(&module) {
                    let host = groups
                        .iter()
                        .position(|g| g.contains(&module))
                        .unwrap_or_else(|| panic!("no process hosts `{module}`"));
                    remote.insert(module.to_string(), vec![internal_url(host)]);
                }
            }
            let config = Config {
                listen: listeners[index].0.local_addr().unwrap(),
                internal_listen: listeners[index].1.local_addr().unwrap(),
                database: sqlite_in(dir.path()),
                serialize_messages: matches!(mode, Mode::Serialized),
                workers: Some(2),
                outbox: quick_outbox(),
                modules: group.iter().map(|m| m.to_string()).collect(),
                remote,
                internal_token: Some(TOKEN.to_string()),
                extract: ExtractConfig {
                    timeout_ms: 1_000,
                    breaker_open_ms: 300,
                    ..ExtractConfig::default()
                },
                ..shop::APP.default_config()
            };
            processes.push(Process {
                public: config.listen,
                internal: config.internal_listen,
                config,
                running: None,
            });
            dirs.push(dir);
        }
        for (process, (public, internal)) in processes.iter_mut().zip(listeners) {
            process.running = Some(launch(&process.config, Listeners { public, internal }).await);
        }
        Topology {
            processes,
            _dirs: dirs,
        }
    }

    /// Two processes: `module` alone, and every other module together.
    pub(crate) async fn extracting(module: &str, mode: Mode) -> Topology {
        let rest: Vec<&str> = modules().into_iter().filter(|m| *m != module).collect();
        Topology::start(&[&rest, &[module]], mode).await
    }

    /// The whole shop behind one router: `/api/<module>` goes to the process hosting it.
    pub(crate) fn shop(&self) -> TestShop {
        let mut routes = Vec::new();
        for process in &self.processes {
            for module in &process.config.modules {
                routes.push((
                    format!("/api/{module}"),
                    format!("http://{}", process.public),
                ));
            }
        }
        TestShop::routed(format!("http://{}", self.processes[0].public), routes)
    }

    /// The process hosting `module`.
    fn index_of(&self, module: &str) -> usize {
        self.processes
            .iter()
            .position(|p| p.config.modules.iter().any(|m| m == module))
            .unwrap_or_else(|| panic!("no process hosts `{module}`"))
    }

    /// The database URL of the process hosting `module`.
    pub(crate) fn database_of(&self, module: &str) -> String {
        self.processes[self.index_of(module)]
            .config
            .database
            .clone()
    }

    /// The public base URL of the process hosting `module`.
    pub(crate) fn public_url_of(&self, module: &str) -> String {
        format!("http://{}", self.processes[self.index_of(module)].public)
    }

    /// The internal base URL of the process hosting `module`.
    pub(crate) fn internal_url_of(&self, module: &str) -> String {
        format!("http://{}", self.processes[self.index_of(module)].internal)
    }

    /// Stops the process hosting `module` (both servers and its relay), as an outage would.
    pub(crate) async fn stop(&mut self, module: &str) {
        let index = self.index_of(module);
        let (handle, task) = self.processes[index]
            .running
            .take()
            .expect("the process is running");
        handle.stop(false).await;
        task.await
            .expect("the process task")
            .expect("the process stopped cleanly");
    }

    /// Starts the stopped process hosting `module` again, on the same ports and database.
    pub(crate) async fn restart(&mut self, module: &str) {
        let index = self.index_of(module);
        let process = &mut self.processes[index];
        assert!(process.running.is_none(), "the process is still running");
        let listeners = Listeners {
            public: TcpListener::bind(process.public).expect("the old public port"),
            internal: TcpListener::bind(process.internal).expect("the old internal port"),
        };
        process.running = Some(launch(&process.config, listeners).await);
    }
}

async fn launch(
    config: &Config,
    listeners: Listeners,
) -> (StopHandle, JoinHandle<anyhow::Result<()>>) {
    let app = shop::APP
        .build_on(config, listeners)
        .await
        .expect("a topology process builds");
    let handle = app.handle();
    (handle, tokio::spawn(app.run_until_stopped()))
}

impl Drop for Topology {
    fn drop(&mut self) {
        for process in &mut self.processes {
            if let Some((handle, task)) = process.running.take() {
                task.abort();
                drop(handle);
            }
        }
    }
}
