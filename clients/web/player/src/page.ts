// What both pages (player and clock) share: element lookup and the configuration the page
// server gives (/config.json and /fingerprint).

import { errorText } from './session';

/** The page element `#id`; a missing one is a page error. */
export const $ = (id: string): HTMLElement => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page element #${id} is missing`);
  return e;
};

/** The page server's configuration. */
export interface PageConfig {
  relay: string;
  namespace: string[];
  /** The track to play, empty when the page finds it (the player reads the catalog). */
  track: string;
  /** The relay certificate's SHA-256 (hex) to pin, null when the server has none. */
  fingerprint: string | null;
  /**
   * The server that served the page takes MoQ over WebSocket too (the relay's HTTP listener:
   * `"websocket": true` in /config.json): the player may play over its origin
   * (`transport.ts`'s `websocketUrl`).
   */
  websocket: boolean;
}

/** A namespace given as `a/b` or as its fields. */
export function namespaceFields(ns: string | string[]): string[] {
  return Array.isArray(ns) ? ns : String(ns).split('/').filter((f) => f.length > 0);
}

/** Load /config.json and /fingerprint from the server that served the page. */
export async function pageConfig(): Promise<PageConfig> {
  let config: { relay: string; namespace: string | string[]; track?: string; websocket?: boolean };
  try {
    config = await (await fetch('/config.json', { cache: 'no-store' })).json();
  } catch (e) {
    throw new Error(`cannot load /config.json: ${errorText(e)}`);
  }
  let fingerprint: string | null = null;
  const fp = await fetch('/fingerprint', { cache: 'no-store' }).catch(() => null);
  if (fp && fp.ok) fingerprint = (await fp.text()).trim() || null;
  return {
    relay: config.relay,
    namespace: namespaceFields(config.namespace),
    track: config.track ?? '',
    fingerprint,
    websocket: config.websocket === true,
  };
}
