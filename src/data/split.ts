/** The held-out split: the last fraction of the records (2% by default), so it never depends on a seed. */

export const DEFAULT_HELD_OUT_FRACTION = 0.02;

export interface CorpusSplit {
  train: string[];
  heldOut: string[];
}

export function splitHeldOut(records: readonly string[], fraction = DEFAULT_HELD_OUT_FRACTION): CorpusSplit {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`held-out fraction must be in [0, 1), got ${fraction}`);
  const count = fraction === 0 ? 0 : Math.max(1, Math.ceil(records.length * fraction));
  if (count >= records.length) {
    throw new Error(`the corpus has ${records.length} record(s): too few to hold out ${count} and train on the rest`);
  }
  return { train: records.slice(0, records.length - count), heldOut: records.slice(records.length - count) };
}
