//! The application under comparison: its name and its named placements, both from the app
//! (`cleave_app::App`), never from this library.

use std::collections::BTreeMap;

use anyhow::{bail, ensure};
use cleave::AppName;
use cleave::config::Placement;

/// An application and the placements to compare.
#[derive(Debug, Clone)]
pub struct Application {
    /// Its name: the binary's, the image's, the prefix of its environment variables.
    pub name: AppName,
    placements: BTreeMap<String, Placement>,
}

/// One placement, resolved: its name and `(node, modules)` in node order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The placement's name, e.g. `monolith`.
    pub name: String,
    /// Every node and the modules it hosts.
    pub nodes: Vec<(String, Vec<String>)>,
}

impl Layout {
    /// Whether every module runs in one process.
    pub fn is_single_process(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Every module, in node order.
    pub fn modules(&self) -> Vec<String> {
        self.nodes.iter().flat_map(|(_, m)| m.clone()).collect()
    }

    /// The node hosting `module`.
    pub fn node_of(&self, module: &str) -> Option<&str> {
        self.nodes
            .iter()
            .find(|(_, modules)| modules.iter().any(|m| m == module))
            .map(|(node, _)| node.as_str())
    }
}

impl Application {
    /// `name` with its placements (e.g. `App::default_config().placements`, which holds the
    /// built-in ones). Every placement must place the same modules, each exactly once.
    pub fn new(
        name: AppName,
        placements: BTreeMap<String, Placement>,
    ) -> anyhow::Result<Application> {
        ensure!(
            !placements.is_empty(),
            "{name} names no placement to compare"
        );
        let app = Application { name, placements };
        let mut reference: Option<(String, Vec<String>)> = None;
        for layout in app.layouts() {
            let mut modules = layout.modules();
            let count = modules.len();
            modules.sort();
            modules.dedup();
            ensure!(
                modules.len() == count,
                "placement `{}` places a module twice",
                layout.name
            );
            match &reference {
                None => reference = Some((layout.name.clone(), modules)),
                Some((first, expected)) if *expected != modules => bail!(
                    "placements `{first}` and `{}` place different modules ({} vs {})",
                    layout.name,
                    expected.join(", "),
                    modules.join(", ")
                ),
                Some(_) => {}
            }
        }
        Ok(app)
    }

    /// Every placement, from fewest nodes to most (ties by name): the first is the baseline
    /// the others are compared with.
    pub fn layouts(&self) -> Vec<Layout> {
        let mut layouts: Vec<Layout> = self
            .placements
            .iter()
            .map(|(name, placement)| Layout {
                name: name.clone(),
                nodes: placement
                    .nodes
                    .iter()
                    .map(|(node, n)| (node.clone(), n.modules.clone()))
                    .collect(),
            })
            .collect();
        layouts.sort_by(|a, b| (a.nodes.len(), &a.name).cmp(&(b.nodes.len(), &b.name)));
        layouts
    }

    /// The placement called `name`, with the names there are when there is none.
    pub fn layout(&self, name: &str) -> anyhow::Result<Layout> {
        self.layouts()
            .into_iter()
            .find(|l| l.name == name)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no placement `{name}`; it has: {}",
                    self.name,
                    self.placements
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }

    /// The baseline: a placement with a single node (the monolith), else the one with the
    /// fewest.
    pub fn baseline(&self) -> Layout {
        self.layouts().remove(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placements(toml: &str) -> BTreeMap<String, Placement> {
        cleave::Config::placements_from(toml).unwrap()
    }

    #[test]
    fn placements_are_ordered_from_fewest_nodes_and_must_place_the_same_modules() {
        let app = Application::new(
            AppName::new("demo"),
            placements(
                r#"
                [placements.split.nodes.a]
                modules = ["a"]
                [placements.split.nodes.b]
                modules = ["b"]
                [placements.one.nodes.all]
                modules = ["a", "b"]
                "#,
            ),
        )
        .unwrap();
        let names: Vec<String> = app.layouts().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["one", "split"]);
        assert!(app.baseline().is_single_process());
        assert_eq!(app.layout("split").unwrap().node_of("b"), Some("b"));
        assert!(
            app.layout("nope")
                .unwrap_err()
                .to_string()
                .contains("it has: one, split")
        );

        let uneven = Application::new(
            AppName::new("demo"),
            placements(
                r#"
                [placements.one.nodes.all]
                modules = ["a", "b"]
                [placements.less.nodes.all]
                modules = ["a"]
                "#,
            ),
        );
        assert!(
            uneven
                .unwrap_err()
                .to_string()
                .contains("place different modules")
        );
    }
}
