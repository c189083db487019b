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
