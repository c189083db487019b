//! In a cluster, an upstream's certificate must come from the cluster CA: a certificate that a
//! CA in the system's trust store issued for the upstream's name (what a DNS spoofer with a
//! public certificate would show) is refused, and the link is never made. The "public" CA is
//! one of the test's own, made a system root for the edge through `SSL_CERT_FILE`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Lines, Relay, TempDir, pki, plain, tern};

/// An edge linked to an upstream serving `upstream_cert`: whether its link came up (`true`), or
/// failed on TLS (`false`), within 20 s.
fn edge_links_to(upstream_cert: &Path, cluster: &Path, public: &Path) -> bool {
    let key = upstream_cert.with_extension("key");
    let root = Relay::start(&[
        "--tls-cert",
        upstream_cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ]);
    let mut cmd = Command::new(tern());
    cmd.args(["relay", "--bind", "127.0.0.1:0"])
        .env("TERN_UPSTREAMS", root.moqt_url())
        .env("TERN_CLUSTER_CA", cluster.join("cluster-ca.pem"))
        .env("TERN_CLUSTER_CERT", cluster.join("edge.pem"))
        .env("TERN_CLUSTER_KEY", cluster.join("edge.key"))
        .env("SSL_CERT_FILE", public.join("cluster-ca.pem"));
    let mut edge = Relay::start_cmd_with_stderr(cmd, &[], Stdio::piped());
    let mut log = Lines::new(edge.guard.child.stderr.take().expect("stderr"));
    let seen = log.wait_for(1, Duration::from_secs(20), |l| {
        let l = plain(l);
        l.contains("upstream connected") || l.contains("upstream link:")
    });
    let line = seen
        .first()
        .map(|l| plain(l))
        .unwrap_or_else(|| panic!("no link outcome in the edge's log: {:?}", log.seen));
    line.contains("upstream connected")
}

#[test]
fn a_cluster_edge_trusts_only_the_cluster_ca_for_its_upstream() {
    let cluster = TempDir::new("cluster-pki");
    let public = TempDir::new("public-pki");
    pki(&cluster.0, "prod", &["edge", "127.0.0.1"]);
    pki(&public.0, "public", &["127.0.0.1"]);

    assert!(
        edge_links_to(&cluster.0.join("127.0.0.1.pem"), &cluster.0, &public.0),
        "an upstream with a cluster certificate is linked to"
    );
    assert!(
        !edge_links_to(&public.0.join("127.0.0.1.pem"), &cluster.0, &public.0),
        "an upstream with a publicly trusted certificate for its name was linked to"
    );
}
