// A small WHEP client (RFC 9725's playback twin): one RTCPeerConnection receiving video and
// audio, its offer POSTed as application/sdp to the endpoint, the answer applied; DELETE on the
// session's Location ends it. The relay is ICE-lite and puts every candidate in its answer, so
// there is no trickle (PATCH).

import { errorText } from './session';

/** The endpoint answered something other than 201 Created. */
export class WhepRefused extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(`WHEP answered ${status}${text ? `: ${text}` : ''}`);
  }
}

export interface WhepOptions {
  /** The endpoint, `/whep/NAME`. */
  url: string;
  /** Sent as `Authorization: Bearer TOKEN`. */
  token: string | null;
  /** Where the picture and sound go. */
  video: HTMLVideoElement;
}

/**
 * The ICE servers of a response's `Link` header (`<turn:…>; rel="ice-server"; username="u";
 * credential="p"`, as RFC 9725 §4.6 gives them), in order.
 */
export function parseIceServers(link: string | null): RTCIceServer[] {
  if (!link) return [];
  const out: RTCIceServer[] = [];
  for (const part of link.split(/,\s*(?=<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m) continue;
    const params: Record<string, string> = {};
    for (const p of m[2].split(';')) {
      const kv = /^\s*([A-Za-z-]+)\s*=\s*"?([^"]*)"?\s*$/.exec(p);
      if (kv) params[kv[1].toLowerCase()] = kv[2];
    }
    if (params.rel !== 'ice-server') continue;
    const server: RTCIceServer = { urls: m[1] };
    if (params.username !== undefined) server.username = params.username;
    if (params.credential !== undefined) server.credential = params.credential;
    out.push(server);
  }
  return out;
}

export class WhepClient {
  readonly pc: RTCPeerConnection;
  /** The session's URL (from the answer's Location), once answered. */
  resource: string | null = null;
  private stream = new MediaStream();

  constructor(private options: WhepOptions) {
    this.pc = new RTCPeerConnection();
    this.pc.addTransceiver('video', { direction: 'recvonly' });
    this.pc.addTransceiver('audio', { direction: 'recvonly' });
    this.pc.ontrack = (e) => {
      this.stream.addTrack(e.track);
      const v = this.options.video;
      if (v.srcObject !== this.stream) v.srcObject = this.stream;
      v.play().catch(() => {});
    };
  }

  private headers(): Record<string, string> {
    return this.options.token ? { Authorization: `Bearer ${this.options.token}` } : {};
  }

  /** Offer, POST, answer. Throws `WhepRefused` when the endpoint says no. */
  async start(): Promise<void> {
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    let res: Response;
    try {
      res = await fetch(this.options.url, {
        method: 'POST',
        body: offer.sdp,
        headers: { 'Content-Type': 'application/sdp', ...this.headers() },
      });
    } catch (e) {
      throw new Error(`WHEP request failed: ${errorText(e)}`);
    }
    const text = await res.text();
    if (res.status !== 201) throw new WhepRefused(res.status, text.trim());
    const location = res.headers.get('location');
    if (location) this.resource = new URL(location, new URL(this.options.url, document.baseURI)).href;
    // The operator's STUN/TURN servers, before the connectivity checks start.
    const iceServers = parseIceServers(res.headers.get('link'));
    if (iceServers.length) this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    await this.pc.setRemoteDescription({ type: 'answer', sdp: text });
  }

  /**
   * Resolves once ICE and DTLS are up; rejects when they fail or `ms` pass first.
   */
  connected(ms: number): Promise<void> {
    const pc = this.pc;
    return new Promise((resolve, reject) => {
      const timer = self.setTimeout(() => {
        pc.removeEventListener('connectionstatechange', check);
        reject(new Error(`WebRTC did not connect within ${ms / 1000} s (${pc.connectionState})`));
      }, ms);
      const check = (): void => {
        const s = pc.connectionState;
        if (s !== 'connected' && s !== 'failed' && s !== 'closed') return;
        self.clearTimeout(timer);
        pc.removeEventListener('connectionstatechange', check);
        if (s === 'connected') resolve();
        else reject(new Error(`WebRTC connection ${s}`));
      };
      pc.addEventListener('connectionstatechange', check);
      check();
    });
  }

  /** End the session: DELETE it (kept alive through page unload) and close the connection. */
  stop(): void {
    if (this.resource) {
      fetch(this.resource, { method: 'DELETE', headers: this.headers(), keepalive: true }).catch(() => {});
      this.resource = null;
    }
    this.pc.close();
  }
}
