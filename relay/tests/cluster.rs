//! Trust between relays: a root relay with a cluster CA admits members (relays and origins
//! whose client certificate the CA signed) and refuses announcements and PUBLISHes from anyone
//! else, who can neither announce into the tree nor hijack a broadcast its viewers watch. A
//! certificate from another CA does not even get a session.

mod support;

#[path = "failover/tree.rs"]
mod tree;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_peer::{ConnectOptions, Error, History, Session, TrackWriter};
use tern_quic::cert::{PemPair, cluster_ca, issue};
use tern_quic::{CertSource, Identity, ServerConfig};
use tern_relay::core::router::Publishers;
use tern_relay::node::{Node, UpstreamTls};

use support::default_settings;
use tree::{TRACK, ns, produce, wait_flowing, watch};

const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// A cluster CA, the certificates it issued, and a rogue CA's certificate, in a scratch dir.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    ca_pair: PemPair,
}

impl Pki {
    fn new(test: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("tern-cluster-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let ca_pair = cluster_ca("test", YEAR).expect("CA");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &ca_pair.cert).expect("write CA");
        Pki { dir, ca, ca_pair }
    }

    /// A certificate for `name` signed by the cluster CA (or by a rogue one).
    fn identity(&self, name: &str, rogue: bool) -> Identity {
        let ca = if rogue {
            cluster_ca("rogue", YEAR).expect("rogue CA")
        } else {
            self.ca_pair.clone()
        };
        let pair = issue(&ca, name, YEAR).expect("issue");
        let write = |ext: &str, text: &str| -> PathBuf {
            let p = self
                .dir
                .join(format!("{name}{}.{ext}", if rogue { "-rogue" } else { "" }));
            std::fs::write(&p, text).expect("write");
            p
        };
        Identity {
            cert: write("pem", &pair.cert),
            key: write("key", &pair.key),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A root relay serving a certificate of the cluster CA for 127.0.0.1 and asking clients for
/// one: only members publish.
fn root(pki: &Pki) -> Node {
    tree::logs();
    let (mut router, settings) = default_settings();
    router.cluster = Some(Publishers::Cluster);
    Node::start(member_server(pki, "127.0.0.1"), router, settings).expect("root starts")
}

/// The listener of a relay of the cluster: a certificate the CA issued to `name`, and clients
/// asked for theirs (members are told by it).
fn member_server(pki: &Pki, name: &str) -> ServerConfig {
    let id = pki.identity(name, false);
    ServerConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        cert: CertSource::Pem {
            cert: id.cert,
            key: id.key,
        },
        client_roots: vec![pki.ca.clone()],
        max_sessions_per_ip: 256,
        // Every viewer of the test comes from 127.0.0.1.
        new_sessions_per_ip: 100_000,
        retry_threshold: 1024,
        ..ServerConfig::default()
    }
}

/// An edge relay linked to `root`, trusting it through the cluster CA and showing `identity`.
fn edge(pki: &Pki, root: &Node, identity: Option<Identity>) -> Node {
    let (router, mut settings) = default_settings();
    settings.upstreams = vec![support::url(root)];
    settings.upstream_tls = UpstreamTls {
        roots: vec![pki.ca.clone()],
        identity,
        ..UpstreamTls::default()
    };
    support::start_relay(router, settings)
}

async fn connect(url: &str, identity: Option<Identity>) -> Result<Session, Error> {
    let opts = ConnectOptions {
        disable_verify: true,
        identity,
        ..ConnectOptions::default()
    };
    Session::connect(url, &opts).await
}

/// A publisher of the test track on `session` (PUBLISH_NAMESPACE, answering SUBSCRIBE).
async fn serve(session: &Session) -> Result<(TrackWriter, tern_peer::Announcement), Error> {
    let writer =
        TrackWriter::new(ns(), TRACK).with_history(History::new(Duration::from_secs(30), 1 << 22));
    session.serve_track(&writer);
    let announcement = session.publish_namespace(ns()).await?;
    Ok((writer, announcement))
}

fn refused_as_outsider(e: &Error) -> bool {
    matches!(e, Error::Refused { code: 0x1, reason } if reason.contains("cluster"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_publish_outsiders_cannot_announce_or_hijack() {
    let pki = Pki::new("root");
    let root = root(&pki);
    let url = support::url(&root);

    // An origin with the cluster's certificate publishes at the root.
    let origin = connect(&url, Some(pki.identity("origin-1", false)))
        .await
        .expect("a member connects");
    let (writer, _announcement) = serve(&origin).await.expect("a member announces");
    let writers = Arc::new(Mutex::new(vec![writer]));
    let (producer, _written) = produce(writers.clone());
    let (_viewer, seen) = watch(&url).await;
    wait_flowing(std::slice::from_ref(&seen), Duration::from_secs(5)).await;

    // Someone without a certificate connects (viewers need none) but announces nothing...
    let outsider = connect(&url, None).await.expect("anyone may connect");
    let Err(refused) = serve(&outsider).await else {
        panic!("an outsider's announcement must be refused");
    };
    assert!(refused_as_outsider(&refused), "{refused}");
    // ...and cannot take the broadcast over with PUBLISH.
    let fake = TrackWriter::new(ns(), TRACK);
    let Err(hijack) = outsider.publish(&fake).await else {
        panic!("the hijack must be refused");
    };
    assert!(refused_as_outsider(&hijack), "{hijack}");
    for g in 0..3 {
        let _ = fake.new_group(1 << 40 | g);
        let _ = fake.write_object(bytes::Bytes::from_static(b"not the broadcast"));
    }
    // The viewer keeps getting the origin's objects (watch() checks every payload).
    wait_flowing(std::slice::from_ref(&seen), Duration::from_secs(5)).await;
    assert!(root.hub.read(move |r| r.untrusted_refusals()).await >= 2);

    // A certificate from another CA gets no session at all.
    let rogue = connect(&url, Some(pki.identity("origin-2", true))).await;
    match rogue {
        Err(Error::Connect(tern_quic::ConnectError::Tls { .. }))
        | Err(Error::Session(_))
        | Err(Error::Setup(_)) => {}
        other => panic!("a rogue certificate must fail the handshake, got {other:?}"),
    }
    producer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_edge_announces_into_the_tree_and_an_outsider_edge_does_not() {
    let pki = Pki::new("edges");
    let root = root(&pki);
    let member = edge(&pki, &root, Some(pki.identity("edge-1", false)));
    let outsider = edge(&pki, &root, None);

    // The same broadcast published below each edge (edges themselves trust everyone).
    let mut writers = Vec::new();
    let mut announcements = Vec::new();
    for e in [&member, &outsider] {
        let publisher = connect(&support::url(e), None).await.expect("connect");
        let (w, a) = serve(&publisher)
            .await
            .expect("an edge takes local publishers");
        writers.push(w);
        announcements.push((publisher, a));
    }
    // Only the member edge's announcement reaches the root.
    tree::wait_for(
        Duration::from_secs(5),
        "the outsider edge is refused",
        async || root.hub.read(move |r| r.untrusted_refusals()).await >= 1,
    )
    .await;
    tree::wait_for(
        Duration::from_secs(5),
        "the member edge announces",
        async || root.hub.read(move |r| r.routes(&tree::name())).await == 1,
    )
    .await;
    let writers = Arc::new(Mutex::new(writers));
    let (producer, _written) = produce(writers.clone());
    let (_viewer, seen) = watch(&support::url(&root)).await;
    wait_flowing(std::slice::from_ref(&seen), Duration::from_secs(5)).await;
    let upstream = root.hub.read(move |r| r.upstream_for(&tree::name())).await;
    let members = root
        .hub
        .read(move |r| upstream.is_some_and(|s| r.is_trusted(s)))
        .await;
    assert!(members, "the root's viewers are fed by the member edge");
    producer.abort();
}

/// An ingest edge of the cluster: it takes publishers besides members (`"any"`), tells members
/// by their certificate, and links to `root` as member `edge-ingest`.
fn ingest_edge(pki: &Pki, root: &Node) -> Node {
    let (mut router, mut settings) = default_settings();
    router.cluster = Some(Publishers::Any);
    settings.upstreams = vec![support::url(root)];
    settings.upstream_tls = UpstreamTls {
        roots: vec![pki.ca.clone()],
        identity: Some(pki.identity("edge-ingest", false)),
        ..UpstreamTls::default()
    };
    let server = member_server(pki, "127.0.0.1-ingest");
    Node::start(server, router, settings).expect("ingest edge starts")
}

/// Write a group of `payload` objects to `writer` every 50 ms, group ids from `first`.
fn keep_writing(
    writer: TrackWriter,
    first: u64,
    payload: &'static [u8],
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for g in first.. {
            let _ = writer.new_group(g);
            let _ = writer.write_object(bytes::Bytes::from_static(payload));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_at_an_ingest_edge_never_feeds_a_viewer_at_another_edge() {
    let pki = Pki::new("outsider-route");
    let root = root(&pki);
    // The broadcast, published at the root by a member origin; nobody watches it yet.
    let origin = connect(&support::url(&root), Some(pki.identity("origin-1", false)))
        .await
        .expect("a member connects");
    let (writer, _announced) = serve(&origin).await.expect("a member announces");
    let _origin_writes = keep_writing(writer, 1, b"origin");

    // An outsider at an ingest edge announces the same namespace, with its own objects.
    let ingest = ingest_edge(&pki, &root);
    let outsider = connect(&support::url(&ingest), None)
        .await
        .expect("connect");
    let (fake, _fake_announced) = serve(&outsider)
        .await
        .expect("an ingest edge takes an outsider's broadcast of its own");
    let _outsider_writes = keep_writing(fake, 1 << 30, b"outsider");
    tree::wait_for(
        Duration::from_secs(5),
        "both routes reach the root",
        async || root.hub.read(move |r| r.routes(&tree::name())).await == 2,
    )
    .await;

    // A viewer at another edge starts watching: only the origin's objects ever come.
    let other = edge(&pki, &root, Some(pki.identity("edge-2", false)));
    let viewer = connect(&support::url(&other), None).await.expect("viewer");
    let mut sub = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match viewer.subscribe(ns(), TRACK, None).await {
                Ok(sub) => break sub,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await
    .expect("the viewer subscribes");
    let mut origin_objects = 0;
    while origin_objects < 10 {
        let object = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("objects keep coming")
            .expect("subscription alive")
            .expect("not ended");
        assert_eq!(
            &object.payload[..],
            b"origin",
            "a viewer got an outsider's object (group {})",
            object.location.group
        );
        origin_objects += 1;
    }
}
