/**
 * Home Assistant's Victron library (tomer-w/victron_mqtt, `victron_mqtt/hub.py`, `device.py`,
 * `metric.py`) replayed in TypeScript: the client side of a protocol we do not own, driven as
 * the integration drives it. It is not on a registry the suite installs from, so its rules are
 * read from its code and followed here:
 *
 * - connect: subscribe `N/+/system/0/Serial` (or the expected portal's) and take the first
 *   topic's portal id; then one subscription per known topic (placeholders as `+`), then
 *   `N/<id>/full_publish_completed`, then a forced keepalive (`<client id>-1`, no
 *   `suppress-republish`); its keepalive loop sends a `suppress-republish` one at once and every
 *   30 s ({@link cycle} is one turn of that loop);
 * - a value on a known topic becomes a placeholder; metrics are made from the placeholders
 *   only at a `full_publish_completed` whose echo is ours (or has none), or, failing that, on
 *   the first message 30 s after the connect (then every 180 s); a metric that exists takes
 *   each new value;
 * - an empty payload, `{"value": null}` or a payload that does not parse is ignored
 *   ("Ignoring null topic value"): nothing a broker sends clears a metric;
 * - at the first `full_publish_completed` it reads the firmware from
 *   `platform/0/Firmware/Installed/Version` ("Version metric not found" without it); only with
 *   v3.50 or later does its loop check staleness (a metric silent > 360 s is reset, every second
 *   turn) and force a full republish (every sixth turn).
 */
import mqtt from "mqtt";

const TOPICS: { topics: { topic: string; kind: string }[] } = JSON.parse(
  Deno.readTextFileSync(new URL("../sinks/venus/victron_mqtt_topics.json", import.meta.url)),
);

/** The library's constants (hub.py). */
export const LIBRARY = {
  keepaliveEveryMs: 30_000,
  staleAfterMs: 360_000,
  firstPeriodicRefreshMs: 30_000,
  periodicRefreshMs: 180_000,
  minimumFirmware: [3, 50],
};

/** One metric as the library holds it. */
export interface ReplayMetric {
  topic: string;
  kind: string;
  value: unknown;
  lastSeen: number;
  /** A number's range, from `min`/`max` beside the value when it was made (`RangeType.DYNAMIC`). */
  min?: number;
  max?: number;
}

/** The subscription for a topic template: a segment with a placeholder is `+`. */
function patternOf(topic: string, portal: string): string {
  return topic.replace("{installation_id}", portal).split("/")
    .map((s) => s.includes("{") ? "+" : s).join("/");
}

/** A template as a pattern of the topics it stands for (`Cell{cell}` is `Cell` and more). */
function matcherOf(topic: string, portal: string): RegExp {
  const escaped = topic.replace("{installation_id}", portal)
    .replace(/[.*+?^$()|[\]\\]/g, "\\$&")
    .replace(/\\?\{[^}]+\\?\}/g, "[^/]+");
  return new RegExp(`^${escaped}$`);
}

function unwrap(payload: string): unknown {
  try {
    const v = JSON.parse(payload)?.value;
    return v === undefined ? null : v;
  } catch {
    return null;
  }
}

/** A victron-mqtt Hub, replayed: its subscriptions, keepalives, refreshes and staleness rules. */
export class VictronMqttReplay {
  client: mqtt.MqttClient | null = null;
  portal: string | null = null;
  /** Metrics by topic (the library keys them by device and short id: one per topic here). */
  readonly metrics = new Map<string, ReplayMetric>();
  readonly attributes = new Map<string, unknown>();
  /** Every message received: [monotonic ms, topic, payload]. */
  readonly log: [number, string, string][] = [];
  firmware: number[] | null = null;
  firstRefreshAt: number | null = null;
  /** What the library logs at its first refresh when the version is missing. */
  warnings: string[] = [];
  #placeholders = new Map<string, { kind: string; value: unknown; payload: string }>();
  #counter = 0;
  #turn = 0;
  #firstFullPublish = true;
  #lastPeriodic = 0;
  #periodicOnce = false;
  #known: { pattern: string; matcher: RegExp; kind: string }[] = [];

  constructor(readonly url: string, readonly clientId: string) {}

  /** Hub.connect(): the installation id, the subscriptions, the first keepalives. */
  async connect(expectedPortal?: string): Promise<void> {
    const client = await mqtt.connectAsync(this.url, {
      clientId: this.clientId,
      protocolVersion: 4,
      reconnectPeriod: 1000,
    });
    this.client = client;
    this.#lastPeriodic = performance.now();
    let found: (id: string) => void = () => {};
    const portal = new Promise<string>((resolve) => found = resolve);
    client.on("message", (topic, payload) => {
      const text = payload.toString();
      this.log.push([performance.now(), topic, text]);
      this.#onMessage(topic, text, found);
    });
    const idTopic = `N/${expectedPortal ?? "+"}/system/0/Serial`;
    await client.subscribeAsync(idTopic);
    this.portal = await portal;
    await client.unsubscribeAsync(idTopic);
    this.#known = TOPICS.topics.map(({ topic, kind }) => ({
      pattern: patternOf(topic, this.portal!),
      matcher: matcherOf(topic, this.portal!),
      kind,
    }));
    for (const pattern of new Set(this.#known.map((k) => k.pattern))) {
      await client.subscribeAsync(pattern);
    }
    await client.subscribeAsync(`N/${this.portal}/full_publish_completed`);
    await this.keepalive(true);
    // The keepalive loop's first turn: a keepalive at once, then a sleep of 30 s.
    await this.keepalive(false);
  }

  /** Hub._keepalive(force). */
  async keepalive(force: boolean): Promise<void> {
    if (!this.client?.connected) return;
    this.#counter++;
    const echo = `${this.clientId}-${this.#counter}`;
    const payload = force
      ? `{ "keepalive-options" : [{"full-publish-completed-echo": "${echo}"}]}`
      : `{ "keepalive-options" : [{"full-publish-completed-echo": "${echo}"}, "suppress-republish"] }`;
    await this.client.publishAsync(`R/${this.portal}/keepalive`, payload);
  }

  /** One turn of Hub._keepalive_loop after its 30 s sleep: staleness, forced refresh, keepalive. */
  async cycle(options: { staleAfterMs?: number } = {}): Promise<void> {
    if (this.firmwareSupported) {
      this.#turn++;
      if (this.#turn % 2 === 0) this.expireStale(options.staleAfterMs ?? LIBRARY.staleAfterMs);
      if (this.#turn % 6 === 0) await this.keepalive(true);
    }
    await this.keepalive(false);
  }

  /** Metric._keepalive(stale_timeout): a metric silent longer than this is reset (unavailable). */
  expireStale(staleAfterMs: number): void {
    const now = performance.now();
    for (const m of this.metrics.values()) {
      if (m.value !== null && now - m.lastSeen > staleAfterMs) m.value = null;
    }
  }

  get firmwareSupported(): boolean {
    const [major, minor] = LIBRARY.minimumFirmware;
    const f = this.firmware;
    return !!f && (f[0] > major || (f[0] === major && (f[1] ?? 0) >= minor));
  }

  /** The value of the metric on `N/<portal>/<suffix>`. */
  value(suffix: string): unknown {
    return this.metrics.get(`N/${this.portal}/${suffix}`)?.value;
  }

  /** A write through a switch, number or select: `{"value": v}` on the `W/` twin. */
  async set(suffix: string, value: unknown): Promise<void> {
    await this.client!.publishAsync(`W/${this.portal}/${suffix}`, JSON.stringify({ value }));
  }

  async disconnect(): Promise<void> {
    await this.client?.endAsync().catch(() => {});
    this.client = null;
  }

  #onMessage(topic: string, payload: string, found: (id: string) => void): void {
    if (topic.endsWith("full_publish_completed")) {
      this.#fullPublish(payload);
      return;
    }
    const parts = topic.split("/");
    if (this.portal === null && parts.length >= 3) found(parts[1]);
    this.#normal(topic, payload);
    const now = performance.now();
    const every = this.#periodicOnce ? LIBRARY.periodicRefreshMs : LIBRARY.firstPeriodicRefreshMs;
    if (now - this.#lastPeriodic >= every) {
      this.#fullPublish(null);
      this.#lastPeriodic = now;
      this.#periodicOnce = true;
    }
  }

  #normal(topic: string, payload: string): void {
    const known = this.#known.find((k) => k.matcher.test(topic));
    if (!known) return;
    const value = unwrap(payload);
    if (known.kind === "ATTRIBUTE") {
      this.attributes.set(topic, value);
      return;
    }
    if (value === null) return; // "Ignoring null topic value"
    const metric = this.metrics.get(topic);
    if (metric) {
      metric.value = value;
      metric.lastSeen = performance.now();
      return;
    }
    this.#placeholders.set(topic, { kind: known.kind, value, payload });
  }

  #fullPublish(payload: string | null): void {
    if (payload !== null) {
      let echo: unknown;
      try {
        echo = JSON.parse(payload)?.["full-publish-completed-echo"];
      } catch { /* no echo */ }
      if (typeof echo === "string" && echo && !echo.startsWith(this.clientId)) return;
    }
    const now = performance.now();
    for (const [topic, p] of this.#placeholders) {
      const metric: ReplayMetric = { topic, kind: p.kind, value: p.value, lastSeen: now };
      if (p.kind === "NUMBER") {
        const { min, max } = JSON.parse(p.payload);
        if (typeof min === "number") metric.min = min;
        if (typeof max === "number") metric.max = max;
      }
      this.metrics.set(topic, metric);
    }
    this.#placeholders.clear();
    if (this.#firstFullPublish) {
      const version = this.value("platform/0/Firmware/Installed/Version");
      if (typeof version === "string" && version.startsWith("v")) {
        this.firmware = version.slice(1).split("~")[0].split(".").map((n) => parseInt(n, 10));
      } else this.warnings.push("Version metric not found");
      this.firstRefreshAt = now;
    }
    this.#firstFullPublish = false;
  }
}
