//! Upstreams found through DNS: the test serves its own zone `tree.test.` with hickory-server
//! on 127.0.0.1 (port 0) and starts an edge relay whose only upstream is
//! `moqt://root.tree.test`, resolved through that server. SRV `_moqt._udp.root.tree.test`
//! lists a dead relay at priority 10 and root A at priority 20: the edge passes over the dead
//! one and links to A, and a viewer at the edge gets what is published at A. Then the zone
//! moves the name to root B (TTL 1 s): the edge re-resolves when the TTL runs out, leaves A and
//! links to B, and a new viewer gets what is published at B. Every wait is bounded.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hickory_proto::rr::rdata::{A, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::Server;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tern_moq::Location;

use support::*;

const TTL: u32 = 1;

fn name(s: &str) -> Name {
    Name::from_str(s).expect("name")
}

/// A zone `tree.test.` with SOA and the A records of `a`/`b`/`dead`, all 127.0.0.1.
fn zone() -> InMemoryZoneHandler {
    let origin = name("tree.test.");
    let mut z = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(
        name("ns.tree.test."),
        name("admin.tree.test."),
        1,
        60,
        60,
        60,
        TTL,
    );
    z.upsert_mut(Record::from_rdata(origin, TTL, RData::SOA(soa)), 1);
    for host in ["a", "b", "dead"] {
        let record = Record::from_rdata(
            name(&format!("{host}.tree.test.")),
            TTL,
            RData::A(A(Ipv4Addr::LOCALHOST)),
        );
        z.upsert_mut(record, 1);
    }
    z
}

/// Replace the SRV records of `_moqt._udp.root.tree.test.` with `targets` (priority, port, host).
async fn set_srv(zone: &InMemoryZoneHandler, targets: &[(u16, u16, &str)], serial: u32) {
    let owner = name("_moqt._udp.root.tree.test.");
    zone.records_mut()
        .await
        .retain(|k, _| k.record_type != RecordType::SRV);
    for (priority, port, host) in targets {
        let srv = SRV::new(*priority, 10, *port, name(&format!("{host}.tree.test.")));
        assert!(
            zone.upsert(
                Record::from_rdata(owner.clone(), TTL, RData::SRV(srv)),
                serial
            )
            .await,
            "SRV record added"
        );
    }
}

/// Serve `zone` on 127.0.0.1 (UDP, port 0); the server runs until the test's runtime ends.
async fn serve(zone: Arc<InMemoryZoneHandler>) -> SocketAddr {
    let mut catalog = Catalog::new();
    let handler: Arc<dyn ZoneHandler> = zone;
    catalog.upsert(LowerName::new(&name("tree.test.")), vec![handler]);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("dns socket");
    let addr = socket.local_addr().expect("addr");
    let mut server = Server::new(catalog);
    server.register_socket(socket);
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    addr
}

/// Once the relay subscribes, a group of one object every 100 ms (payloads from `seed`).
fn feed(publisher: Publisher, seed: u8) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let sub = loop {
            if let Some(s) = publisher.subscribed_within(Duration::from_secs(60)).await {
                break s;
            }
        };
        for g in 0.. {
            publisher
                .peer
                .write_group(sub.alias, g, &[payload(seed, g, 0, 100)])
                .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Subscribe at `url` until the namespace is there (bounded), then read one object.
async fn first_object(url: &str, namespace: &str) -> (Location, Bytes) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let viewer = Peer::connect(url).await;
        let (_req, answer) = viewer.subscribe(namespace, "t", None).await;
        if answer.is_ok() {
            while let Some(event) = viewer.next_data(STEP).await {
                if let DataEvent::Object {
                    group,
                    object,
                    payload,
                    ..
                } = event
                {
                    return (Location::new(group, object), payload);
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no object of {namespace} at {url} within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_named_in_dns_is_found_by_srv_and_followed_when_dns_moves_it() {
    let (router, settings) = default_settings();
    let root_a = start_relay(router.clone(), settings.clone());
    let root_b = start_relay(router.clone(), settings.clone());
    // A port nobody listens on: a relay that is down.
    let dead_port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        s.local_addr().expect("addr").port()
    };
    let zone = Arc::new(zone());
    set_srv(
        &zone,
        &[(10, dead_port, "dead"), (20, root_a.addr.port(), "a")],
        2,
    )
    .await;
    let dns = serve(zone.clone()).await;

    let (router, mut edge_settings) = default_settings();
    edge_settings.upstreams = vec!["moqt://root.tree.test".into()];
    edge_settings.upstream_tls.disable_verify = true;
    edge_settings.upstream_tls.dns_servers = vec![dns];
    let edge = start_relay(router, edge_settings);
    let edge_url = url(&edge);

    // Published at A, played at the edge.
    let feed_a = feed(Publisher::start(&url(&root_a), "live/a").await, 1);
    let (loc, data) = within(
        Duration::from_secs(20),
        "an object of A at the edge",
        first_object(&edge_url, "live/a"),
    )
    .await;
    assert_eq!(data, payload(1, loc.group, loc.object, 100));

    // DNS moves the name to B; within TTL + a margin the edge follows.
    set_srv(&zone, &[(10, root_b.addr.port(), "b")], 3).await;
    let feed_b = feed(Publisher::start(&url(&root_b), "live/b").await, 2);
    let (loc, data) = within(
        Duration::from_secs(20),
        "an object of B at the edge",
        first_object(&edge_url, "live/b"),
    )
    .await;
    assert_eq!(data, payload(2, loc.group, loc.object, 100));
    feed_a.abort();
    feed_b.abort();
}
