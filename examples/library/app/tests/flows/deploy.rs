//! `library deploy`: the Kubernetes manifests of every placement of the library validate
//! against the API's schemas (offline), and its Compose files pass `docker-compose config`; the
//! same check as the shop's (`cleave_compare::deploy`), on another application. Skips without
//! python or docker-compose, unless `CI` is set: then it fails.

use std::path::Path;

#[test]
fn deploy_manifests_of_every_placement_validate_against_the_kubernetes_schemas() {
    let binary = Path::new(env!("CARGO_BIN_EXE_library"));
    let test = "library_deploy_manifests_validate";
    if let Some(files) = cleave_compare::deploy::every_placement_deploys(binary, test) {
        println!("{files} manifest files validate");
    }
}
