import type { ChalkInstance } from 'chalk';
import type { Ora } from 'ora';
import type { ZddEventWithTime } from '../core/events.js';
import { formatDuration } from '../core/plan.js';
import type { Reporter } from './reporter.js';
import { weightBar } from './reporter.js';

/** For a person at a terminal: a spinner per step, colour, a weight bar, time left in a bake. */
export class TtyReporter implements Reporter {
  private spinner: Ora | null = null;
  private stepLabel = '';
  private weights = '';
  /** Last verdict printed per check: a bake prints a line when a verdict changes, not every interval. */
  private printedVerdicts = new Map<string, string>();
  private lastCheck = '';

  constructor(
    private readonly chalk: ChalkInstance,
    private readonly makeSpinner: (text: string) => Ora,
    private readonly write: (text: string) => void,
  ) {}

  onEvent(e: ZddEventWithTime): void {
    const c = this.chalk;
    switch (e.type) {
      case 'deploy.start':
        if (e.kind === 'restore') {
          this.line(`${c.bold(`Rolling back ${e.service}`)}: ${e.stable?.id ?? '(nothing)'} ${c.dim('→')} ${c.cyan(e.candidate.id)} ${c.dim(`${e.steps.length} steps`)}`);
          break;
        }
        this.line(`${c.bold(`Deploying ${e.service}`)}: ${e.stable?.id ?? '(nothing)'} ${c.dim('→')} ${c.cyan(e.candidate.id)} ${c.dim(`with ${e.strategy}, ${e.steps.length} steps`)}`);
        break;
      case 'step.start':
        this.printedVerdicts.clear();
        this.lastCheck = '';
        this.stepLabel = `${e.phase === 'rollback' ? c.yellow('rollback ') : ''}[${e.index + 1}/${e.total}] ${e.description}`;
        this.spin(this.stepLabel);
        break;
      case 'step.done':
        this.spinner?.succeed(`${this.stepLabel} ${c.dim(formatDuration(e.durationMs))}${this.weightsSuffix(e.step.kind === 'shiftTraffic')}`);
        this.spinner = null;
        break;
      case 'traffic': {
        this.weights = `stable ${e.weights.stable}% ${weightBar(e.weights.stable)} candidate ${e.weights.candidate}%`;
        break;
      }
      case 'bake.progress':
        if (this.spinner) {
          const checks = this.lastCheck ? `  ${this.lastCheck}` : '';
          this.spinner.text = `${this.stepLabel} ${c.dim(`— ${formatDuration(Math.ceil(e.remainingMs / 1000) * 1000)} left`)}${this.weightsSuffix(true)}${checks}`;
        }
        break;
      case 'paused':
        if (this.spinner) this.spinner.text = `${this.stepLabel} ${c.yellow('paused')} ${c.dim(e.message)}`;
        break;
      case 'check': {
        const r = e.result;
        const mark = r.error ? c.red('!') : r.verdict === 'pass' ? c.green('✓') : r.verdict === 'fail' ? c.red('✗') : c.yellow('?');
        const key = `${r.gate ?? ''}/${r.check}`;
        this.lastCheck = `${mark} ${r.check}`;
        if (this.printedVerdicts.get(key) !== r.verdict || r.verdict === 'fail') {
          this.printedVerdicts.set(key, r.verdict);
          this.above(`    ${mark} ${r.check} ${c.dim(r.message)}`);
        }
        break;
      }
      case 'hook':
        if (e.status === 'failed') this.above(`    ${c.red('✗')} hook ${e.hook}: ${e.message ?? ''}`);
        break;
      case 'rollback.start':
        this.spinner?.fail();
        this.spinner = null;
        this.line(c.yellow.bold(`Rolling back: ${e.reason}`));
        break;
      case 'rollback.done':
        this.line(e.ok ? c.green(`Rollback done: ${e.message}`) : c.red.bold(`ROLLBACK FAILED: ${e.message}`));
        break;
      case 'info':
        this.above(c.dim(e.message));
        break;
      case 'warn':
        this.above(c.yellow(`warning: ${e.message}`));
        break;
      case 'done': {
        if (this.spinner) {
          if (e.exitCode === 0) this.spinner.stop();
          else this.spinner.fail();
          this.spinner = null;
        }
        const color = e.exitCode === 0 ? c.green : e.exitCode === 1 || e.exitCode === 130 ? c.yellow : c.red;
        this.line(color.bold(e.message));
        if (e.hint) this.line(c.dim(`hint: ${e.hint}`));
        break;
      }
    }
  }

  close(): void {
    this.spinner?.stop();
    this.spinner = null;
  }

  private weightsSuffix(show: boolean): string {
    return show && this.weights ? `  ${this.chalk.dim(this.weights)}` : '';
  }

  private spin(text: string): void {
    this.spinner?.stop();
    this.spinner = this.makeSpinner(text).start();
  }

  /** Print a line without breaking the spinner. */
  private above(text: string): void {
    if (this.spinner) {
      this.spinner.clear();
      this.write(`${text}\n`);
      this.spinner.render();
    } else this.write(`${text}\n`);
  }

  private line(text: string): void {
    this.above(text);
  }
}
