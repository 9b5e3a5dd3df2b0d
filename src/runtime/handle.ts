/**
 * A value on an edge, shared by its consumers. It knows its content digest (for cache keys of
 * downstream nodes) and is loaded lazily: a cache hit whose consumers are also cache hits is
 * never decoded. When the last consumer releases it, its tensors are disposed.
 */
import { disposeValue } from './values.js';

export class ValueHandle {
  private value: unknown;
  private loaded = false;
  private loading: Promise<unknown> | undefined;
  private disposed = false;

  constructor(
    readonly digest: string,
    private refs: number,
    private readonly loader: (() => Promise<unknown>) | undefined,
    value?: unknown,
    private readonly onDispose?: (h: ValueHandle) => void,
  ) {
    if (loader === undefined) {
      this.value = value;
      this.loaded = true;
    }
    if (refs <= 0) this.dispose();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  async get(): Promise<unknown> {
    if (this.disposed) throw new Error('internal: value used after its last consumer released it');
    if (this.loaded) return this.value;
    this.loading ??= (this.loader as () => Promise<unknown>)().then((v) => {
      this.value = v;
      this.loaded = true;
      if (this.disposed) disposeValue(v);
      return v;
    });
    return this.loading;
  }

  /** Hand over the value to a new owner (the caller of the library API); the handle forgets it. */
  async take(): Promise<unknown> {
    const v = await this.get();
    this.value = undefined;
    this.disposed = true;
    return v;
  }

  release(): void {
    if (this.disposed) return;
    this.refs--;
    if (this.refs <= 0) this.dispose();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.loaded) disposeValue(this.value);
    this.value = undefined;
    this.onDispose?.(this);
  }
}

/** Counting semaphore bounding the items in flight per source (a glob of 1,000 images is a stream). */
export class Semaphore {
  private waiters: (() => void)[] = [];
  constructor(private available: number) {}

  acquire(): Promise<void> {
    if (this.available > 0) {
      this.available--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.available++;
  }
}
