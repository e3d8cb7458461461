/**
 * Writes an execution's progress at most once per `intervalMs`: the first report at
 * once, later ones coalesced so the latest value is written when the interval ends.
 */
export class ProgressWriter {
  private pending: number | undefined;
  private written: number | undefined;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly write: (percent: number) => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  report(percent: number): void {
    if (this.closed || percent === (this.pending ?? this.written)) return;
    this.pending = percent;
    if (this.timer) return;
    const waitMs = Math.max(0, this.lastWriteAt + this.intervalMs - Date.now());
    this.timer = setTimeout(() => this.flush(), waitMs);
  }

  /** Drops what is not written yet: the terminal write sets the final progress. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private flush(): void {
    this.timer = undefined;
    const percent = this.pending;
    this.pending = undefined;
    if (percent === undefined || this.closed) return;
    this.lastWriteAt = Date.now();
    this.written = percent;
    this.write(percent).catch(this.onError);
  }
}
