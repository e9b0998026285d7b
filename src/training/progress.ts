/** The progress line a training run prints: step, loss, learning rate, tokens/s and ETA. */

export interface StepInfo {
  /** Optimizer steps done (1 after the first update). */
  step: number;
  totalSteps: number;
  epoch: number;
  /** Mean training loss of this step's batch (nats/token). */
  loss: number;
  /** The learning rate this step used. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Trained tokens per second over this run so far (resumed steps not counted). */
  tokensPerSecond: number;
  /** Estimated seconds to the last step. */
  etaSeconds: number;
  /** Held-out loss, on the steps where it was computed. */
  valLoss?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function formatStep(info: StepInfo): string {
  const width = String(info.totalSteps).length;
  const parts = [
    `step ${String(info.step).padStart(width)}/${info.totalSteps}`,
    `epoch ${info.epoch + 1}`,
    `loss ${info.loss.toFixed(4)}`,
    `lr ${info.lr.toExponential(2)}`,
    `|g| ${info.gradNorm.toFixed(2)}`,
    `${Math.round(info.tokensPerSecond)} tok/s`,
    `ETA ${formatDuration(info.etaSeconds)}`,
  ];
  if (info.valLoss !== undefined) parts.push(`val ${info.valLoss.toFixed(4)}`);
  return parts.join(' | ');
}

/** A bar for terminals: `[#####-----] 50%`. */
export function progressBar(done: number, total: number, width = 20): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}%`;
}
