use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const EXAMPLE: &str = include_str!("../../../deploy/relay.example.toml");
const FILE: &str = "relay.toml";

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(
    toml: Option<&str>,
    vars: &[(&str, &str)],
    flags: &Overrides,
) -> Result<Config, ConfigError> {
    Config::load_str(toml.map(|text| (Path::new(FILE), text)), env(vars), flags)
}

/// The error message of loading `toml` (from `relay.toml`) with `vars`.
fn error(toml: Option<&str>, vars: &[(&str, &str)]) -> String {
    match load(toml, vars, &Overrides::default()) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn assert_starts(message: &str, prefix: &str) {
    assert!(
        message.starts_with(prefix),
        "got {message:?}, want it to start with {prefix:?}"
    );
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

#[test]
fn defaults_without_file_env_or_flags() {
    let config = load(None, &[], &Overrides::default()).expect("defaults are valid");
    assert_eq!(config, Config::default());
    assert_eq!(config.relay.bind, addr("[::]:4443"));
    assert_eq!(config.admin.bind, addr("127.0.0.1:9464"));
    assert_eq!(config.limits.max_object_size, 16 << 20);
    assert_eq!(config.limits.max_control_message, 16 << 10);
    assert_eq!(config.cache.max_bytes, 256 << 20);
    assert_eq!(config.cache.max_duration, Duration::from_secs(30));
    assert_eq!(config.quic.congestion, Congestion::Bbr);
    assert!(config.upstreams.is_empty());
}

#[test]
fn precedence_defaults_file_env_flags() {
    let file = r#"
        [relay]
        bind = "10.0.0.1:1000"
        name = "from-file"
        [cache]
        max_bytes = 1000
        max_duration = "5s"
        [log]
        format = "json"
    "#;
    let vars = [
        ("TERN_RELAY_BIND", "10.0.0.2:2000"),
        ("TERN_CACHE_MAX_BYTES", "2000"),
        ("TERN_ADMIN_ENABLED", "false"),
        (
            "TERN_UPSTREAMS",
            "https://up.example:4443, moqt://up2.example:4443",
        ),
        // Not settings: ignored.
        ("TERN_CACHE", "/root/.cache/tern"),
        ("TERN_PEERS_BIN", "/root/.cache/tern/peers/bin"),
        ("HOME", "/root"),
    ];
    let flags = Overrides {
        bind: Some(addr("10.0.0.3:3000")),
        ..Overrides::default()
    };

    let file_only = load(Some(file), &[], &Overrides::default()).expect("file");
    assert_eq!(file_only.relay.bind, addr("10.0.0.1:1000"));
    assert_eq!(file_only.cache.max_bytes, 1000);
    assert!(file_only.admin.enabled, "untouched keys keep defaults");

    let with_env = load(Some(file), &vars, &Overrides::default()).expect("file + env");
    assert_eq!(with_env.relay.bind, addr("10.0.0.2:2000"), "env beats file");
    assert_eq!(with_env.cache.max_bytes, 2000);
    assert_eq!(
        with_env.cache.max_duration,
        Duration::from_secs(5),
        "file beats default"
    );
    assert_eq!(with_env.relay.name, "from-file");
    assert!(!with_env.admin.enabled, "env beats default");
    assert_eq!(with_env.upstreams.len(), 2);
    assert_eq!(with_env.upstreams[1].as_str(), "moqt://up2.example:4443");

    let all = load(Some(file), &vars, &flags).expect("file + env + flags");
    assert_eq!(all.relay.bind, addr("10.0.0.3:3000"), "flag beats env");
    assert_eq!(all.cache.max_bytes, 2000);
    assert_eq!(all.log.format, LogFormat::Json);
}

#[test]
fn every_flag_overrides_env() {
    let vars = [
        ("TERN_RELAY_BIND", "10.0.0.2:2000"),
        ("TERN_RELAY_TLS_CERT", "/env/cert.pem"),
        ("TERN_RELAY_TLS_KEY", "/env/key.pem"),
        ("TERN_ADMIN_BIND", "10.0.0.2:9000"),
        ("TERN_LOG_FORMAT", "json"),
        ("TERN_SRT_BIND", "10.0.0.2:9000"),
    ];
    let flags = Overrides {
        bind: Some(addr("10.0.0.3:3000")),
        tls_cert: Some(PathBuf::from("/flag/cert.pem")),
        tls_key: Some(PathBuf::from("/flag/key.pem")),
        admin_bind: Some(addr("10.0.0.3:9000")),
        log_format: Some(LogFormat::Text),
        srt: Some(addr("10.0.0.3:9001")),
        rtmp: Some(addr("10.0.0.3:1935")),
        rtmps: Some(addr("10.0.0.3:443")),
        http: Some(addr("10.0.0.3:8080")),
    };
    let config = load(None, &vars, &flags).expect("valid");
    assert_eq!(config.relay.bind, addr("10.0.0.3:3000"));
    assert_eq!(
        config.relay.tls_cert.as_deref(),
        Some(Path::new("/flag/cert.pem"))
    );
    assert_eq!(
        config.relay.tls_key.as_deref(),
        Some(Path::new("/flag/key.pem"))
    );
    assert_eq!(config.admin.bind, addr("10.0.0.3:9000"));
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!(config.srt.bind, Some(addr("10.0.0.3:9001")));
    assert_eq!(config.rtmp.bind, Some(addr("10.0.0.3:1935")));
    assert_eq!(config.rtmp.tls_bind, Some(addr("10.0.0.3:443")));
    assert_eq!(config.http.bind, Some(addr("10.0.0.3:8080")));
}

#[test]
fn every_key_settable_from_env() {
    let vars: Vec<(String, &str)> = vec![
        ("upstreams", "moqt://a.example:1"),
        ("relay.bind", "127.0.0.1:1"),
        ("relay.tls_cert", "c.pem"),
        ("relay.tls_key", "k.pem"),
        ("relay.name", "edge-7"),
        ("relay.open_publishing", "true"),
        ("relay.takeover", "first"),
        ("relay.drafts", "18, 20"),
        ("admin.bind", "127.0.0.1:2"),
        ("admin.enabled", "false"),
        ("log.format", "json"),
        ("log.level", "debug"),
        ("limits.max_object_size", "1"),
        ("limits.max_control_message", "2"),
        ("limits.max_requests_per_session", "3"),
        ("limits.max_subscriptions_per_session", "4"),
        ("limits.max_namespace_fields", "5"),
        ("limits.max_sessions_per_ip", "6"),
        ("limits.new_sessions_per_ip", "7"),
        ("limits.max_sessions", "8"),
        ("limits.receive_per_session", "9"),
        ("limits.receive_total", "10"),
        ("limits.retry_above_handshakes", "0"),
        ("cache.max_bytes", "8"),
        ("cache.max_duration", "9ms"),
        ("cache.max_group_bytes", "7"),
        ("cache.max_live_per_session", "8"),
        ("subscriber.max_queued_bytes", "10"),
        ("subscriber.max_lag_groups", "11"),
        ("subscriber.too_far_behind_after", "12m"),
        ("quic.congestion", "newreno"),
        ("quic.idle_timeout", "1h"),
        ("quic.keep_alive", "0s"),
        ("quic.stream_receive_window", "13"),
        ("quic.receive_window", "14"),
        ("quic.send_window", "15"),
        ("quic.max_concurrent_bidi_streams", "16"),
        ("quic.max_concurrent_uni_streams", "17"),
        ("upstream.cert_hashes", ""),
        ("upstream.disable_verify", "false"),
        ("upstream.max_depth", "3"),
        ("upstream.linger", "250ms"),
        ("upstream.dns_servers", "10.0.0.2:53, 10.0.0.3:5353"),
        ("plugin.file", "token.wasm"),
        ("plugin.config_file", "token.json"),
        ("plugin.deadline", "5ms"),
        ("plugin.max_memory", "2097152"),
        ("plugin.workers", "3"),
        ("plugin.queue", "4"),
        ("plugin.reload_interval", "0s"),
        ("plugin.record", "calls.jsonl"),
        ("plugin.record_max_calls", "5"),
        ("drain.goaway_uri", "moqt://edge-next.example:4443"),
        ("drain.timeout", "25s"),
        ("upstream.idle_timeout", "1500ms"),
        ("cluster.ca", "/etc/tern/cluster/ca.pem"),
        ("cluster.cert", "/etc/tern/cluster/tls.crt"),
        ("cluster.key", "/etc/tern/cluster/tls.key"),
        ("cluster.publish", "any"),
        ("ingest.keys_file", "keys.toml"),
        ("ingest.transcode_audio", "false"),
        ("ingest.ffmpeg", "/opt/ffmpeg/bin/ffmpeg"),
        ("ingest.ladder", "360p@800k, 180p@0.3M"),
        ("srt.bind", "10.0.0.2:9000"),
        ("srt.latency", "200ms"),
        ("srt.max_publishers", "7"),
        ("srt.passphrases_file", "srt.toml"),
        ("rtmp.bind", "10.0.0.2:1935"),
        ("rtmp.tls_bind", "10.0.0.2:443"),
        ("rtmp.max_publishers", "9"),
        ("http.enabled", "false"),
        ("http.bind", "10.0.0.2:8443"),
        ("whip.enabled", "false"),
        ("whip.udp", "10.0.0.2:8189"),
        ("whip.advertise", "203.0.113.7,2001:db8::7"),
        ("whip.keyframe_interval", "1s"),
        ("whip.max_sessions", "11"),
        ("hls.enabled", "false"),
        ("hls.target_duration", "6s"),
        ("hls.part_target", "500ms"),
        ("whep.enabled", "false"),
        ("whep.max_sessions", "12"),
        (
            "whep.ice_servers",
            "stun:stun.example.net,turn:turn.example.net?transport=udp",
        ),
        ("whep.ice_username", "viewer"),
        ("whep.ice_credential", "secret"),
    ]
    .into_iter()
    .map(|(key, value)| (env::var_name(key), value))
    .collect();
    let listed: BTreeSet<String> = vars.iter().map(|(var, _)| var.clone()).collect();
    let known: BTreeSet<String> = KEYS.iter().map(|key| env::var_name(key)).collect();
    assert_eq!(listed, known, "this test lists every setting");

    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let config = load(None, &pairs, &Overrides::default()).expect("valid");
    assert_eq!(config.upstreams[0].as_str(), "moqt://a.example:1");
    assert_eq!(config.relay.name, "edge-7");
    assert_eq!(config.log.level, "debug");
    assert_eq!(config.limits.retry_above_handshakes, 0);
    assert_eq!(config.cache.max_duration, Duration::from_millis(9));
    assert_eq!(
        config.subscriber.too_far_behind_after,
        Duration::from_secs(720)
    );
    assert_eq!(config.quic.congestion, Congestion::NewReno);
    assert_eq!(config.quic.keep_alive, Duration::ZERO);
    assert_eq!(config.quic.max_concurrent_uni_streams, 17);
    assert_eq!(
        config.upstream.dns_servers,
        ["10.0.0.2:53", "10.0.0.3:5353"]
    );
    assert_eq!(config.plugin.file.as_deref(), Some(Path::new("token.wasm")));
    assert_eq!(config.plugin.deadline, Duration::from_millis(5));
    assert_eq!(config.plugin.reload_interval, Duration::ZERO);
    assert_eq!(
        config.plugin.record.as_deref(),
        Some(Path::new("calls.jsonl"))
    );
    assert_eq!(config.plugin.record_max_calls, 5);
    assert_eq!(config.drain.goaway_uri, "moqt://edge-next.example:4443");
    assert_eq!(config.drain.timeout, Duration::from_secs(25));
    assert_eq!(config.upstream.idle_timeout, Duration::from_millis(1500));
    assert_eq!(config.cluster.publish, super::ClusterPublish::Any);
    assert_eq!(
        config.ingest.keys_file.as_deref(),
        Some(Path::new("keys.toml"))
    );
    assert!(!config.ingest.transcode_audio);
    assert_eq!(config.ingest.ffmpeg, "/opt/ffmpeg/bin/ffmpeg");
    assert_eq!(config.ingest.ladder, ["360p@800k", "180p@0.3M"]);
    assert_eq!(config.srt.bind, Some(addr("10.0.0.2:9000")));
    assert_eq!(config.srt.latency, Duration::from_millis(200));
    assert_eq!(config.srt.max_publishers, 7);
    assert_eq!(config.rtmp.bind, Some(addr("10.0.0.2:1935")));
    assert_eq!(config.rtmp.tls_bind, Some(addr("10.0.0.2:443")));
    assert_eq!(config.rtmp.max_publishers, 9);
    assert!(!config.http.enabled);
    assert_eq!(config.http.bind, Some(addr("10.0.0.2:8443")));
    assert!(!config.whip.enabled);
    assert_eq!(config.whip.udp, Some(addr("10.0.0.2:8189")));
    assert_eq!(config.whip.advertise, ["203.0.113.7", "2001:db8::7"]);
    assert_eq!(config.whip.keyframe_interval, Duration::from_secs(1));
    assert_eq!(config.whip.max_sessions, 11);
    assert!(!config.hls.enabled);
    assert_eq!(config.hls.target_duration, Duration::from_secs(6));
    assert_eq!(config.hls.part_target, Duration::from_millis(500));
    assert!(!config.whep.enabled);
    assert_eq!(config.whep.max_sessions, 12);
    assert_eq!(
        config.whep.ice_servers,
        [
            "stun:stun.example.net",
            "turn:turn.example.net?transport=udp"
        ]
    );
    assert_eq!(config.whep.ice_username, "viewer");
    assert_eq!(config.whep.ice_credential, "secret");
    assert!(config.relay.open_publishing);
    assert_eq!(config.relay.takeover, super::TakeOverPolicy::First);
    assert_eq!(config.cache.max_live_per_session, 8);
    assert_eq!(
        config.cluster.key.as_deref(),
        Some(Path::new("/etc/tern/cluster/tls.key"))
    );
}

#[test]
fn keys_match_the_serialized_config() {
    let mut config = Config::default();
    config.relay.tls_cert = Some("c.pem".into());
    config.relay.tls_key = Some("k.pem".into());
    config.plugin.file = Some("p.wasm".into());
    config.plugin.config_file = Some("p.json".into());
    config.plugin.record = Some("calls.jsonl".into());
    config.cluster.ca = Some("ca.pem".into());
    config.cluster.cert = Some("n.pem".into());
    config.cluster.key = Some("n.key".into());
    config.ingest.keys_file = Some("keys.toml".into());
    config.srt.bind = Some("127.0.0.1:9000".parse().expect("address"));
    config.srt.passphrases_file = Some("srt.toml".into());
    config.rtmp.bind = Some("127.0.0.1:1935".parse().expect("address"));
    config.rtmp.tls_bind = Some("127.0.0.1:443".parse().expect("address"));
    config.http.bind = Some("127.0.0.1:8080".parse().expect("address"));
    config.whip.udp = Some("127.0.0.1:8189".parse().expect("address"));
    let table: toml::Table = toml::from_str(&config.to_toml().expect("serializes")).expect("toml");
    let mut serialized = BTreeSet::new();
    for (name, value) in &table {
        match value {
            toml::Value::Table(inner) => {
                serialized.extend(inner.keys().map(|field| format!("{name}.{field}")));
            }
            _ => {
                serialized.insert(name.clone());
            }
        }
    }
    let known: BTreeSet<String> = KEYS.iter().map(|key| (*key).to_owned()).collect();
    assert_eq!(
        serialized, known,
        "KEYS (the env list) and the struct fields must agree"
    );
}

#[test]
fn example_file_documents_every_default() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/relay.example.toml"
    ));
    let config = Config::load(Some(path), env(&[]), &Overrides::default()).expect("example loads");
    assert_eq!(
        config,
        Config::default(),
        "the example sets every key to its default"
    );

    // Every key appears, the optional ones commented out.
    let mut table = "";
    let mut documented = BTreeSet::new();
    for line in EXAMPLE.lines() {
        let line = line.trim().trim_start_matches("# ");
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name;
        } else if let Some((key, _)) = line.split_once(" = ") {
            if table.is_empty() {
                documented.insert(key.to_owned());
            } else {
                documented.insert(format!("{table}.{key}"));
            }
        }
    }
    for key in KEYS {
        assert!(
            documented.contains(*key),
            "{key} is missing from deploy/relay.example.toml"
        );
    }

    // The commented TLS lines are valid when uncommented.
    let uncommented = EXAMPLE.replace("# tls_", "tls_");
    let config = Config::from_toml(Path::new(FILE), &uncommented).expect("with TLS");
    assert_eq!(
        config.relay.tls_key.as_deref(),
        Some(Path::new("/etc/tern/tls/key.pem"))
    );
}

#[test]
fn non_default_config_round_trips() {
    let mut config = Config::default();
    config.relay.bind = addr("0.0.0.0:443");
    config.relay.tls_cert = Some("/tls/cert.pem".into());
    config.relay.tls_key = Some("/tls/key.pem".into());
    config.relay.name = "edge \"quoted\" ünïcode".into();
    config.admin.enabled = false;
    config.log.format = LogFormat::Json;
    config.log.level = "info,tern_relay=trace".into();
    config.limits.max_control_message = 65_535;
    config.cache.max_duration = Duration::from_millis(1500);
    config.subscriber.too_far_behind_after = Duration::from_secs(90);
    config.quic.congestion = Congestion::Cubic;
    config.quic.keep_alive = Duration::from_micros(2500);
    config.upstreams = vec![
        "https://parent.example:4443/".parse().expect("url"),
        "moqt://[2001:db8::1]:4443".parse().expect("url"),
    ];
    let text = config.to_toml().expect("serializes");
    assert_eq!(
        Config::from_toml(Path::new(FILE), &text).expect("parses"),
        config,
        "{text}"
    );
}

#[test]
fn file_unknown_keys_name_file_and_key() {
    assert_eq!(
        error(Some("[cache]\nmax_byts = 1\n"), &[]),
        "relay.toml: unknown key 'cache.max_byts' (did you mean 'cache.max_bytes'?)"
    );
    assert_eq!(
        error(Some("[cahce]\nmax_bytes = 1\n"), &[]),
        "relay.toml: unknown key 'cahce' (did you mean 'cache'?)"
    );
    assert_eq!(
        error(Some("[relay.tls]\ncert = 'x'\n"), &[]),
        "relay.toml: unknown key 'relay.tls'"
    );
    // A top-level key written after a table header belongs to that table.
    assert_eq!(
        error(Some("[relay]\nname = 'a'\nupstreams = []\n"), &[]),
        "relay.toml: unknown key 'relay.upstreams'"
    );
    assert_eq!(
        error(Some("cache.max_bytes = 1\nbogus = 2\n"), &[]),
        "relay.toml: unknown key 'bogus'"
    );
}

#[test]
fn file_bad_values_name_file_key_and_position() {
    let cases: &[(&str, &str)] = &[
        (
            "[cache]\nmax_bytes = \"lots\"\n",
            "relay.toml: cache.max_bytes: invalid type: string \"lots\", expected a non-negative \
             integer (line 2, column 13)",
        ),
        ("[cache]\nmax_bytes = -1\n", "relay.toml: cache.max_bytes: "),
        (
            "[cache]\nmax_duration = \"30 parsecs\"\n",
            "relay.toml: cache.max_duration: unknown unit",
        ),
        (
            "[cache]\nmax_duration = 30\n",
            "relay.toml: cache.max_duration: invalid type: integer",
        ),
        (
            "[relay]\nbind = \"nope\"\n",
            "relay.toml: relay.bind: invalid socket address, expected an",
        ),
        (
            "[log]\nformat = \"xml\"\n",
            "relay.toml: log.format: unknown variant `xml`",
        ),
        (
            "[quic]\ncongestion = \"vegas\"\n",
            "relay.toml: quic.congestion: unknown variant",
        ),
        (
            "[admin]\nenabled = \"yes\"\n",
            "relay.toml: admin.enabled: invalid type: string",
        ),
        (
            "[limits]\nmax_control_message = 5000000000\n",
            "relay.toml: limits.max_control_message",
        ),
        (
            "upstreams = [\"https://a:1\", \"not a url\"]\n",
            "relay.toml: upstreams[1]: ",
        ),
        (
            "upstreams = \"https://a:1\"\n",
            "relay.toml: upstreams: invalid type: string",
        ),
        (
            "cache = 5\n",
            "relay.toml: cache: invalid type: integer `5`, expected a table",
        ),
        (
            "[relay]\nbind = 5\n",
            "relay.toml: relay.bind: invalid type: integer `5`, expected an",
        ),
    ];
    for (toml, expected) in cases {
        let message = error(Some(toml), &[]);
        assert!(
            message.starts_with(expected),
            "{toml:?}: got {message:?}, want {expected:?}"
        );
        assert!(message.contains("(line "), "{message}");
    }
}

#[test]
fn file_syntax_error_names_file_line_and_column() {
    let message = error(Some("[relay]\nname = \"unterminated\n"), &[]);
    assert!(message.starts_with("relay.toml:2:"), "{message}");
    let message = error(Some("[relay]\nname = 'a'\nname = 'b'\n"), &[]);
    assert!(message.starts_with("relay.toml:3:"), "{message}");
}

#[test]
fn missing_file_names_the_file() {
    let path = Path::new("/nonexistent/tern/relay.toml");
    let message = Config::load(Some(path), env(&[]), &Overrides::default())
        .expect_err("missing")
        .to_string();
    assert!(
        message.starts_with("/nonexistent/tern/relay.toml: cannot read"),
        "{message}"
    );
}

#[test]
fn env_errors_name_the_variable() {
    assert_eq!(
        error(None, &[("TERN_CACHE_MAX_BYTES", "lots")]),
        "environment TERN_CACHE_MAX_BYTES: invalid value 'lots': expected a non-negative integer"
    );
    assert_eq!(
        error(None, &[("TERN_CACHE_MAX_BYTS", "1")]),
        "environment TERN_CACHE_MAX_BYTS: unknown setting (did you mean 'TERN_CACHE_MAX_BYTES'?)"
    );
    assert_eq!(
        error(None, &[("TERN_RELAY_BIND", "localhost")]),
        "environment TERN_RELAY_BIND: invalid value 'localhost': expected an address and port \
         such as 127.0.0.1:9464 or [::]:4443"
    );
    assert_eq!(
        error(None, &[("TERN_LOG_FORMAT", "xml")]),
        "environment TERN_LOG_FORMAT: invalid value 'xml': unknown variant `xml`, expected `text` \
         or `json`"
    );
    assert_eq!(
        error(None, &[("TERN_QUIC_IDLE_TIMEOUT", "10")]),
        "environment TERN_QUIC_IDLE_TIMEOUT: invalid value '10': missing unit in \"10\" (use ms, \
         s, m or h)"
    );
    assert_starts(
        &error(None, &[("TERN_UPSTREAMS", "https://a:1,nope")]),
        "environment TERN_UPSTREAMS: invalid value 'https://a:1,nope': 'nope'",
    );
    assert!(error(None, &[("TERN_ADMIN_ENABLED", "yes")]).contains("expected true or false"));
}

#[test]
fn cross_field_rules_name_origin_and_key() {
    let file = |toml: &str| error(Some(toml), &[]);
    assert_eq!(
        file("[relay]\ntls_cert = 'c.pem'\n"),
        "relay.toml: relay.tls_cert: set without relay.tls_key"
    );
    assert_eq!(
        file("[relay]\ntls_key = 'k.pem'\n"),
        "relay.toml: relay.tls_key: set without relay.tls_cert"
    );
    let flags = Overrides {
        tls_cert: Some("c.pem".into()),
        ..Overrides::default()
    };
    assert_eq!(
        load(None, &[], &flags).expect_err("cert alone").to_string(),
        "flag --tls-cert: relay.tls_cert: set without relay.tls_key"
    );
    assert_eq!(
        error(None, &[("TERN_LIMITS_MAX_CONTROL_MESSAGE", "70000")]),
        "environment TERN_LIMITS_MAX_CONTROL_MESSAGE: limits.max_control_message: 70000 exceeds \
         65535 (a control message length is 16 bits)"
    );
    assert_starts(
        &file("[limits]\nmax_namespace_fields = 33\n"),
        "relay.toml: limits.max_namespace_fields: 33 exceeds 32",
    );
    assert_eq!(
        file("[quic]\nidle_timeout = '2s'\n"),
        "relay.toml: quic.idle_timeout: 2s must be above quic.keep_alive (2s) or the connection \
         idles out"
    );
    assert_starts(
        &error(
            Some("[quic]\nidle_timeout = '2s'\n"),
            &[("TERN_QUIC_KEEP_ALIVE", "3s")],
        ),
        "environment TERN_QUIC_KEEP_ALIVE: quic.keep_alive: 3s must be below",
    );
    let keep_alive_off = load(
        Some("[quic]\nidle_timeout = '1s'\n"),
        &[("TERN_QUIC_KEEP_ALIVE", "0s")],
        &Overrides::default(),
    );
    assert!(
        keep_alive_off.is_ok(),
        "0s disables keep-alive: {keep_alive_off:?}"
    );
    assert_eq!(
        file("[cluster]\ncert = 'n.pem'\n"),
        "relay.toml: cluster.cert: set without cluster.key"
    );
    assert_eq!(
        file("[cluster]\ncert = 'n.pem'\nkey = 'n.key'\n"),
        "relay.toml: cluster.cert: set without cluster.ca (the CA that makes peers members)"
    );
    assert_eq!(
        error(None, &[("TERN_UPSTREAM_IDLE_TIMEOUT", "50ms")]),
        "environment TERN_UPSTREAM_IDLE_TIMEOUT: upstream.idle_timeout: must be 100ms to 60s"
    );
    assert_starts(
        &file("[cluster]\npublish = 'everyone'\n"),
        "relay.toml: cluster.publish",
    );
    assert_starts(
        &file("[log]\nlevel = 'info,[[['\n"),
        "relay.toml: log.level: ",
    );
    assert_starts(
        &file("upstreams = ['http://a.example:8080']\n"),
        "relay.toml: upstreams: http://a.example:8080/: scheme must be https",
    );
    assert_starts(
        &file("[quic]\nsend_window = 4611686018427387904\n"),
        "relay.toml: quic.send_window: ",
    );
    assert_starts(
        &file("[relay]\nname = ' '\n"),
        "relay.toml: relay.name: must not be empty",
    );
    assert_starts(
        &file("[relay]\ntls_cert = ''\ntls_key = 'k.pem'\n"),
        "relay.toml: relay.tls_cert: empty path",
    );
    // An empty variable clears a path the file set.
    let cleared = load(
        Some("[relay]\ntls_cert = 'c.pem'\ntls_key = 'k.pem'\n"),
        &[("TERN_RELAY_TLS_CERT", ""), ("TERN_RELAY_TLS_KEY", "")],
        &Overrides::default(),
    )
    .expect("cleared");
    assert_eq!(cleared.relay.tls_cert, None);
}

#[test]
fn zero_sizes_are_refused_naming_the_key() {
    let zero_keys = [
        ("limits.max_object_size", "0"),
        ("limits.max_control_message", "0"),
        ("limits.max_requests_per_session", "0"),
        ("limits.max_subscriptions_per_session", "0"),
        ("limits.max_namespace_fields", "0"),
        ("limits.max_sessions_per_ip", "0"),
        ("cache.max_bytes", "0"),
        ("cache.max_duration", "0s"),
        ("cache.max_group_bytes", "0"),
        ("subscriber.max_queued_bytes", "0"),
        ("subscriber.max_lag_groups", "0"),
        ("subscriber.too_far_behind_after", "0ms"),
        ("quic.idle_timeout", "0s"),
        ("quic.stream_receive_window", "0"),
        ("quic.receive_window", "0"),
        ("quic.send_window", "0"),
        ("quic.max_concurrent_bidi_streams", "0"),
        ("quic.max_concurrent_uni_streams", "0"),
    ];
    for (key, zero) in zero_keys {
        // From the environment...
        let var = env::var_name(key);
        let mut vars = vec![(var.as_str(), zero)];
        if key == "quic.idle_timeout" {
            vars.push(("TERN_QUIC_KEEP_ALIVE", "0s"));
        }
        assert_eq!(
            error(None, &vars),
            format!("environment {var}: {key}: must be greater than 0")
        );
        // ...and from the file.
        let (table, field) = key.split_once('.').expect("dotted");
        let value = if zero.ends_with('s') {
            format!("'{zero}'")
        } else {
            zero.to_owned()
        };
        let mut toml = format!("[{table}]\n{field} = {value}\n");
        if key == "quic.idle_timeout" {
            toml.push_str("keep_alive = '0s'\n");
        }
        assert_eq!(
            error(Some(&toml), &[]),
            format!("relay.toml: {key}: must be greater than 0")
        );
    }
}

#[test]
fn validate_on_programmatic_config() {
    let mut config = Config::default();
    assert!(config.validate().is_ok());
    config.cache.max_bytes = 0;
    assert_eq!(
        config.validate().expect_err("zero").to_string(),
        "default: cache.max_bytes: must be greater than 0"
    );
}

#[test]
fn durations_parse_and_format() {
    let ok = [
        ("30s", Duration::from_secs(30)),
        ("500ms", Duration::from_millis(500)),
        ("1m30s", Duration::from_secs(90)),
        ("1m 30s", Duration::from_secs(90)),
        (" 2h ", Duration::from_secs(7200)),
        ("250us", Duration::from_micros(250)),
        ("7ns", Duration::from_nanos(7)),
        ("0s", Duration::ZERO),
    ];
    for (text, expected) in ok {
        assert_eq!(parse_duration(text), Ok(expected), "{text}");
        assert_eq!(
            parse_duration(&format_duration(expected)),
            Ok(expected),
            "{text}"
        );
    }
    assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    assert_eq!(format_duration(Duration::from_secs(120)), "2m");
    assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    for bad in [
        "",
        "30",
        "s",
        "5x",
        "1.5s",
        "-1s",
        "99999999999999999999999h",
        "6000000h",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
    }
}

#[test]
fn enums_parse_like_the_file() {
    for format in [LogFormat::Text, LogFormat::Json] {
        assert_eq!(format.as_str().parse::<LogFormat>(), Ok(format));
    }
    for congestion in [Congestion::Bbr, Congestion::Cubic, Congestion::NewReno] {
        assert_eq!(congestion.as_str().parse::<Congestion>(), Ok(congestion));
        let toml = format!("[quic]\ncongestion = '{congestion}'\n");
        let config = Config::from_toml(Path::new(FILE), &toml).expect("valid");
        assert_eq!(config.quic.congestion, congestion);
    }
}

#[test]
fn plugin_settings_are_checked_naming_the_key() {
    let cases = [
        (
            "[plugin]\nconfig_file = \"t.json\"",
            "plugin.config_file: set without plugin.file",
        ),
        (
            "[plugin]\nfile = \"t.wasm\"\ndeadline = \"30s\"",
            "plugin.deadline: must be 1ms to 10s",
        ),
        (
            "[plugin]\nfile = \"t.wasm\"\nmax_memory = 1024",
            "plugin.max_memory: must be 1 MiB",
        ),
        (
            "[plugin]\nfile = \"t.wasm\"\nworkers = 0",
            "plugin.workers: must be 1 to 16",
        ),
    ];
    for (toml, expected) in cases {
        let message = error(Some(toml), &[]);
        assert!(message.contains(expected), "{toml:?}: {message}");
        assert!(message.starts_with(FILE), "{message}");
    }
    let message = error(Some("[plugin]\nfiel = \"t.wasm\""), &[]);
    assert!(message.contains("unknown key 'plugin.fiel'"), "{message}");
}

/// The fleet's example configs (root, mid and edge tiers) load as they are, with the tier
/// layout they describe.
#[test]
fn fleet_examples_load() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy"));
    let load_tier = |name: &str| {
        Config::load(Some(&dir.join(name)), env(&[]), &Overrides::default())
            .unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
    };
    let root = load_tier("root.toml");
    let mid = load_tier("mid.toml");
    let edge = load_tier("edge.toml");
    assert!(root.upstreams.is_empty(), "the root has no upstream");
    assert!(!mid.upstreams.is_empty() && !edge.upstreams.is_empty());
    for (tier, c) in [("root", &root), ("mid", &mid), ("edge", &edge)] {
        assert_ne!(
            c.relay.name,
            RelayConfig::default().name,
            "{tier}: a name of its own"
        );
        assert!(
            c.admin.enabled,
            "{tier}: /health and /metrics for the orchestrator"
        );
        assert!(
            !c.admin.bind.ip().is_loopback(),
            "{tier}: probes reach the admin port"
        );
    }
    assert!(!edge.drain.goaway_uri.is_empty(), "edges send viewers on");
    assert!(
        edge.plugin.file.is_some() && edge.plugin.config_file.is_some(),
        "the edge admits publishers through the token plugin (deploy/token.example.json)"
    );
    // The Kubernetes ConfigMaps carry these files as they are.
    for tier in ["root", "mid", "edge"] {
        let toml = std::fs::read_to_string(dir.join(format!("{tier}.toml"))).expect("toml");
        let yaml = std::fs::read_to_string(dir.join(format!("k8s/{tier}.yaml"))).expect("yaml");
        let embedded: String = toml
            .lines()
            .map(|l| {
                if l.is_empty() {
                    "\n".to_owned()
                } else {
                    format!("    {l}\n")
                }
            })
            .collect();
        assert!(
            yaml.contains(&format!("  relay.toml: |\n{embedded}---")),
            "deploy/k8s/{tier}.yaml's ConfigMap differs from deploy/{tier}.toml"
        );
    }
    // Every example in deploy/ loads, including the full reference.
    for entry in std::fs::read_dir(dir).expect("deploy/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(Some(&path), env(&[]), &Overrides::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[test]
fn drain_settings_are_checked() {
    let err = error(Some("[drain]\ngoaway_uri = 'http://next:80'\n"), &[]);
    assert!(
        err.contains("drain.goaway_uri") && err.contains("https:// or moqt://"),
        "{err}"
    );
    let err = error(Some("[drain]\ntimeout = '0s'\n"), &[]);
    assert!(err.contains("drain.timeout"), "{err}");
}

#[test]
fn cross_checks_refuse_with_the_keys_named() {
    let long = "n".repeat(MAX_RELAY_NAME + 1);
    assert_starts(
        &error(Some(&format!("[relay]\nname = \"{long}\"\n")), &[]),
        "relay.toml: relay.name: 256 bytes: at most 255",
    );
    let cluster = "[cluster]\nca = \"/ca.pem\"\n";
    let message = error(
        Some(&format!("[upstream]\ndisable_verify = true\n{cluster}")),
        &[],
    );
    assert_starts(&message, "relay.toml: upstream.disable_verify: ");
    assert!(message.contains("cluster.ca"), "{message}");
    let message = error(
        Some(&format!("[relay]\nopen_publishing = true\n{cluster}")),
        &[],
    );
    assert_starts(&message, "relay.toml: relay.open_publishing: ");
    assert!(message.contains("cluster.publish"), "{message}");
    let message = error(
        Some("[cache]\nmax_bytes = 1048576\nmax_group_bytes = 2097152\n"),
        &[],
    );
    assert_starts(&message, "relay.toml: cache.max_group_bytes: ");
    assert!(message.contains("cache.max_bytes"), "{message}");
    let message = error(
        Some("[limits]\nmax_object_size = 67108864\n"),
        &[("TERN_CACHE_MAX_GROUP_BYTES", "33554432")],
    );
    assert!(message.contains("limits.max_object_size: "), "{message}");
    assert!(message.contains("cache.max_group_bytes"), "{message}");
    // Open publishing beside a cluster that takes other publishers is consistent.
    let ok = format!("[relay]\nopen_publishing = true\n{cluster}publish = \"any\"\n");
    load(Some(&ok), &[], &Overrides::default()).expect("open publishing at an ingest edge");
    // Sizes left at their defaults fit a small cache instead of refusing it.
    let small = load(
        Some("[cache]\nmax_bytes = 1048576\n"),
        &[],
        &Overrides::default(),
    )
    .expect("a small cache");
    assert_eq!(small.cache.max_group_bytes, 1 << 20);
    assert_eq!(small.limits.max_object_size, 1 << 20);
}

#[test]
fn ladder_rungs_are_read_and_a_bad_one_is_named() {
    assert_eq!(super::ladder_rung("360p@800k"), Ok((360, 800_000)));
    assert_eq!(super::ladder_rung(" 720p@2.5M"), Ok((720, 2_500_000)));
    assert_eq!(super::ladder_rung("180p@300000"), Ok((180, 300_000)));
    for bad in [
        "360@800k",
        "361p@800k",
        "360p",
        "360p@fast",
        "360p@10k",
        "0p@800k",
    ] {
        assert!(super::ladder_rung(bad).is_err(), "{bad}");
    }
    let err = error(
        Some("[ingest]\nladder = [\"360p@800k\", \"240x@300k\"]\n"),
        &[],
    );
    assert!(
        err.contains("ingest.ladder") && err.contains("240x@300k") && err.contains(FILE),
        "{err}"
    );
}

#[test]
fn a_draft_not_spoken_names_the_key_and_the_drafts_spoken() {
    let err = error(Some("[relay]\ndrafts = [18, 15]\n"), &[]);
    assert!(
        err.contains("relay.drafts")
            && err.contains("draft 15")
            && err.contains("22, 20, 18, 16, 14")
            && err.contains(FILE),
        "{err}"
    );
    let err = error(Some("[relay]\ndrafts = []\n"), &[]);
    assert!(
        err.contains("relay.drafts") && err.contains("empty"),
        "{err}"
    );
    let err = error(None, &[("TERN_RELAY_DRAFTS", "18,x")]);
    assert!(
        err.contains("TERN_RELAY_DRAFTS") && err.contains("'x'"),
        "{err}"
    );
}
