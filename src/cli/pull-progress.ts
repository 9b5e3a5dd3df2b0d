/**
 * `flow pull` progress: one byte-counting bar (cli-progress) on a terminal, a line per file
 * otherwise (CI logs, pipes). Everything goes to stderr; stdout keeps the folder path alone.
 */
import cliProgress from 'cli-progress';
import type { PullEvent } from '../hub/pull.js';
import { fmtBytes as humanBytes } from '../checkpoint/inspect.js';

export class PullProgress {
  private bar: cliProgress.SingleBar | undefined;
  /** Bytes of the files finished so far, plus the current file's bytes held. */
  private finished = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly live = Boolean(process.stderr.isTTY),
  ) {}

  handle(e: PullEvent): void {
    switch (e.type) {
      case 'resolved':
        this.out.write(
          `flow: ${e.repo}@${e.revision} is commit ${e.sha}${e.offline ? ' (offline, from the store)' : ''}: ${e.files} files, ${humanBytes(e.bytes)}\n`,
        );
        if (this.live && !e.offline) {
          this.bar = new cliProgress.SingleBar(
            {
              format: '{bar} {held}/{total_h} {file}',
              stream: this.out,
              hideCursor: true,
              clearOnComplete: true,
            },
            cliProgress.Presets.shades_classic,
          );
          this.bar.start(e.bytes, 0, { held: humanBytes(0), total_h: humanBytes(e.bytes), file: '' });
        }
        break;
      case 'file-start':
        if (!this.live && e.resumeFrom > 0) {
          this.out.write(`  resuming ${e.path} at ${humanBytes(e.resumeFrom)} of ${humanBytes(e.size)}\n`);
        }
        break;
      case 'file-bytes':
        this.bar?.update(this.finished + e.held, { held: humanBytes(this.finished + e.held), file: e.path });
        break;
      case 'file-done':
        this.finished += e.size;
        this.bar?.update(this.finished, { held: humanBytes(this.finished), file: e.path });
        if (!this.live)
          this.out.write(`  ${e.fetched ? 'fetched' : 'in store'} ${e.path} (${humanBytes(e.size)})\n`);
        break;
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
