/**
 * Combines work queued under one key into batches run one at a time: the first item of a key
 * starts at once, alone; items that arrive while a batch of their key runs wait and go together in
 * the next one (at most `maxBatch` each). Group commit, in the application: a burst of N items costs
 * a few batches instead of N turns of one lock, and holds one connection while it waits, not N.
 *
 * `run` answers each item of a batch, in order, with its value or with an Error to reject it with;
 * when `run` itself throws, every item of that batch is rejected with what it threw.
 */
export class KeyedCombiner<I, O> {
  private readonly queues = new Map<string, { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[]>();

  constructor(private readonly opts: { run: (key: string, items: I[]) => Promise<(O | Error)[]>; maxBatch: number }) {}

  submit(key: string, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const queue = this.queues.get(key);
      if (queue) {
        queue.push({ item, resolve, reject });
        return;
      }
      this.queues.set(key, [{ item, resolve, reject }]);
      void this.drain(key);
    });
  }

  /** Runs the key's batches until its queue is empty, then forgets the key. */
  private async drain(key: string): Promise<void> {
    const queue = this.queues.get(key)!;
    while (queue.length > 0) {
      const batch = queue.splice(0, this.opts.maxBatch);
      try {
        const outcomes = await this.opts.run(key, batch.map((b) => b.item));
        if (outcomes.length !== batch.length) throw new Error(`KeyedCombiner: ${outcomes.length} outcomes for ${batch.length} items`);
        batch.forEach((b, i) => {
          const o = outcomes[i]!;
          if (o instanceof Error) b.reject(o);
          else b.resolve(o);
        });
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.queues.delete(key);
  }
}
