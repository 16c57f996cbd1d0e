/**
 * The gateway's time: the system's wall clock, watched against the monotonic
 * clock so that a step (NTP correcting a Pi that booted on fake-hwclock's time,
 * an operator's `date -s`) is seen, reported and kept out of the data: a step
 * forward is followed at once, a step back is absorbed by letting the gateway's
 * time run at half speed until the wall clock has caught up, so stamps never go
 * back and never bunch up. A step back of more than {@link MAX_CATCH_UP_MS} is
 * followed too: the time before it was wrong (a battery clock's garbage), and
 * stamps that far ahead for twice as long would be worse than one jump back.
 */
import type { Clock } from "./clock.ts";

/** A wall-clock move smaller than this is drift or slewing, not a step (ms). */
export const STEP_THRESHOLD_MS = 1000;
/** How fast a backward step is absorbed: the gateway's time runs at 1 - this speed meanwhile. */
export const CATCH_UP_RATE = 0.5;
/** A step back further than this is followed, not absorbed (ms). */
export const MAX_CATCH_UP_MS = 24 * 3_600_000;
/** How often the wall clock is compared with the monotonic one (ms). */
const CHECK_EVERY_MS = 1000;
/** The kernel's sync state is read every this many checks (and after each step). */
const SYNC_EVERY = 30;
/** Steps remembered (for the time windows and retention that must not count them as age). */
const KEPT_STEPS = 16;

/** One step of the wall clock. */
export interface ClockStep {
  /** The gateway's time just after the step was seen (ms). */
  at: number;
  /** How far the wall clock moved beyond the monotonic one (ms; negative: back). */
  byMs: number;
  /** The monotonic time it was seen at. */
  monotonic: number;
  /** How far the gateway's own time jumped forward (ms; a step back never jumps it). */
  jump: number;
  /** How far the gateway's time is now ahead of the wall clock, to be caught up (ms). */
  catchUpMs: number;
  /** Whether the clock was synchronised just before (null: not known). */
  wasSynchronized: boolean | null;
}

/** The clock's part of /status. */
export interface ClockJson {
  /** The kernel's sync state (systemd-timesyncd's flag file); null when it cannot be told. */
  synchronized: boolean | null;
  steps: number;
  last_step: { at: string; by_ms: number } | null;
  /** A step back being absorbed: the gateway's time is this far ahead of the wall clock. */
  catching_up_ms: number;
  /**
   * Samples stamped before the clock was first synchronised: their stamps, from..to, are
   * `by_ms` off (add it for the true time). `to` is when the step was seen, up to a second
   * after it, so the stamps of that last second may be on either side.
   */
  before_sync: { from: string; to: string; by_ms: number } | null;
}

/** Options of {@link WallClock}. */
export interface WallClockOptions {
  /** The kernel's sync state: true, false, or null when unknown (default: {@link timesyncState}). */
  synchronized?: () => boolean | null;
  /** Told of each step once it is seen. */
  onStep?: (step: ClockStep) => void;
}

/**
 * Whether systemd-timesyncd has synchronised the clock since boot (it creates
 * `synchronized` in its run directory then); null when timesyncd is not there or
 * the file cannot be looked at (another NTP daemon, a container).
 */
export function timesyncState(dir = "/run/systemd/timesync"): boolean | null {
  try {
    Deno.statSync(`${dir}/synchronized`);
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return null;
  }
  try {
    return Deno.statSync(dir).isDirectory ? false : null;
  } catch {
    return null;
  }
}

/** The wall clock, watched for steps (see the module comment). */
export class WallClock implements Clock {
  #offset: number;
  /** The catch-up left after a step back (ms), as of monotonic time {@link #correctionFrom}. */
  #correction = 0;
  #correctionFrom = 0;
  #steps: ClockStep[] = [];
  #count = 0;
  #checks = 0;
  #synchronized: boolean | null;
  #beforeSync: ClockJson["before_sync"] = null;
  readonly #startedAt: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly base: Clock, readonly options: WallClockOptions = {}) {
    this.#offset = base.now() - this.monotonic();
    this.#synchronized = this.#readSync();
    this.#startedAt = base.now();
  }

  now(): number {
    const wall = this.base.now();
    if (this.#correction === 0) return wall;
    const left = this.#correctionAt(this.monotonic());
    if (left === 0) this.#correction = 0;
    return wall + left;
  }

  monotonic(): number {
    return this.base.monotonic?.() ?? performance.now();
  }

  sleep(ms: number, options?: { signal?: AbortSignal }): Promise<void> {
    return this.base.sleep(ms, options);
  }

  /** Compares the wall clock with the monotonic one every second, until {@link stop}. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops the comparisons. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Looks for a step since the last look: the step, or null. Cheap (two clock reads). */
  check(): ClockStep | null {
    const mono = this.monotonic();
    const wall = this.base.now();
    const byMs = wall - mono - this.#offset;
    this.#offset = wall - mono;
    if (++this.#checks % SYNC_EVERY === 0) this.#synchronized = this.#readSync();
    if (Math.abs(byMs) < STEP_THRESHOLD_MS) return null;
    const before = this.#correctionAt(mono);
    // Forward: the wall clock is followed, minus a catch-up still owed. Back: owed in full,
    // unless that is too far to catch up: then the wall clock is followed back.
    let owed = byMs > 0 ? Math.max(0, before - byMs) : before - byMs;
    if (owed > MAX_CATCH_UP_MS) owed = 0;
    const step: ClockStep = {
      at: wall + owed,
      byMs,
      monotonic: mono,
      jump: Math.max(0, byMs + owed - before),
      catchUpMs: owed,
      wasSynchronized: this.#synchronized,
    };
    this.#correction = owed;
    this.#correctionFrom = mono;
    if (this.#count === 0 && step.wasSynchronized === false) {
      this.#beforeSync = {
        from: new Date(this.#startedAt).toISOString(),
        to: new Date(wall - byMs + before).toISOString(),
        by_ms: Math.round(byMs),
      };
    }
    this.#count++;
    this.#steps.push(step);
    if (this.#steps.length > KEPT_STEPS) this.#steps.shift();
    this.#synchronized = this.#readSync();
    this.options.onStep?.(step);
    return step;
  }

  /**
   * The time as if the forward steps seen in the last `windowMs` (of monotonic time) had
   * not happened: what ages and deadlines are judged by, so a step of days makes nothing
   * old that is not (retention), and late data keeps its grace (windows).
   */
  settledNow(windowMs: number): number {
    this.check();
    const now = this.now();
    const since = this.monotonic() - windowMs;
    let jumped = 0;
    for (const s of this.#steps) if (s.monotonic >= since) jumped += s.jump;
    return now - jumped;
  }

  /** Steps seen since the start. */
  get steps(): number {
    return this.#count;
  }

  /** The clock's part of /status. */
  toJSON(): ClockJson {
    const last = this.#steps.at(-1);
    return {
      synchronized: this.#synchronized,
      steps: this.#count,
      last_step: last
        ? { at: new Date(last.at).toISOString(), by_ms: Math.round(last.byMs) }
        : null,
      catching_up_ms: Math.round(this.#correctionAt(this.monotonic())),
      before_sync: this.#beforeSync,
    };
  }

  #correctionAt(mono: number): number {
    if (this.#correction === 0) return 0;
    return Math.max(0, this.#correction - (mono - this.#correctionFrom) * CATCH_UP_RATE);
  }

  #readSync(): boolean | null {
    return (this.options.synchronized ?? timesyncState)();
  }
}

/** `clock.settledNow(windowMs)` when the clock watches for steps, else its plain time. */
export function settledNow(clock: Clock, windowMs: number): number {
  return clock instanceof WallClock ? clock.settledNow(windowMs) : clock.now();
}
