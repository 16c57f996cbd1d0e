/** Options of {@link BatchEmitter}. */
export interface BatchEmitterOptions<T> {
  /** Hands one batch over; resolves once it is taken. Errors are the handler's to count. */
  handle(batch: T[]): Promise<void>;
  /** Most items per hand-over. */
  batch: number;
  /** Longest an item waits for its batch to fill (0: the next turn of the event loop). */
  maxWait: number;
  /** Items queued at most. */
  maxQueued: number;
  /** Bytes queued at most, as `sizeOf` counts them (default: no byte bound). */
  maxBytes?: number;
  sizeOf?(item: T): number;
  /**
   * When the queue is full: `refuse` the new item (the caller applies back-pressure),
   * or `drop_oldest` and report how many were dropped.
   */
  onFull: "refuse" | "drop_oldest";
  /** Told how many queued items were dropped (`drop_oldest`). */
  dropped?(count: number): void;
}

/**
 * How a push source (VE.Direct, MQTT) hands items to the pipeline: batched, one
 * hand-over at a time, bounded. While a batch is being committed the next one
 * gathers, and it goes as soon as the commit is done (group commit): the busier
 * the source, the larger the batches, with no timer in the way. Polling sources
 * need none: what a poll read is one `ctx.emit`.
 */
export class BatchEmitter<T> {
  #queue: T[] = [];
  #bytes = 0;
  #running: Promise<void> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #room: (() => void)[] = [];

  constructor(readonly options: BatchEmitterOptions<T>) {}

  /** Queues an item; false when the queue is full and `onFull` is `refuse` (not taken). */
  push(item: T): boolean {
    const o = this.options;
    if (this.full) {
      if (o.onFull === "refuse") return false;
      let n = 0;
      while (this.full && this.#queue.length > 0) {
        const oldest = this.#queue.shift()!;
        this.#bytes -= o.sizeOf?.(oldest) ?? 0;
        n++;
      }
      o.dropped?.(n);
    }
    this.#queue.push(item);
    this.#bytes += o.sizeOf?.(item) ?? 0;
    // A hand-over in flight takes what gathered meanwhile as soon as it is done.
    if (this.#running) return true;
    if (this.#queue.length >= o.batch) this.#kick();
    else this.#timer ??= setTimeout(() => this.#kick(), o.maxWait);
    return true;
  }

  /** True when a new item would be refused. */
  get full(): boolean {
    return this.#queue.length >= this.options.maxQueued ||
      this.#bytes >= (this.options.maxBytes ?? Infinity);
  }

  /** Items waiting. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Bytes waiting, as `sizeOf` counts them. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Resolves once the queue has room again. */
  room(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.#room.push(resolve));
  }

  /** Hands over everything queued now and waits until it is taken. */
  async drain(): Promise<void> {
    if (this.#queue.length > 0) this.#kick();
    while (this.#running) await this.#running;
  }

  #kick(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running ??= this.#run();
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.options.batch);
        if (this.options.sizeOf) { for (const b of batch) this.#bytes -= this.options.sizeOf(b); }
        for (const wake of this.#room.splice(0)) wake();
        await this.options.handle(batch);
      }
    } finally {
      this.#running = null;
    }
  }
}
