// The player page (player.html; the clock and watch pages too, see clock.ts and watch.ts): reads /config.json and /fingerprint from the server that
// served it, plays the broadcast, shows what happens and exposes it on `window.ternPlayer`.
//
// Query parameters override the configuration: `?namespace=live/demo&relay=https://host:port`;
// `?rendition=video-240p` starts on that video track (manual mode), `?audio=audio-opus` plays that
// audio track, `?latency=300` fixes the playout delay target (ms; adaptive by default),
// `?stamp=1` reads a source's wall-clock stamp from every picture (`stamp.ts`: glass-to-glass).
// The way to the relay (transport.ts): WebTransport raced against MoQ over a WebSocket when there
// is a WebSocket URL: `?websocket=ws://host:port/`, else the page's own origin when the server
// that served it is the relay's HTTP listener (its /config.json says `"websocket": true`) and
// no `?relay=` names another relay; `?transport=webtransport|websocket` uses that one only.

import { describe, videoRenditions } from './catalog';
import { Chat, ChatStats, validViewer } from './chat';
import { runClock } from './clock';
import { $, namespaceFields, pageConfig } from './page';
import { Player, PlayerStats, UnsupportedCodec } from './player';
import { MoqSession, errorText } from './session';
import { TRANSPORT_NAMES, TransportMode, parseTransportMode, websocketUrl } from './transport';
import { runWatch } from './watch';

declare global {
  interface Window {
    ternPlayer: PlayerStats & {
      select(name: string): void;
      unmute(): void;
      pause(): void;
      play(): void;
      rewind(seconds: number): void;
      live(): void;
    };
    ternChat: ChatStats & { send(text: string): Promise<void> };
  }
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function loadConfig(): Promise<{
  relay: string;
  namespace: string[];
  fingerprint: string | null;
  websocket: string | null;
  transport: TransportMode;
  rendition: string | null;
  audio: string | null;
  latencyMs: number | null;
  readStamps: boolean;
  viewer: string;
}> {
  const params = new URLSearchParams(location.search);
  const config = await pageConfig();
  const ns = params.get('namespace');
  const namespace = ns !== null ? namespaceFields(ns) : config.namespace;
  const relay = params.get('relay') ?? config.relay;
  const sameOrigin = config.websocket && !params.has('relay');
  return {
    relay,
    namespace,
    fingerprint: config.fingerprint,
    websocket: websocketUrl(relay, params.get('websocket'), sameOrigin ? location.origin : null),
    transport: parseTransportMode(params.get('transport')),
    rendition: params.get('rendition'),
    audio: params.get('audio'),
    latencyMs: params.has('latency') ? Number(params.get('latency')) : null,
    readStamps: params.get('stamp') === '1',
    viewer: params.get('viewer') ?? `web-${Math.random().toString(16).slice(2, 8)}`,
  };
}

async function main(): Promise<void> {
  const canvas = $('video') as HTMLCanvasElement;
  const picker = $('rendition') as HTMLSelectElement;
  const unmute = $('unmute') as HTMLButtonElement;
  const pause = $('pause') as HTMLButtonElement;
  const back = $('back') as HTMLButtonElement;
  const live = $('live') as HTMLButtonElement;
  const config = await loadConfig();
  $('relay').textContent = config.relay;
  $('namespace').textContent = config.namespace.join('/');

  let player: Player | null = null;
  let pickerFor = '';
  const render = (): void => {
    if (!player) return;
    const s = player.stats;
    $('state').textContent = s.state;
    $('relay').textContent = s.transport
      ? `${s.transport === 'websocket' ? config.websocket : config.relay} · ${TRANSPORT_NAMES[s.transport]}`
      : config.relay;
    $('catalog').textContent = s.catalogFormat ?? '-';
    $('shown').textContent = s.rendition
      ? `${s.rendition}${s.width ? ` · ${s.width}x${s.height}` : ''}${s.videoCodec ? ` · ${s.videoCodec}` : ''}${
          s.switchingTo ? ` → switching to ${s.switchingTo}` : ''
        }`
      : '-';
    $('frames').textContent = `${s.framesDrawn} drawn, ${s.framesDecoded} decoded, ${s.framesSkipped} skipped`;
    const latest = s.latencyMs[s.latencyMs.length - 1];
    $('latency').textContent =
      latest !== undefined
        ? `${latest.toFixed(0)} ms (median ${median(s.latencyMs).toFixed(0)} ms of ${s.latencyMs.length}) · ` +
          `playing ${s.targetMs} ms behind the newest media (${s.targetAdaptive ? `adaptive, ${s.targetRaises} stalls` : 'fixed'})`
        : s.framesDrawn > 0
          ? 'unknown (the objects carry no prft publish stamp)'
          : '-';
    const playing = s.framesDrawn > 0;
    pause.disabled = back.disabled = !playing;
    pause.textContent = s.playback === 'paused' ? 'play' : 'pause';
    live.disabled = s.playback === 'live';
    $('playback').textContent =
      s.playback === 'live' ? 'live' : `${s.playback}${s.behindLiveMs !== null ? ` · ${(s.behindLiveMs / 1000).toFixed(1)} s behind live` : ''}`;
    const abr = s.abr;
    const decision = abr?.decisions[abr.decisions.length - 1];
    $('abr').textContent = abr
      ? `${s.mode} · received ${(abr.throughputBps / 1000).toFixed(0)} kbit/s · lag +${abr.lagExcessMs.toFixed(0)} ms` +
        (abr.probe ? ` · probe ${(abr.probe.spareBps / 1000).toFixed(0)} kbit/s spare` : '') +
        (decision ? ` · last: → ${decision.to} (${decision.reason})` : '')
      : s.mode;
    $('audio').textContent = s.audioTrack
      ? `${s.audioTrack}${s.audioCodec ? ` · ${s.audioCodec}` : ''} · ${s.audioState} · ${s.audioSamplesPlayed} samples played`
      : 'none';
    unmute.hidden = !(s.audioTrack && s.audioState === 'suspended');
    $('error').textContent = s.errors.join('\n');
    $('log').textContent = s.log.slice(-40).join('\n');
    // The picker follows the catalog.
    const key = s.renditions.join('\n');
    if (key !== pickerFor && player.catalog) {
      pickerFor = key;
      picker.replaceChildren();
      const auto = document.createElement('option');
      auto.value = 'auto';
      auto.textContent = 'auto';
      picker.append(auto);
      for (const t of videoRenditions(player.catalog)) {
        const o = document.createElement('option');
        o.value = t.name;
        o.textContent = describe(t);
        picker.append(o);
      }
      picker.disabled = false;
    }
    const want = s.mode === 'auto' ? 'auto' : (s.switchingTo ?? s.rendition ?? 'auto');
    if (document.activeElement !== picker && picker.value !== want) picker.value = want;
  };
  let scheduled = false;
  const changed = (): void => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      render();
    }, 100);
  };

  if (!validViewer(config.viewer)) throw new Error(`?viewer=${config.viewer}: use 1 to 32 of A-Z a-z 0-9 _ - .`);
  let chat: Chat | null = null;
  const chatInput = $('chat-input') as HTMLInputElement;
  const chatForm = $('chat-form') as HTMLFormElement;
  const renderChat = (): void => {
    if (!chat) return;
    const c = chat.stats;
    $('chat-state').textContent = `${c.viewer} · ${c.state}${c.reason ? ` · ${c.reason}` : ''}`;
    (chatForm.querySelector('button') as HTMLButtonElement).disabled = c.state !== 'ready';
    const list = $('chat-events');
    list.replaceChildren(
      ...c.records.slice(-50).map((r) => {
        const li = document.createElement('li');
        li.textContent = `#${r.seq} ${r.viewer}${r.kind === 'chat' ? '' : ` [${r.kind}]`}: ${r.body}`;
        const small = document.createElement('small');
        small.textContent = r.latencyMs === null ? '' : ` ${r.latencyMs} ms`;
        li.append(small);
        return li;
      }),
    );
    list.scrollTop = list.scrollHeight;
  };
  const onSession = (session: MoqSession): void => {
    const c = new Chat(session, config.namespace, config.viewer, renderChat, (t) => player?.note(t));
    chat = c;
    window.ternChat = Object.assign(c.stats, { send: (text: string) => c.send(text) });
    void c.start();
  };
  chatForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!chat) return;
    chat.send(chatInput.value).then(
      () => (chatInput.value = ''),
      (e) => ($('chat-state').textContent = errorText(e)),
    );
  });

  player = new Player({ ...config, canvas, onChange: changed, onSession });
  const p = player;
  window.ternPlayer = Object.assign(p.stats, {
    select: (name: string) => p.select(name),
    unmute: () => p.unmute(),
    pause: () => p.pause(),
    play: () => p.play(),
    rewind: (seconds: number) => p.rewind(seconds),
    live: () => p.live(),
  });
  picker.addEventListener('change', () => p.select(picker.value));
  unmute.addEventListener('click', () => p.unmute());
  pause.addEventListener('click', () => (p.stats.playback === 'paused' ? p.play() : p.pause()));
  back.addEventListener('click', () => p.rewind(10));
  live.addEventListener('click', () => p.live());
  setInterval(render, 500);
  try {
    await p.start();
  } catch (e) {
    const text = errorText(e);
    p.stats.state = e instanceof UnsupportedCodec ? 'unsupported codec' : 'failed';
    p.error(text);
    if (e instanceof UnsupportedCodec) $('message').textContent = text;
  }
  render();
}

// One bundle serves the pages: `<body data-page="clock">` is the clock page, `"watch"` the
// watch page (watch.ts).
if (document.body.dataset.page === 'clock') {
  runClock();
} else if (document.body.dataset.page === 'watch') {
  runWatch().catch((e) => {
    const text = errorText(e);
    console.error(text);
    const el = document.getElementById('error');
    if (el) el.textContent = text;
  });
} else {
  main().catch((e) => {
    const text = errorText(e);
    console.error(text);
    const el = document.getElementById('error');
    if (el) el.textContent = text;
  });
}
