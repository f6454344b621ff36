import type { ZddEventWithTime } from '../core/events.js';
import type { Reporter } from './reporter.js';

/** `--json`: one event object per line on stdout; the last line is always a `done` event. */
export class JsonReporter implements Reporter {
  constructor(private readonly write: (line: string) => void) {}
  onEvent(e: ZddEventWithTime): void {
    this.write(`${JSON.stringify(e)}\n`);
  }
}
