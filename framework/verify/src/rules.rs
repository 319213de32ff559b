//! The rules, each with an id, what it protects, and how to fix a violation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use cleave_contract::owner_of;

use crate::graph::CrateGraph;

/// What verification knows about one module, from its descriptor, contract and schema.
#[derive(Debug, Clone, Default)]
pub struct ModuleFacts {
    /// Module name (`orders`); its crates are called `<name>` (the implementation),
    /// `<name>-api` (in the implementation's `api` folder) and `<name>-migrations`.
    pub name: String,
    /// Modules whose requests it sends (derived from `sends`).
    pub may_call: Vec<String>,
    /// Requests it sends (its declaration's `sends`).
    pub sends: Vec<String>,
    /// Requests it handles (contract).
    pub handles: Vec<String>,
    /// Events it publishes (contract).
    pub publishes: Vec<String>,
    /// Events it subscribes to (its declaration's `subscribes`).
    pub subscribes: Vec<String>,
    /// Tables its migrations create (besides its migration tracking table).
    pub tables: Vec<String>,
    /// Tables its entities name, with the file naming each.
    pub entity_tables: Vec<(PathBuf, String)>,
}

/// A boundary rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// Every module has its implementation and api crates where the layout says.
    Layout,
    /// An implementation crate depends, among workspace crates, only on the framework, its own
    /// api and migration crates, and the api crates of modules it calls or listens to.
    ImplementationDependencies,
    /// An api crate depends on no implementation crate and nothing heavy.
    LightApi,
    /// No cycle among modules' call dependencies.
    NoCallCycles,
    /// A module's migrations create only tables with its own prefix.
    OwnTables,
    /// A module's entities name only its own tables.
    OwnEntities,
    /// Every request a module sends is handled by some module.
    SentRequestsHandled,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 7] = [
        Rule::Layout,
        Rule::ImplementationDependencies,
        Rule::LightApi,
        Rule::NoCallCycles,
        Rule::OwnTables,
        Rule::OwnEntities,
        Rule::SentRequestsHandled,
    ];

    /// Stable id, printed with each violation.
    pub fn id(&self) -> &'static str {
        match self {
            Rule::Layout => "layout",
            Rule::ImplementationDependencies => "implementation-dependencies",
            Rule::LightApi => "light-api",
            Rule::NoCallCycles => "no-call-cycles",
            Rule::OwnTables => "own-tables",
            Rule::OwnEntities => "own-entities",
            Rule::SentRequestsHandled => "sent-requests-handled",
        }
    }

    /// The rule in one sentence.
    pub fn statement(&self) -> &'static str {
        match self {
            Rule::Layout => {
                "each module has an implementation crate `<m>` and an api crate `<m>-api` in its `api` folder"
            }
            Rule::ImplementationDependencies => {
                "a module's implementation crate uses other modules only through their api crates, and only those of modules it may call or listens to"
            }
            Rule::LightApi => {
                "an api crate depends on no implementation crate and on nothing heavy (no database, HTTP or async runtime)"
            }
            Rule::NoCallCycles => "modules' call dependencies form no cycle",
            Rule::OwnTables => "a module's migrations create only tables named `<module>_…`",
            Rule::OwnEntities => "a module's entities name only tables named `<module>_…`",
            Rule::SentRequestsHandled => "every request a module sends is handled by some module",
        }
    }
}

/// One broken rule: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// The crate, module or table at fault.
    pub subject: String,
    /// What is wrong.
    pub problem: String,
    /// How to make it right.
    pub fix: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {}: {}\n    rule: {}\n    fix: {}",
            self.rule.id(),
            self.subject,
            self.problem,
            self.rule.statement(),
            self.fix
        )
    }
}

/// Crates heavier than an api crate may pull in.
const HEAVY: &[&str] = &[
    "sea-orm",
    "sea-orm-migration",
    "sqlx",
    "actix-web",
    "hyper",
    "reqwest",
    "tokio",
    "cleave",
    "cleave-extract",
];

/// Checks every rule; an empty answer means the workspace keeps its boundaries.
pub fn verify(graph: &CrateGraph, modules: &[ModuleFacts]) -> Vec<Violation> {
    let mut found = Vec::new();
    check_crates(graph, modules, &mut found);
    check_cycles(modules, &mut found);
    check_tables(modules, &mut found);
    check_requests(modules, &mut found);
    found.sort_by(|a, b| (a.rule, &a.subject).cmp(&(b.rule, &b.subject)));
    found
}

fn check_crates(graph: &CrateGraph, modules: &[ModuleFacts], found: &mut Vec<Violation>) {
    let mut implementations = BTreeMap::new();
    let mut apis = BTreeMap::new();
    for m in modules {
        let implementation = graph.member_named(&m.name);
        let api_name = format!("{}-api", m.name);
        let api = graph.member_named(&api_name);
        for (what, name, present) in [
            ("implementation", m.name.clone(), implementation.is_some()),
            ("api", api_name.clone(), api.is_some()),
        ] {
            if !present {
                found.push(Violation {
                    rule: Rule::Layout,
                    subject: format!("module `{}`", m.name),
                    problem: format!("no workspace crate `{name}` for its {what}"),
                    fix: format!(
                        "give the module's {what} crate the name `{name}` and make it a workspace member"
                    ),
                });
            }
        }
        if let (Some((_, implementation)), Some((_, api))) = (implementation, api)
            && api.dir != implementation.dir.join("api")
        {
            found.push(Violation {
                rule: Rule::Layout,
                subject: format!("module `{}`", m.name),
                problem: format!(
                    "its api crate is in `{}`, not in its implementation's `api` folder",
                    api.dir
                        .strip_prefix(&graph.root)
                        .unwrap_or(&api.dir)
                        .display()
                ),
                fix: format!(
                    "move `{api_name}` to `{}/api`",
                    implementation
                        .dir
                        .strip_prefix(&graph.root)
                        .unwrap_or(&implementation.dir)
                        .display()
                ),
            });
        }
        if let Some((id, _)) = implementation {
            implementations.insert(m.name.as_str(), id.clone());
        }
        if let Some((id, _)) = api {
            apis.insert(m.name.as_str(), id.clone());
        }
    }
    let framework: BTreeSet<_> = ["cleave", "cleave-contract"]
        .iter()
        .filter_map(|name| graph.member_named(name).map(|(id, _)| id.clone()))
        .collect();

    for m in modules {
        let Some(own) = implementations.get(m.name.as_str()) else {
            continue;
        };
        // Modules it may use the api of: those it calls, and the publishers of what it hears.
        let mut allowed_modules: BTreeSet<&str> = m.may_call.iter().map(String::as_str).collect();
        allowed_modules.insert(m.name.as_str());
        for event in &m.subscribes {
            allowed_modules.insert(owner_of(event));
        }
        let mut allowed: BTreeSet<_> = framework.clone();
        for module in &allowed_modules {
            if let Some(api) = apis.get(module) {
                allowed.insert(api.clone());
            }
        }
        if let Some((id, _)) = graph.member_named(&format!("{}-migrations", m.name)) {
            allowed.insert(id.clone());
        }
        for dep in &graph.crates[own].deps {
            let Some(node) = graph.crates.get(dep) else {
                continue;
            };
            if !node.member || allowed.contains(dep) {
                continue;
            }
            let target = graph.describe(dep);
            let other_module = implementations
                .iter()
                .chain(apis.iter())
                .find(|(_, id)| *id == dep)
                .map(|(name, _)| *name);
            let fix = match other_module {
                Some(other) if implementations.get(other) == Some(dep) => format!(
                    "depend on `{other}-api` instead and talk to `{other}` through its messages on the bus; never on its implementation"
                ),
                Some(other) => format!(
                    "list the requests of `{other}` that `{}` sends in the `sends` of its `cleave::module!`, or remove the dependency",
                    m.name
                ),
                None => "remove the dependency; modules may use only the framework and api crates"
                    .to_string(),
            };
            found.push(Violation {
                rule: Rule::ImplementationDependencies,
                subject: graph.describe(own),
                problem: format!("depends on {target}"),
                fix,
            });
        }
    }

    for (module, api) in &apis {
        for dep in graph.transitive(api) {
            let node = &graph.crates[&dep];
            let is_implementation = implementations.values().any(|id| *id == dep);
            let heavy = HEAVY.contains(&node.name.as_str());
            if is_implementation || heavy {
                found.push(Violation {
                    rule: Rule::LightApi,
                    subject: graph.describe(api),
                    problem: format!(
                        "depends (directly or not) on {}{}",
                        graph.describe(&dep),
                        if is_implementation { ", an implementation crate" } else { "" }
                    ),
                    fix: format!(
                        "keep `{module}-api` to plain data: serde types and `cleave-contract`; move code that needs {} into the implementation crate",
                        node.name
                    ),
                });
            }
        }
    }
}

fn check_cycles(modules: &[ModuleFacts], found: &mut Vec<Violation>) {
    let mut calls: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for m in modules {
        let edges = calls.entry(m.name.as_str()).or_default();
        edges.extend(m.may_call.iter().map(String::as_str));
        edges.extend(m.sends.iter().map(|r| owner_of(r)));
        edges.remove(m.name.as_str());
    }
    let mut reported = BTreeSet::new();
    for start in calls.keys() {
        // Depth-first search for a path back to `start`.
        let mut stack = vec![(*start, vec![*start])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in calls.get(at).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start);
                    let mut key: Vec<&str> = cycle[..cycle.len() - 1].to_vec();
                    key.sort_unstable();
                    if reported.insert(key) {
                        found.push(Violation {
                            rule: Rule::NoCallCycles,
                            subject: format!("module `{start}`"),
                            problem: format!("calls form a cycle: {}", cycle.join(" -> ")),
                            fix: "break the cycle: let one side publish an event the other subscribes to (subscriptions are not call dependencies), or move the shared concept into one module".to_string(),
                        });
                    }
                } else if seen.insert(*next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
}

fn check_tables(modules: &[ModuleFacts], found: &mut Vec<Violation>) {
    for m in modules {
        let prefix = format!("{}_", m.name);
        for table in &m.tables {
            if !table.starts_with(&prefix) {
                found.push(Violation {
                    rule: Rule::OwnTables,
                    subject: format!("table `{table}`"),
                    problem: format!("created by the migrations of module `{}`", m.name),
                    fix: format!(
                        "name it `{prefix}…`; if it belongs to another module, create it in that module's migration set"
                    ),
                });
            }
        }
        for (file, table) in &m.entity_tables {
            if !table.starts_with(&prefix) {
                found.push(Violation {
                    rule: Rule::OwnEntities,
                    subject: format!("table `{table}`"),
                    problem: format!(
                        "named by an entity of module `{}` in {}",
                        m.name,
                        file.display()
                    ),
                    fix: format!(
                        "read another module's data through its api (a request or an event), never its tables; entities of `{}` name `{prefix}…` tables only",
                        m.name
                    ),
                });
            }
        }
    }
}

fn check_requests(modules: &[ModuleFacts], found: &mut Vec<Violation>) {
    let handled: BTreeSet<&str> = modules
        .iter()
        .flat_map(|m| m.handles.iter().map(String::as_str))
        .collect();
    for m in modules {
        for request in &m.sends {
            if !handled.contains(request.as_str()) {
                found.push(Violation {
                    rule: Rule::SentRequestsHandled,
                    subject: format!("module `{}`", m.name),
                    problem: format!("sends `{request}`, which no module handles"),
                    fix: format!(
                        "add `{request}` to the `handles` of `{}`'s contract and register a handler, or stop sending it",
                        owner_of(request)
                    ),
                });
            }
        }
    }
}
