/**
 * Pads token id sequences of different lengths into one rectangular batch with an attention mask
 * (1 = token, 0 = padding). Batched generation pads on the left, so that every row's last real token
 * sits in the last column and new tokens follow it directly.
 */
export type PaddingSide = 'left' | 'right';

/** `value` as a padding side; where it is not one, an error naming `what` (a silent 'right' would misplace a batch's prompts). */
export function checkPaddingSide(what: string, value: unknown): PaddingSide {
  if (value === 'left' || value === 'right') return value;
  throw new Error(`${what} must be 'left' or 'right', got ${JSON.stringify(value)}`);
}

export interface PaddedBatch {
  inputIds: number[][];
  attentionMask: number[][];
}

export function padBatch(sequences: readonly (readonly number[])[], padTokenId: number, side: PaddingSide): PaddedBatch {
  const length = Math.max(0, ...sequences.map((ids) => ids.length));
  const inputIds: number[][] = [];
  const attentionMask: number[][] = [];
  for (const ids of sequences) {
    const pad = new Array<number>(length - ids.length).fill(padTokenId);
    const ones = new Array<number>(ids.length).fill(1);
    const zeros = new Array<number>(pad.length).fill(0);
    inputIds.push(side === 'left' ? [...pad, ...ids] : [...ids, ...pad]);
    attentionMask.push(side === 'left' ? [...zeros, ...ones] : [...ones, ...zeros]);
  }
  return { inputIds, attentionMask };
}
