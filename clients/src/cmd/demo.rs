//! `tern demo`: a root relay with an origin (the embedded sample clip) and a clock publisher, an
//! edge relay linked to it, and the web player on the edge, in one process. The two relays and
//! the publishers form a throwaway cluster (a CA made at start, gone at exit).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use tern::client::{ConnectOptions, Session};
use tern::clock::{NAMESPACE, TRACK};
use tern_moq::TrackNamespace;
use tern_origin::events::{self, Sequencing};
use tern_origin::publish;
use tern_origin::source::{Input, SAMPLE_CLIP};
use tern_quic::{Identity, cert};
use tern_relay::config::{ClusterPublish, Config};

use super::client::{init_logging, shutdown_signal};

/// Options of `tern demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// UDP port of the relay (0: any free port). Default: 4443 when free, else any.
    #[arg(long)]
    pub port: Option<u16>,
    /// TCP port of the web page (0: any free port). Default: 8080 when free, else any.
    #[arg(long)]
    pub http_port: Option<u16>,
    /// UDP port of the SRT ingest (0: any free port). Default: 9000 when free, else any.
    #[arg(long)]
    pub srt_port: Option<u16>,
    /// TCP port of the RTMP ingest (0: any free port). Default: 1935 when free, else any.
    #[arg(long)]
    pub rtmp_port: Option<u16>,
}

/// `preferred` when it can be bound now, else 0 (the OS picks).
fn free_udp(preferred: u16) -> u16 {
    match UdpSocket::bind((Ipv4Addr::LOCALHOST, preferred)) {
        Ok(_) => preferred,
        Err(_) => 0,
    }
}

fn free_tcp(preferred: u16) -> u16 {
    match std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, preferred)) {
        Ok(_) => preferred,
        Err(_) => 0,
    }
}

/// The broadcast the demo publishes.
pub const DEMO_NAMESPACE: &str = "live/demo";

/// Run until Ctrl-C: a root relay with the origin (the embedded clip, looped) and the clock
/// publisher on it, an edge relay that links to the root, and the web pages on the edge.
pub async fn run(args: Args) -> anyhow::Result<()> {
    init_logging();
    // A throwaway cluster: its relays, and the demo's publishers, are members.
    let pki = DemoPki::make()?;
    // The root: only members publish here (the demo's origin and clock).
    let mut root_config = Config::default();
    root_config.relay.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    root_config.relay.tls_cert = Some(pki.root.cert.clone());
    root_config.relay.tls_key = Some(pki.root.key.clone());
    root_config.admin.enabled = false;
    root_config.cluster.ca = Some(pki.ca.clone());
    root_config.cluster.publish = ClusterPublish::Cluster;
    let (root, _root_ready) = tern_relay::run::start(&root_config).await?;
    let root_url = format!("moqt://{}", root.addr);

    // The edge: viewers connect here; it subscribes to the root once per track, as a member
    // whose certificate the cluster CA signed; publishers on this host may publish here too.
    let mut config = Config::default();
    let port = args.port.unwrap_or_else(|| free_udp(4443));
    config.relay.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    config.admin.enabled = false;
    config.upstreams = vec![root_url.parse()?];
    config.cluster.ca = Some(pki.ca.clone());
    config.cluster.cert = Some(pki.edge.cert.clone());
    config.cluster.key = Some(pki.edge.key.clone());
    config.cluster.publish = ClusterPublish::Any;
    // SRT publishers on this host publish into the edge (anonymous, from loopback).
    let srt_port = args.srt_port.unwrap_or_else(|| free_udp(9000));
    config.srt.bind = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, srt_port)));
    let rtmp_port = args.rtmp_port.unwrap_or_else(|| free_tcp(1935));
    config.rtmp.bind = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, rtmp_port)));
    let http_port = args.http_port.unwrap_or_else(|| free_tcp(8080));
    config.http.bind = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, http_port)));
    let (node, _readiness) = tern_relay::run::start(&config).await?;
    let ingest = match super::ingest::start(&config, &node).await {
        // A default port was taken since it was found free: any port will do.
        Err(_)
            if args.srt_port.is_none() || args.rtmp_port.is_none() || args.http_port.is_none() =>
        {
            if args.srt_port.is_none() {
                config.srt.bind = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
            }
            if args.rtmp_port.is_none() {
                config.rtmp.bind = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
            }
            if args.http_port.is_none() {
                config.http.bind = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
            }
            super::ingest::start(&config, &node).await?
        }
        r => r?,
    };
    let addr = node.addr;
    let fingerprint = node.fingerprint;
    let https = format!("https://{addr}");

    let opts = ConnectOptions {
        cert_hashes: vec![root.fingerprint],
        identity: Some(pki.origin.clone()),
        ..ConnectOptions::default()
    };
    let session = Session::connect(&root_url, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("demo publishers: {e}"))?;
    let (track, _announcement) = super::clock::start_publisher(&session, NAMESPACE, TRACK)
        .await
        .map_err(|e| anyhow::anyhow!("demo clock publisher: {e}"))?;
    let clock = tokio::spawn(async move {
        if let Err(e) = super::clock::tick(&track, false).await {
            tracing::warn!("clock publisher stopped: {e:#}");
        }
    });
    // The broadcast's events (the player's chat box), served before the broadcast is announced.
    let sequencing = Sequencing::new(
        &session,
        TrackNamespace::from_path(DEMO_NAMESPACE),
        events::Config::default(),
        None,
    )
    .with_extra_sessions(root_url.clone(), opts.clone());
    let events = tokio::spawn(async move {
        if let Err(e) = sequencing.run().await {
            tracing::warn!("events are off: {e:#}");
        }
    });
    // The broadcast goes straight into the root's cache through the node's local API (no
    // network hop), as a member: what a gateway inside a relay does with an RTMP publisher.
    let origin = {
        let api = root.local();
        tokio::spawn(async move {
            let input = Input::Embedded(SAMPLE_CLIP);
            let ns = TrackNamespace::from_path(DEMO_NAMESPACE);
            let credentials = tern_model::local::Credentials::member("demo");
            let target = publish::Target::Node(&api, &credentials);
            let r = publish::looped(target, ns, input, publish::Options::default(), |_| {}).await;
            if let Err(e) = r {
                eprintln!("tern demo: origin stopped: {e:#}");
            }
        })
    };

    // The pages and WHIP are on the edge's HTTP listener.
    let page = ingest.http.as_ref().map(|h| h.addr);
    println!(
        "tern demo: edge relay listening on {addr} (raw QUIC and WebTransport: {}), \
         linked to the root relay at {}",
        node.protocols().join(", "),
        root.addr
    );
    println!("certificate sha-256: {}", fingerprint.to_hex());
    println!(
        "origin: the sample clip (360p, 240p, 144p, AAC, Opus) as {DEMO_NAMESPACE}, with its \
         events (the player's chat box; `tern events watch` from a terminal); clock: namespace \
         {NAMESPACE}, track {TRACK}"
    );
    // The command to copy names this very binary, so it works before `tern` is on PATH.
    let tern = std::env::current_exe()
        .ok()
        .and_then(|p| {
            let cwd = std::env::current_dir().ok()?;
            Some(p.strip_prefix(&cwd).map(|r| r.to_path_buf()).unwrap_or(p))
        })
        .map_or_else(|| "tern".to_owned(), |p| p.display().to_string());
    println!("subscribe from a terminal:");
    println!("  {tern} clock subscribe {https} --tls-disable-verify");
    println!(
        "  (or pin the certificate: {tern} clock subscribe {https} --cert-hash {})",
        fingerprint.to_hex()
    );
    if let Some(page) = page {
        println!("watch in a browser: http://{page}/player.html?namespace={DEMO_NAMESPACE}");
        println!(
            "  (any browser, the best way it has: MoQ over WebTransport, WebRTC or LL-HLS: \
             http://{page}/watch/{DEMO_NAMESPACE})"
        );
        println!(
            "  (LL-HLS for hls.js, Safari, VLC, ffplay: http://{page}/hls/{DEMO_NAMESPACE}/index.m3u8; \
             WHEP: POST http://{page}/whep/{DEMO_NAMESPACE})"
        );
        println!("the clock in a browser: http://{page}/");
    }
    println!("publish from a terminal (each line you type is an object), and watch it:");
    println!("  {tern} publish {https} --tls-disable-verify --namespace live/mine --track text");
    println!("  {tern} subscribe {https} --tls-disable-verify --namespace live/mine --track text");
    println!(
        "  (or a fragmented MP4 as a live broadcast: {tern} origin {https} --tls-disable-verify \
         --namespace live/mine --input FILE.mp4 --loop, then watch it in the player with \
         ?namespace=live/mine)"
    );
    if let Some(srt) = &ingest.srt {
        let url = format!(
            "srt://{}?streamid=#!::r=live/cam1,m=publish",
            srt.local_addr()
        );
        println!("publish a camera or a file over SRT (H.264 and AAC in MPEG-TS) as live/cam1:");
        println!(
            "  ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=30 -f lavfi -i sine -c:v libx264 \\\n                 -g 60 -tune zerolatency -c:a aac -f mpegts '{url}'"
        );
        println!("  srt-live-transmit file://con '{url}' < FILE.ts");
        if let Some(page) = page {
            println!("  and watch it: http://{page}/player.html?namespace=live/cam1");
        }
    }
    if let Some(rtmp) = &ingest.rtmp {
        let url = format!("rtmp://{}/live", rtmp.local_addr());
        println!("publish over RTMP as live/cam2 (H.264 and AAC):");
        println!("  OBS: Settings > Stream > Service Custom, Server {url}, Stream Key cam2");
        println!(
            "  ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=30 -f lavfi -i sine -c:v libx264 \\\n    \
             -g 60 -tune zerolatency -c:a aac -f flv {url}/cam2"
        );
        if let Some(page) = page {
            println!("  and watch it: http://{page}/player.html?namespace=live/cam2");
        }
    }
    if let Some((http, whip)) = ingest
        .http
        .as_ref()
        .and_then(|h| Some((h, h.whip.as_ref()?)))
    {
        println!("publish your camera from a browser over WHIP (H.264 or VP8, Opus) as live/cam3:");
        println!("  {}/publish.html?path=live/cam3", http.base());
        println!(
            "  (any WHIP client: POST {}/whip/live/cam3; media on udp {})",
            http.base(),
            whip.udp_addr()
        );
        println!(
            "  and watch it: {}/player.html?namespace=live/cam3",
            http.base()
        );
    }
    println!("Ctrl-C stops everything.");

    shutdown_signal().await;
    eprintln!("tern demo: stopping");
    clock.abort();
    origin.abort();
    events.abort();
    session.close(0, "demo stopping");
    drop(ingest);
    node.shutdown("", Duration::from_millis(500)).await;
    root.shutdown("", Duration::from_millis(500)).await;
    drop(pki);
    Ok(())
}

/// The demo's throwaway cluster, in a scratch directory removed on drop: its CA, the root's
/// server certificate (for 127.0.0.1), the edge's and the publishers' member certificates.
struct DemoPki {
    dir: PathBuf,
    ca: PathBuf,
    root: Identity,
    edge: Identity,
    origin: Identity,
}

impl DemoPki {
    fn make() -> anyhow::Result<Self> {
        const DAY: Duration = Duration::from_secs(86_400);
        let dir = std::env::temp_dir().join(format!("tern-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let ca = cert::cluster_ca("demo", DAY)?;
        let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            Ok(path)
        };
        let member = |name: &str| -> anyhow::Result<Identity> {
            let pair = cert::issue(&ca, name, DAY)?;
            Ok(Identity {
                cert: write(&format!("{name}.pem"), &pair.cert)?,
                key: write(&format!("{name}.key"), &pair.key)?,
            })
        };
        Ok(Self {
            ca: write("cluster-ca.pem", &ca.cert)?,
            root: member("127.0.0.1")?,
            edge: member("edge")?,
            origin: member("origin")?,
            dir,
        })
    }
}

impl Drop for DemoPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
