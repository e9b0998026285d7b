/** Learning-rate schedules: linear warmup from 0 to the peak, then cosine decay to `minLr` (HF's get_cosine_schedule_with_warmup). */
import { normalizeOptions, type OptionTable, type SnakeCaseOnly } from '../options/normalize_options.js';

export interface WarmupCosineOptions {
  peakLr: number;
  warmupSteps: number;
  totalSteps: number;
  /** The floor the cosine decays to; 0 as in HF. */
  minLr?: number;
}

/** The learning rate for optimizer step `step` (0-based: the first update uses step 0). */
const WARMUP_COSINE_OPTIONS: OptionTable<WarmupCosineOptions> = { peakLr: true, warmupSteps: true, totalSteps: true, minLr: true };

export function warmupCosineLr(step: number, options: WarmupCosineOptions | SnakeCaseOnly<WarmupCosineOptions>): number {
  const { peakLr, warmupSteps, totalSteps, minLr = 0 } = normalizeOptions<WarmupCosineOptions>(options, WARMUP_COSINE_OPTIONS, 'warmupCosineLr');
  if (step < warmupSteps) return (peakLr * step) / warmupSteps;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / decaySteps);
  return minLr + (peakLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
