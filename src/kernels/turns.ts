// Turns: asynchronous work that must not overlap, run one piece after
// another in the order it came (each starts once the one before settled,
// whether it succeeded or failed).
export class Turns {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => {});
    return run;
  }
}
