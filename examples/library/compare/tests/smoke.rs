//! The comparison runs on the library, with the library's placements and workload, at smoke
//! scale: every placement starts in containers, every loan is counted, the faults' loans are
//! counted once, loans scales to two replicas behind NATS on PostgreSQL (one killed, nothing
//! lost), `plan`'s predictions are set beside the placements measured side by side, and the
//! report is written in the library's words.
//!
//! Needs Docker and the static `library` binary (`scripts/build-static.sh library`;
//! `scripts/test.sh` builds it). Without Docker it skips with a printed reason, unless `CI`
//! is set: then it fails.

use std::sync::Arc;

use cleave_compare::run::{Args, compare};
use cleave_compare::{docker, report};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comparison_runs_on_the_library_with_its_own_workload() {
    if docker::engine_for_test("library-compare smoke")
        .await
        .is_none()
    {
        return;
    }
    let app = library_compare::application().unwrap();
    let summary = compare(&app, Arc::new(library_compare::Loans), &Args::smoke())
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let names: Vec<&str> = summary.topologies.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(names, ["monolith", "loans-extracted", "all-separate"]);
    for t in &summary.topologies {
        assert!(t.throughput.orders_per_s > 0.0, "{}", t.kind);
        assert_eq!(t.faults.len(), 2, "{}", t.kind);
        for run in &t.faults {
            assert_eq!(
                run.invoiced_once,
                run.accepted,
                "{} {}: every accepted loan counted once: {run:#?}",
                t.kind,
                run.fault.name()
            );
            assert_eq!(run.receipt_after, 200, "{}: {run:#?}", t.kind);
        }
    }
    assert_eq!(summary.ratios.len(), 2);
    // Loans at 1 and 2 replicas behind NATS on PostgreSQL, then 2 with one killed: every
    // accepted loan counted once.
    let scaling = summary.scaling.as_ref().expect("the scaling runs");
    assert_eq!(scaling.module, "loans");
    let shape: Vec<(usize, bool)> = scaling
        .runs
        .iter()
        .map(|r| (r.replicas, r.killed_one))
        .collect();
    assert_eq!(shape, [(1, false), (2, false), (2, true)]);
    for run in &scaling.runs {
        assert!(run.completed_per_s > 0.0, "{run:?}");
        assert_eq!(run.effects_once, run.operations, "{run:?}");
    }
    // `plan` predicted each placement from the monolith's traffic before it ran: a loan
    // crosses at least one hop once members or loans leave.
    let predictions = summary.predictions.as_ref().expect("the predictions");
    assert!(predictions.notes.is_empty(), "{predictions:#?}");
    assert!(predictions.operations > 0.0, "{predictions:#?}");
    // Checked against the placements measured side by side, all running at once.
    assert!(predictions.measured_operations > 0, "{predictions:#?}");
    // Each placement's figures slice by slice, node by node, the baseline's first.
    let measured: Vec<&str> = predictions
        .measured
        .iter()
        .map(|(placement, _)| placement.as_str())
        .collect();
    assert_eq!(measured, ["monolith", "loans-extracted", "all-separate"]);
    for (placement, m) in &predictions.measured {
        assert_eq!(m.cpu_us.len(), m.start_p50_us.len(), "{placement}: {m:?}");
        assert!(!m.nodes.is_empty(), "{placement}: {m:?}");
        for slice in 0..m.cpu_us.len() {
            let spent: f64 = m.nodes.iter().map(|n| n.operations_us[slice]).sum();
            assert!(spent > 0.0, "{placement}, slice {slice}: no CPU: {m:?}");
        }
    }
    let placements: Vec<&str> = predictions
        .placements
        .iter()
        .map(|p| p.placement.as_str())
        .collect();
    assert_eq!(placements, ["loans-extracted", "all-separate"]);
    for p in &predictions.placements {
        assert!(p.predicted_cpu_us > 0.0, "{p:?}");
        assert!(p.predicted_start_p50_us.is_some(), "{p:?}");
    }
    let dir = tempfile_dir();
    report::write(&summary, &dir).unwrap();
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("The same library, measured 3 ways"),
        "{report}"
    );
    assert!(report.contains("to counted p50"), "{report}");
    assert!(report.contains("| loans replicas |"), "{report}");
    assert!(report.contains("Predicted before it ran"), "{report}");
    std::fs::remove_dir_all(&dir).ok();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("library-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
