/**
 * The optimizer's settings a run trains with (the schedule, Adam's constants, decay and clipping),
 * kept in each checkpoint's trainer state. Unlike the fingerprint, a change is allowed on resume
 * (a longer run, a lower rate), but never silently: the trainer names every change in its log, as the
 * steps after the checkpoint then differ from the run that wrote it.
 */

export interface TrainingSettings {
  peakLr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** null: no clipping. */
  maxGradNorm: number | null;
}

/** How each setting reads in the log, in the order given there. */
const LABELS: [keyof TrainingSettings, string][] = [
  ['peakLr', 'lr'], ['minLr', 'minLr'], ['warmupSteps', 'warmupSteps'], ['totalSteps', 'steps in all'],
  ['beta1', 'beta1'], ['beta2', 'beta2'], ['epsilon', 'epsilon'], ['weightDecay', 'weightDecay'], ['maxGradNorm', 'maxGradNorm'],
];

/**
 * Each setting that differs between a checkpoint's (`saved`, as its JSON holds it) and this run's,
 * worded `lr 0.01 -> 0.005`; [] where they match or the checkpoint predates them (it holds none).
 */
export function settingsChanges(saved: unknown, run: TrainingSettings): string[] {
  if (saved == null || typeof saved !== 'object') return [];
  const s = saved as Record<string, unknown>;
  return LABELS.filter(([key]) => s[key] !== run[key])
    .map(([key, label]) => `${label} ${JSON.stringify(s[key]) ?? 'absent'} -> ${JSON.stringify(run[key])}`);
}
