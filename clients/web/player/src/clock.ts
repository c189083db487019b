// The clock page (clock.html, `<body data-page="clock">`; the player bundle serves both
// pages): subscribes to a clock track (Cloudflare's moq-clock-ietf
// publishes one) through the relay in /config.json and shows it, with the player's MoQ
// session. The status is exposed on `window.ternClock` for tests and for people poking at the
// page.
//
// The clock publisher sends one group per minute: object 0 is the minute base
// "YYYY-MM-DD HH:MM:", each later object the seconds "SS". A Relative Joining FETCH brings the
// base of the current minute.

import { MoqSession, errorText } from './session';
import { $, pageConfig } from './page';
import type { MoqObject } from './wire';

interface ClockStatus {
  state: string;
  values: string[];
  latest?: string;
  objects: number;
  errors: string[];
}

declare global {
  interface Window {
    ternClock: ClockStatus;
  }
}

/** Values kept in `window.ternClock.values`. */
const MAX_VALUES = 100;

const status: ClockStatus = { state: 'loading', values: [], objects: 0, errors: [] };

function setState(text: string): void {
  status.state = text;
  $('state').textContent = text;
  $('state').className = text === 'subscribed' || text === 'receiving' ? 'ok' : '';
}

function showError(text: string): void {
  status.errors.push(text);
  $('error').textContent = status.errors.join('\n');
}

function show(value: string): void {
  status.values.push(value);
  if (status.values.length > MAX_VALUES) status.values.shift();
  status.latest = value;
  $('clock').textContent = value;
}

/** Minute bases by group, and seconds that arrived before their base. */
const bases = new Map<number, string>();
const pending = new Map<number, string>();

function onObject(o: MoqObject): void {
  if (o.status !== 0 || o.payload.length === 0) return;
  status.objects += 1;
  $('objects').textContent = String(status.objects);
  $('location').textContent = `group ${o.group}, object ${o.object}${o.fetched ? ' (fetched)' : ''}`;
  if (status.state === 'subscribed') setState('receiving');
  const text = new TextDecoder().decode(o.payload);
  if (o.object === 0) {
    bases.set(o.group, text);
    const sec = pending.get(o.group);
    if (sec !== undefined) show(text + sec);
    pending.delete(o.group);
    return;
  }
  if (o.fetched) return; // Only the base matters from the joining FETCH.
  const base = bases.get(o.group);
  if (base !== undefined) show(base + text);
  else {
    // The base of this minute has not arrived (yet): show the seconds alone.
    pending.set(o.group, text);
    show(`…:${text}`);
  }
}

async function main(): Promise<void> {
  const config = await pageConfig();
  const namespace = config.namespace;
  $('relay').textContent = config.relay;
  $('track').textContent = `${namespace.join('/')} / ${config.track}`;
  if (typeof WebTransport === 'undefined') throw new Error('this browser has no WebTransport');
  setState('connecting');
  const session = await MoqSession.connect(
    config.relay,
    config.fingerprint,
    (text) => console.info(`moq: ${text}`),
    (e) => showError(e.message),
  );
  setState('subscribing');
  await session.subscribe(namespace, config.track, {
    onObject,
    joiningFetch: true,
    filter: { kind: 'largest' },
    onEnd: (reason) => setState(reason),
  });
  setState('subscribed');
  const closed = await session.closed;
  setState(closed);
}

/** Run the clock page. */
export function runClock(): void {
  window.ternClock = status;
  main().catch((e) => {
    setState('failed');
    showError(errorText(e));
  });
}
