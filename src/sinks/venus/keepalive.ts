/**
 * `R/<portal>/keepalive` as dbus-flashmq (a GX's MQTT side) answers it: its options, and the
 * rate at which it republishes everything.
 */

/** Logged when a config still has round one's `min_republish`. */
export const MIN_REPUBLISH_UNUSED =
  "venus: min_republish is no longer used, remove it (republish_per_second replaced it)";

/** What a `R/<portal>/keepalive` asks: an echo to return, and whether to skip the republish. */
export function keepaliveOptions(payload: string): { echo?: string; suppress: boolean } {
  let options: unknown[] = [];
  try {
    const parsed = JSON.parse(payload);
    if (Array.isArray(parsed?.["keepalive-options"])) options = parsed["keepalive-options"];
  } catch { /* an empty or plain keepalive: republish everything */ }
  const echo = options.find((o): o is Record<string, unknown> =>
    typeof o === "object" && o !== null && "full-publish-completed-echo" in o
  )?.["full-publish-completed-echo"];
  return {
    echo: typeof echo === "string" ? echo.slice(0, 256) : undefined,
    suppress: options.includes("suppress-republish"),
  };
}

/**
 * dbus-flashmq's token bucket: at most `perSecond` full republishes in each second (its
 * `KEEPALIVE_TOKENS`, 3, refilled every second), so a client that connects twice in a row
 * (Home Assistant's config flow validates, then sets up at once) gets both, and a storm of
 * keepalives costs at most a few republishes a second. A keepalive past the bucket gets no
 * republish and no `full_publish_completed`, as on a GX: its client asks again.
 */
export class RepublishTokens {
  #second = -Infinity;
  #left = 0;

  constructor(readonly perSecond: number) {}

  /** Takes a token at `monotonicMs` (a clock that never steps); false when none is left. */
  take(monotonicMs: number): boolean {
    const second = Math.floor(monotonicMs / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#left = this.perSecond;
    }
    if (this.#left <= 0) return false;
    this.#left--;
    return true;
  }
}
