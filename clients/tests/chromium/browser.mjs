// Headless Chromium for the browser tests, one launch for every script.
// env: CHROMIUM (default /usr/bin/chromium)
import { chromium } from 'playwright-core';

// Launch Chromium with a persistent profile in `userDataDir`; `extraArgs` are added to the
// common flags, `userAgent` replaces the browser's own (navigator.userAgent and requests).
// WebTransport needs QUIC: there is no --disable-quic here.
export function launch(userDataDir, { viewport, extraArgs = [], userAgent } = {}) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    ...(viewport ? { viewport } : {}),
    ...(userAgent ? { userAgent } : {}),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}
