// Subscribe to a track with @moq/net 0.3.4 over WebTransport (moqt-18), or with `websocket`
// set over a WebSocket (QMux) only, and record objects in window.ternMoqNet for the driver.
import * as Moq from "@moq/net";

const state = (window.ternMoqNet = { state: "starting", version: null, values: [], objects: 0, errors: [] });

async function main() {
  const q = new URLSearchParams(location.search);
  const relay = q.get("relay");             // https://127.0.0.1:PORT
  const fingerprint = q.get("fingerprint"); // hex SHA-256 of the relay's certificate
  const namespace = q.get("namespace") ?? "clock";
  const track = q.get("track") ?? "now";
  const websocket = q.get("websocket");     // ws://127.0.0.1:PORT/: WebSocket only

  if (websocket) {
    // As on Safari, where @moq/net does not use WebTransport: it races nothing.
    delete window.WebTransport;
  }
  const conn = await Moq.Connection.connect(new URL(relay), {
    webtransport: { serverCertificateHashes: [{ algorithm: "sha-256", value: fingerprint.replaceAll(":", "") }] },
    // WebTransport only unless asked: no ws:// fallback race.
    websocket: websocket ? { url: new URL(websocket), delay: 0 } : { enabled: false },
    signal: AbortSignal.timeout(10_000),
  });
  state.transport = websocket ? "websocket" : "webtransport";
  state.version = conn.version;             // the negotiated protocol (moqt-18 against tern)
  state.state = "connected";

  const broadcast = conn.consume(Moq.Path.from(namespace)); // Track Namespace ("clock")
  const sub = broadcast.subscribe(track, { priority: 0 });   // SUBSCRIBE on its own bidi stream
  state.state = "subscribed";
  for (;;) {
    const group = await sub.nextGroup();    // one subgroup stream = one group (object 0 needed)
    if (!group) break;
    for (;;) {
      const frame = await group.readFrame();
      if (!frame) break;
      const text = new TextDecoder().decode(frame.payload);
      state.objects++;
      state.values.push(text);
      state.state = "receiving";
      console.log(`object group=${group.sequence} ${JSON.stringify(text)}`);
    }
  }
  state.state = "ended";
}

main().catch((e) => {
  state.state = "failed";
  const msg = (x) => String(x && x.message ? x.message : x);
  state.errors.push(e instanceof AggregateError ? e.errors.map(msg).join("; ") : msg(e));
  console.error("moqnet-clock:", e);
});
