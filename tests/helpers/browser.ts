/** Debian's Chromium driven by npm:playwright-core (no browser download). */
import { type Browser, chromium } from "playwright-core";

/** Launches headless Chromium with the flags this closed network needs. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Where tests leave artefacts worth looking at (screenshots); ignored by git. */
export async function testOutput(file: string): Promise<string> {
  const dir = new URL("../../test-output/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  return dir + file;
}
